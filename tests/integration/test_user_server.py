"""The per-user warm server (`shieldops-ansible warm-server`): CLI commands find it and use it instead of starting
their own server; it is found only in a private folder of ours, only for the same code, and obeys only us."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shieldops_ansible.engines.processes import descendants
from shieldops_ansible.engines.warm import WarmServer, user_server
from shieldops_ansible.errors import BackendUnavailable
from shieldops_ansible.providers.kubernetes.sandbox import KubernetesSandboxBackend
from shieldops_ansible.sandbox import manager
from tests.fault_proxy import FaultProxy
from tests.support import run_as_nobody

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "shieldops-ansible")
CHECKOUT = "deployment/shop/checkout"


@pytest.fixture(scope="module")
def kube_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("kube-sandbox")
    config = manager.up(directory, backends=[KubernetesSandboxBackend()])
    try:
        yield config
    finally:
        manager.down(directory, backends=[KubernetesSandboxBackend()])


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR of this test (for us and the CLI processes), and every server in it stopped after.
    Short, under /tmp: a socket's path has at most 107 bytes, which pytest's own folders can exceed."""
    runtime = Path(tempfile.mkdtemp(prefix="xdg-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    try:
        yield runtime
    finally:
        for path in (runtime / "shieldops-ansible").glob("warm-*.sock"):
            user_server.send_control(path, "stop")
        shutil.rmtree(runtime, ignore_errors=True)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def served() -> int:
    answer = user_server.ping(user_server.user_socket_path())
    assert answer is not None
    return int(answer["served"])


def test_cli_commands_use_the_running_server(runtime_dir: Path, kube_config: Path) -> None:
    started = cli("warm-server", "start", "--idle-timeout", "120")
    assert "started: pid" in started.stdout
    assert "already running" in cli("warm-server", "start").stdout
    status = json.loads(cli("warm-server", "status").stdout)
    assert status["running"] and status["detached"] and status["served"] == 0
    assert Path(status["socket"]).parent == runtime_dir / "shieldops-ansible"
    for _ in range(2):
        asked = cli("health", "--env", "kubernetes", "--config", str(kube_config), CHECKOUT, "--json")
        health = json.loads(asked.stdout)
        assert health["resource_id"] == CHECKOUT and health["status"] == "unhealthy"
    # Each command was relayed (one connection) and its request ran there too (another): neither command ran the
    # facade itself or started a server of its own.
    assert served() == 4
    listed = cli("list", "--env", "kubernetes", "--config", str(kube_config), "service", "--json")
    assert CHECKOUT in {r["id"] for r in json.loads(listed.stdout)}
    assert served() == 6
    missing = cli("health", "--env", "kubernetes", "--config", str(kube_config), "deployment/shop/nope", check=False)
    assert missing.returncode == 1 and "error: ResourceNotFound: no Deployment deployment/shop/nope" in missing.stderr
    assert "stopped: " in cli("warm-server", "stop").stdout
    assert cli("warm-server", "status", check=False).returncode == 1
    assert not user_server.user_socket_path().exists()
    # Without it, the command starts its own server and answers the same.
    alone = json.loads(cli("health", "--env", "kubernetes", "--config", str(kube_config), CHECKOUT, "--json").stdout)
    assert {**alone, "observed_at": None} == {**health, "observed_at": None}


def test_a_relayed_command_runs_in_the_commands_folder_with_its_policy(
    runtime_dir: Path, kube_config: Path, tmp_path: Path
) -> None:
    """The relayed facade works in the command's own folder (a relative --config), applies the environment's
    policy and audit as ever, and asks the command's user for an approval (here no terminal: refused)."""
    user_server.start_user_server(idle_timeout_s=120)
    doc = yaml.safe_load(kube_config.read_text())
    doc["audit_log"] = str(tmp_path / "audit.jsonl")
    doc["environments"]["kubernetes"]["policy"] = {"require_approval": ["scale"]}
    (tmp_path / "here.yaml").write_text(yaml.safe_dump(doc))
    scale = ["act", "scale", "deployment/shop/web", "--param", "replicas=4", "--env", "kubernetes"]
    refused = subprocess.run(
        [CLI, *scale, "--config", "here.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 1, refused.stderr
    assert "scale on deployment/shop/web needs approval and no terminal can ask" in refused.stderr
    assert "PolicyDenied" in refused.stderr
    health = subprocess.run(
        [CLI, "health", "--env", "kubernetes", "deployment/shop/web", "--json", "--config", "here.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert health.returncode == 0 and json.loads(health.stdout)["resource_id"] == "deployment/shop/web"
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    outcomes = [(r["operation"], r["outcome"]) for r in records]
    assert outcomes == [("execute_action", "denied"), ("get_health", "succeeded")]
    assert served() == 3  # two relayed commands, one request (the refused action ran none)


def test_ctrl_c_on_a_relayed_command_ends_its_child_and_run(
    runtime_dir: Path, kube_config: Path, tmp_path: Path
) -> None:
    """The command is interrupted while its action's write hangs: the relayed facade child and its request's run
    in the server end too (nothing keeps acting for a user who gave up), and the server serves the next one."""
    info = user_server.start_user_server(idle_timeout_s=120)
    with FaultProxy.kubernetes(kube_config.parent / "kubernetes") as proxy:
        doc = yaml.safe_load(kube_config.read_text())
        doc["environments"]["proxied"] = {**doc["environments"]["kubernetes"], "server": proxy.url}
        config = tmp_path / "proxied.yaml"
        config.write_text(yaml.safe_dump(doc))
        proxy.fault = "hang"
        command = [CLI, "act", "scale", "deployment/shop/web", "--param", "replicas=5", "--env", "proxied"]
        cli_process = subprocess.Popen(
            [*command, "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # A suite started in the background by a shell without job control (`make test &`) ignores SIGINT,
            # and so would this command's Python, inheriting it: as at a terminal, Ctrl-C must reach it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        _wait_for(lambda: proxy.writes >= 1 or cli_process.poll() is not None, timeout_s=120)
        assert proxy.writes >= 1, cli_process.stderr.read() if cli_process.stderr else ""
        working = descendants(info["pid"])
        assert len(working) >= 2  # the relayed child, and the request's child under the server
        assert not descendants(cli_process.pid)  # nothing of the command's own: it only relays
        cli_process.send_signal(signal.SIGINT)
        assert cli_process.wait(timeout=60) == 130
        _wait_for(lambda: not [pid for pid in working if _running(pid)], timeout_s=60)
        proxy.fault = None
    answer = user_server.ping(user_server.user_socket_path())
    assert answer is not None and answer["pid"] == info["pid"] and answer["requests_running"] == 0
    health = cli("health", "--env", "kubernetes", "--config", str(kube_config), "deployment/shop/web", "--json")
    assert json.loads(health.stdout)["resource_id"] == "deployment/shop/web"


def test_only_the_six_operations_are_relayed_and_only_by_a_detached_server(runtime_dir: Path, tmp_path: Path) -> None:
    user_server.start_user_server(idle_timeout_s=120)
    path = user_server.user_socket_path()
    marker = tmp_path / "sandbox-made-by-the-server"
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(path))
        answers = conn.makefile("rb")
        conn.sendall(b'{"cli": true}\n')
        assert json.loads(answers.readline())["event"] == "shieldops_hello"
        argv = ["sandbox", "up", "--dir", str(marker)]
        conn.sendall(json.dumps({"argv": argv, "cwd": "/", "env": {}}).encode() + b"\n")
        events = [json.loads(line) for line in answers]
    assert events[-1] == {"event": "cli_exit", "rc": 2}
    assert "only the six operations" in events[0]["text"]
    assert not marker.exists()
    own = WarmServer()
    try:
        own.start()
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(own.socket_path))
            conn.sendall(b'{"cli": true}\n')
            answer = json.loads(conn.makefile("rb").readline())
        assert answer["event"] == "shieldops_refused" and "runs no commands" in answer["reason"]
    finally:
        own.stop()


def test_a_killed_server_is_not_trusted_and_start_replaces_it(runtime_dir: Path, kube_config: Path) -> None:
    first = user_server.start_user_server(idle_timeout_s=120)
    os.kill(first["pid"], 9)  # we started it
    _wait_for(lambda: user_server.ping(user_server.user_socket_path()) is None)
    assert user_server.user_socket_path().exists()  # its socket stays behind
    # A command does what it would do without a server: start its own, and answer.
    health = cli("health", "--env", "kubernetes", "--config", str(kube_config), CHECKOUT, "--json")
    assert json.loads(health.stdout)["resource_id"] == CHECKOUT
    second = user_server.start_user_server(idle_timeout_s=120)
    assert not second["already_running"] and second["pid"] != first["pid"]
    assert served() == 0


def test_the_servers_runs_keep_their_temporary_files_in_its_private_folder(
    runtime_dir: Path, kube_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ansible's local temp (module payloads, each process's folder) is the server's own 0700 folder beside its
    socket, not ~/.ansible/tmp: removed when the server stops, and what a killed server left at the next start."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    info = user_server.start_user_server(idle_timeout_s=120)
    local_tmp = user_server.local_tmp_path(user_server.user_socket_path())
    assert stat.S_IMODE(local_tmp.stat().st_mode) == 0o700
    health = cli("health", "--env", "kubernetes", "--config", str(kube_config), CHECKOUT, "--json")
    assert json.loads(health.stdout)["resource_id"] == CHECKOUT
    assert any(local_tmp.iterdir())  # the server's own ansible-local-* folder
    assert not list(home.glob(".ansible/tmp/ansible-local-*"))  # (~/.ansible/tmp is the local connection's)
    os.kill(info["pid"], 9)  # we started it
    _wait_for(lambda: user_server.ping(user_server.user_socket_path()) is None)
    (local_tmp / "left-by-the-killed-server").write_text("x")
    user_server.start_user_server(idle_timeout_s=120)
    assert not (local_tmp / "left-by-the-killed-server").exists()
    assert "stopped: " in cli("warm-server", "stop").stdout
    _wait_for(lambda: not local_tmp.exists())


def test_an_idle_server_exits_and_removes_its_socket(runtime_dir: Path) -> None:
    info = user_server.start_user_server(idle_timeout_s=1)
    path = user_server.user_socket_path()
    _wait_for(lambda: not path.exists())
    assert user_server.ping(path) is None
    _wait_for(lambda: not Path(f"/proc/{info['pid']}").exists() or _zombie(info["pid"]))


@pytest.mark.parametrize("mode", [0o755, 0o711, 0o770], ids=oct)
def test_a_folder_others_can_enter_is_refused(runtime_dir: Path, kube_config: Path, mode: int) -> None:
    folder = runtime_dir / "shieldops-ansible"
    folder.mkdir(mode=0o700)
    folder.chmod(mode)
    with pytest.raises(BackendUnavailable, match="not a private directory"):
        user_server.user_socket_path()
    refused = cli("warm-server", "start", check=False)
    assert refused.returncode == 1 and "not a private directory" in refused.stderr
    assert not list(folder.iterdir())
    # Commands do not use a server there, and work without one.
    assert user_server.UserServer.find() is None
    health = cli("health", "--env", "kubernetes", "--config", str(kube_config), CHECKOUT, "--json")
    assert json.loads(health.stdout)["resource_id"] == CHECKOUT


def test_a_link_in_place_of_the_folder_is_refused(runtime_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (runtime_dir / "shieldops-ansible").symlink_to(elsewhere)
    with pytest.raises(BackendUnavailable, match="not a private directory"):
        user_server.start_user_server()
    assert not list(elsewhere.iterdir())


def test_a_runtime_dir_that_is_not_ours_falls_back_to_a_folder_of_our_uid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-run"
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert user_server.user_server_dir() == Path("/tmp") / f"shieldops-ansible-{os.getuid()}"


def test_a_socket_path_too_long_for_the_kernel_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    deep.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    with pytest.raises(BackendUnavailable, match="longer than a Unix socket's path"):
        user_server.start_user_server()


def test_the_socket_name_changes_with_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command never talks to a server running other code (an upgrade, an edited role)."""
    project = tmp_path / "project"
    role = project / "collections" / "ansible_collections" / "shieldops" / "connectors" / "roles" / "operation"
    role.mkdir(parents=True)
    (project / "playbooks").mkdir()
    (role / "main.yml").write_text("---\n")
    monkeypatch.setenv("SHIELDOPS_PROJECT_DIR", str(project))
    before = user_server.installation_fingerprint()
    assert user_server.installation_fingerprint() == before
    later = time.time() + 5
    cache = role / "__pycache__"
    cache.mkdir()
    (cache / "x.pyc").write_bytes(b"")
    os.utime(role, (later, later))  # what Python's first import does to a fresh checkout's folders
    assert user_server.installation_fingerprint() == before
    edited = role / "main.yml"
    edited.write_text("--- # edited\n")
    later = time.time() + 5
    os.utime(edited, (later, later))
    assert user_server.installation_fingerprint() != before


def test_the_socket_name_changes_with_the_base_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server's runs get the base environment of whoever started it: a shell with another CA bundle, PATH or
    locale must not use it."""
    before = user_server.installation_fingerprint()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else/ca.pem")
    changed = user_server.installation_fingerprint()
    assert changed != before
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-in-the-base-environment")  # a credential travels per request
    assert user_server.installation_fingerprint() == changed


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
def test_another_uid_can_neither_stop_nor_ask(runtime_dir: Path) -> None:
    """Past the folder's and the socket's modes (opened up here on purpose), the server refuses another uid's
    control commands, and our client would not talk to a server of another uid either."""
    info = user_server.start_user_server(idle_timeout_s=120)
    path = user_server.user_socket_path()
    runtime_dir.chmod(0o711)
    path.parent.chmod(0o711)
    path.chmod(0o666)
    client = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "s.sendall(b'{\"control\": \"stop\"}\\n'); print(s.makefile('rb').readline().decode().strip())\n"
    )
    try:
        out = run_as_nobody(client, str(path))
    finally:
        path.parent.chmod(0o700)
        runtime_dir.chmod(0o700)
    answer = json.loads(out)
    assert answer["event"] == "shieldops_refused" and "only its owner" in answer["reason"]
    still = user_server.ping(path)
    assert still is not None and still["pid"] == info["pid"]


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _wait_for(condition: object, timeout_s: float = 30.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.1)
