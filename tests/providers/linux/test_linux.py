"""The Linux provider through the real path: facade -> runner engine -> playbook -> linux role -> ssh (through a
real ssh-agent, strict host keys) -> sshd hosts in network namespaces and on loopback -> supervisord."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import (
    Action,
    AuthenticationError,
    BackendUnavailable,
    InfraConnector,
    ResourceNotFound,
    ShieldOpsError,
    TimeRange,
    connect,
)
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.processes import descendants
from shieldops_ansible.sandbox import manager
from shieldops_ansible.snapshots import signing
from tests.support import Sandbox, rollback_in_new_process, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
async def linux(sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect("linux", config=sandbox.config) as conn:
        yield conn


def _netns_of(sandbox: Sandbox, host: str) -> tuple[str, str]:
    state = json.loads((sandbox.directory / "sandbox.json").read_text())
    index = ["web-1", "web-2", "local-1"].index(host)
    ns = state["network"]["netns"][index]
    return ns, state["network"]["links"][index]


async def test_list_hosts_and_services_with_filters(linux: InfraConnector) -> None:
    hosts = await linux.list_resources("instance", {})
    assert {h.id: h.state for h in hosts} == {
        "host/web-1": "running",
        "host/web-2": "running",
        "host/local-1": "running",
    }
    web1 = next(h for h in hosts if h.name == "web-1")
    assert web1.tags["web"] == "true" and web1.raw["hostname"] == "web-1"  # its own UTS namespace
    assert [h.name for h in await linux.list_resources("host", {"tags": {"tools": "true"}})] == ["local-1"]
    services = await linux.list_resources("service", {})
    assert {s.id: s.raw["manager"] for s in services} == {
        "service/web-1/web": "supervisor",
        "service/web-2/worker": "supervisor",
    }
    assert [s.id for s in await linux.list_resources("service", {"state": "failed"})] == ["service/web-2/worker"]
    assert [s.id for s in await linux.list_resources("service", {"host": "web-1"})] == ["service/web-1/web"]


async def test_health_of_hosts_and_services(linux: InfraConnector) -> None:
    web1 = await linux.get_health("host/web-1")
    assert web1.status == "healthy", web1.checks
    assert {"reachable", "load", "memory", "disk", "services"} <= {c.name for c in web1.checks}
    assert web1.metrics["failed_services"] == 0 and "load_per_core" in web1.metrics
    web2 = await linux.get_health("host/web-2")
    assert web2.status == "unhealthy" and "worker" in next(c.message for c in web2.checks if c.name == "services")
    assert (await linux.get_health("service/web-1/web")).status == "healthy"
    worker = await linux.get_health("service/web-2/worker")
    assert worker.status == "unhealthy" and "fatal" in worker.checks[0].message
    with pytest.raises(ResourceNotFound):
        await linux.get_health("host/nope")
    with pytest.raises(ResourceNotFound):
        await linux.get_health("service/web-1/nope")


async def test_service_actions(linux: InfraConnector, sandbox: Sandbox) -> None:
    dry = await linux.execute_action(Action(type="stop", resource_id="service/web-1/web", dry_run=True))
    assert dry.status == "dry_run" and dry.changed and sandbox.supervisor_status("web-1")["web"] == "RUNNING"
    stop = await linux.execute_action(Action(type="stop", resource_id="service/web-1/web"))
    assert stop.success and stop.snapshot_id and sandbox.supervisor_status("web-1")["web"] == "STOPPED"
    start = await linux.execute_action(Action(type="start", resource_id="service/web-1/web"))
    assert start.success and sandbox.supervisor_status("web-1")["web"] == "RUNNING"
    before = (await linux.list_resources("service", {"host": "web-1"}))[0].raw["pid"]
    restart = await linux.execute_action(Action(type="restart", resource_id="service/web-1/web"))
    assert restart.success and restart.diff["after"]["pid"] != before  # type: ignore[index]
    # An action that runs and fails is a failed result with supervisord's own words.
    failed = await linux.execute_action(Action(type="start", resource_id="service/web-2/worker"))
    assert failed.status == "failed" and not failed.success and "spawn error" in failed.message


async def test_config_change_rolled_back_byte_for_byte(linux: InfraConnector, sandbox: Sandbox) -> None:
    config = sandbox.linux_dir / "web-1" / "etc" / "web.conf"
    original = config.read_bytes()
    snapshot = await linux.create_snapshot("service/web-1/web")
    files = {f["path"]: f for f in snapshot.handles["files"]}
    stored = Path(files[str(config)]["stored"])
    assert files[str(config)]["checksum"] and stored.read_bytes() == original
    # The copy may hold a password: readable by the state directory's owner only.
    assert stored.stat().st_mode & 0o777 == 0o600 and stored.parent.stat().st_mode & 0o777 == 0o700
    assert "content" not in files[str(config)]
    config.write_bytes(original + b"workers = 64\n\x00binary tail\n")
    os.chmod(config, 0o600)
    await linux.execute_action(Action(type="stop", resource_id="service/web-1/web"))
    # Rollback from a second process.
    result = rollback_in_new_process(sandbox, "linux", snapshot.id)
    assert result["success"] and f"file {config}" in result["restored"]
    assert config.read_bytes() == original
    assert oct(config.stat().st_mode & 0o777) == "0o644"
    assert sandbox.supervisor_status("web-1")["web"] == "RUNNING"


async def test_a_tampered_copy_fails_rollback_before_the_host_is_touched(
    linux: InfraConnector, sandbox: Sandbox
) -> None:
    config = sandbox.linux_dir / "web-2" / "etc" / "worker.conf"
    snapshot = await linux.create_snapshot("host/web-2")
    stored = next(Path(f["stored"]) for f in snapshot.handles["files"] if f["path"] == str(config))
    stored.write_bytes(b"not what was captured\n")
    changed = config.read_bytes() + b"# changed after the snapshot\n"
    config.write_bytes(changed)
    with pytest.raises(ShieldOpsError, match="does not match the snapshot's checksum"):
        await linux.rollback(snapshot.id)
    assert config.read_bytes() == changed


async def test_a_document_pointing_outside_its_snapshot_fails_rollback(
    linux: InfraConnector, sandbox: Sandbox, tmp_path: Path
) -> None:
    """An edited snapshot document must not make rollback ship another controller file to the host, even with a
    checksum that matches it, and even signed with the installation's key (a document that fails its signature
    is refused earlier: tests/integration/test_snapshot_integrity.py)."""
    config = sandbox.linux_dir / "web-2" / "etc" / "worker.conf"
    snapshot = await linux.create_snapshot("host/web-2")
    elsewhere = tmp_path / "controller-only.txt"
    elsewhere.write_bytes(b"a file of the controller\n")
    document_path = sandbox.state_dir / "snapshots" / f"{snapshot.id}.json"
    document = json.loads(document_path.read_text())
    for handle in document["handles"]["files"]:
        if handle["path"] == str(config):
            handle["stored"] = str(elsewhere)
            handle["checksum"] = hashlib.sha256(elsewhere.read_bytes()).hexdigest()
    key = signing().load_key(str(load_config(sandbox.config).snapshot_key_file))
    document_path.write_text(json.dumps(signing().sign(document, key)))
    before = config.read_bytes()
    with pytest.raises(ShieldOpsError, match="is not in the snapshot's folder"):
        await linux.rollback(snapshot.id)
    assert config.read_bytes() == before


async def test_host_snapshot_and_simulated_reboot(linux: InfraConnector, sandbox: Sandbox) -> None:
    """ansible.builtin.reboot's own default path: it finds shutdown on the host (the sandbox's stand-in, in the
    host's mount namespace), runs it and waits for /proc/sys/kernel/random/boot_id (the host's file) to change."""
    machine_boot_id = Path("/proc/sys/kernel/random/boot_id").read_text()
    boot_id = sandbox.linux_dir / "web-1" / "boot_id"
    calls = sandbox.linux_dir / "web-1" / "shutdown_calls.jsonl"
    first, recorded, web_pid = (
        boot_id.read_text(),
        len(calls.read_text().splitlines()),
        sandbox.supervisor_pid("web-1", "web"),
    )
    dry = await linux.execute_action(Action(type="restart", resource_id="host/web-1", dry_run=True))
    assert dry.status == "dry_run" and boot_id.read_text() == first
    assert len(calls.read_text().splitlines()) == recorded
    result = await linux.execute_action(Action(type="restart", resource_id="host/web-1", reason="test"))
    assert result.success and result.snapshot_id and boot_id.read_text() != first
    search = ("/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin")  # the plugin's, in its order
    shutdown = next((f"{d}/shutdown" for d in search if Path(d, "shutdown").exists()), f"{search[-1]}/shutdown")
    argv = [json.loads(line)["argv"] for line in calls.read_text().splitlines()[recorded:]]
    assert argv == [[shutdown, "-r", "0", "Reboot requested through shieldops-ansible"]]
    # The programs came back, restarted, before the new boot id appeared.
    assert sandbox.supervisor_status("web-1")["web"] == "RUNNING" and sandbox.supervisor_pid("web-1", "web") != web_pid
    # The hosts' mounts stay in their own namespaces: this machine keeps its boot id and its own shutdown.
    assert Path("/proc/sys/kernel/random/boot_id").read_text() == machine_boot_id
    assert str(sandbox.linux_dir) not in Path("/proc/self/mountinfo").read_text()
    snap = json.loads((sandbox.state_dir / "snapshots" / f"{result.snapshot_id}.json").read_text())
    assert snap["kind"] == "linux_host" and snap["handles"]["packages"]  # the package list of the host
    assert any(f["path"].endswith("etc/web.conf") for f in snap["handles"]["files"])


async def test_events_from_supervisord(linux: InfraConnector) -> None:
    events = await linux.get_events("service/web-2/worker", TimeRange.last(minutes=30))
    assert events and all(e.source == "supervisor" and "worker" in e.message for e in events)
    assert any(e.severity == "error" and "FATAL" in e.message for e in events)
    host_events = await linux.get_events("host/web-2", TimeRange.last(minutes=30))
    assert len(host_events) >= len(events)


async def test_wrong_key_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sock = tmp_path / "other.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, check=True)
        doc = yaml.safe_load(sandbox.config.read_text())
        doc["environments"]["linux"]["ssh_auth_sock"] = str(sock)
        variant = tmp_path / "variant.yaml"
        variant.write_text(yaml.safe_dump(doc))
        async with connect("linux", config=variant) as conn:
            health = await conn.get_health("host/web-1")
            assert health.status == "unhealthy" and "Permission denied" in health.checks[0].message
            with pytest.raises(AuthenticationError, match="Permission denied"):
                await conn.execute_action(Action(type="stop", resource_id="service/web-1/web"))
    finally:
        agent.terminate()
        agent.wait(10)
    assert sandbox.supervisor_status("web-1")["web"] == "RUNNING"


async def test_host_made_unreachable_mid_run(sandbox: Sandbox) -> None:
    ns, _link = _netns_of(sandbox, "web-2")
    inner = f"{_link[:-1]}n"
    cut = asyncio.Event()

    def on_event(event: Mapping[str, Any]) -> None:
        # Cut web-2 off once the run has started asking hosts: the run must carry on for the others.
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and not cut.is_set():
            cut.set()
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", inner, "down"], check=True)
        del data

    try:
        async with connect("linux", config=sandbox.config, on_event=on_event) as conn:
            hosts = {h.name: h for h in await conn.list_resources("instance", {})}
        assert cut.is_set()
        assert hosts["web-1"].state == "running" and hosts["local-1"].state == "running"
        assert hosts["web-2"].state == "unknown" and hosts["web-2"].raw["unreachable"]
        async with connect("linux", config=sandbox.config) as conn:
            health = await conn.get_health("host/web-2")
            assert health.status == "unhealthy" and health.checks[0].name == "reachable"
            with pytest.raises(BackendUnavailable, match="unreachable"):
                await conn.create_snapshot("service/web-2/worker")
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", inner, "up"], check=True)


async def test_sandbox_down_ends_every_process_in_its_namespaces(tmp_path: Path) -> None:
    """sshd runs each session (a persistent control connection's too) outside the process group of the sshd the
    sandbox started; they must not outlive the sandbox, in its namespaces or on loopback (local-1)."""
    box = start_sandbox(tmp_path / "own")
    try:
        async with connect("linux", config=box.config) as conn:
            # Reached (the control connections these open are what the test is about); the overall status also
            # weighs the machine's load, which a parallel test run can push to degraded.
            for host in ("host/web-1", "host/local-1"):  # local-1: sshd on loopback
                reachable = next(c for c in (await conn.get_health(host)).checks if c.name == "reachable")
                assert reachable.status == "healthy", reachable
        state = json.loads((box.directory / "sandbox.json").read_text())
        namespaces = state["network"]["netns"]
        # local-1's sshd is in no namespace of ours: its session is found under it.
        loopback_sessions = set(descendants(state["processes"]["linux/local-1/sshd"]["pid"]))
        assert loopback_sessions
        inside = {
            int(pid)
            for ns in namespaces
            for pid in subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, check=True
            ).stdout.split()
        }
        assert len(inside) > len(namespaces)  # each host's sshd, and web-1's session behind the control connection
    finally:
        manager.down(box.directory)
    for _ in range(100):
        running = [pid for pid in inside | loopback_sessions if _running(pid)]
        if not running:
            break
        await asyncio.sleep(0.05)
    assert not running


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("python_takes_the_direct_run", [True, False])
async def test_a_snapshot_reads_its_files_with_the_hosts_python(
    sandbox: Sandbox, tmp_path: Path, python_takes_the_direct_run: bool
) -> None:
    """The file capture runs the module's own code with the Python the inventory names (one process: its fixed
    command line, source and arguments on stdin), and the module as usual when that Python fails it."""
    calls = tmp_path / "calls"
    wrapper = tmp_path / "python3"
    refuse = "" if python_takes_the_direct_run else '[ "$1" = -I ] && exit 1\n'
    wrapper.write_text(f'#!/bin/sh\necho "start: $1 $2 $3" >> {calls}\n{refuse}exec /usr/bin/python3 "$@"\n')
    wrapper.chmod(0o755)
    variant = sandbox.linux_config_with(tmp_path, "web-1", ansible_python_interpreter=str(wrapper))
    async with connect("linux", config=variant) as conn:
        snapshot = await conn.create_snapshot("service/web-1/web")
    config = sandbox.linux_dir / "web-1" / "etc" / "web.conf"
    files = {f["path"]: f for f in snapshot.handles["files"]}
    assert Path(files[str(config)]["stored"]).read_bytes() == config.read_bytes()
    made = calls.read_text().splitlines()
    # The module path (pipelined) starts the Python without arguments and feeds it the AnsiballZ payload.
    assert made == ["start: -I -S -c"] + ([] if python_takes_the_direct_run else ["start:   "])
