"""The warm engine against the runner engine and against itself: same results, isolated requests, no leaks.

Everything runs the real path (engine -> playbook -> role -> upstream modules -> the sandbox's servers); the
runner engine is the reference, as AWX would run the same playbooks.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import Action, InfraConnector, TimeRange, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.base import RunRequest, RunResult
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from shieldops_ansible.engines.warm.in_worker import ALLOWED_MODULES
from shieldops_ansible.providers.azure.sandbox import SUBSCRIPTION
from tests.support import Sandbox

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


@pytest.fixture(scope="module")
def server() -> Any:
    """A warm server of this module's own (the tests kill it on purpose), allowed this suite's test playbooks."""
    own = WarmServer(extra_playbooks=[PLAYBOOKS])
    yield own
    own.stop()


def _health(h: Any) -> Any:
    return (h.resource_id, h.status, sorted((c.name, c.status) for c in h.checks), sorted(h.metrics))


def _resources(rs: list[Any]) -> Any:
    return sorted((r.id, r.type, r.native_type, r.state, r.capacity, sorted(r.tags.items())) for r in rs)


def _events(es: list[Any]) -> Any:
    return sorted((e.id, e.type, e.severity) for e in es)


def _dry_run(a: Any) -> Any:
    return (a.status, a.success, a.changed, a.diff, a.snapshot_id)


def _snapshot(s: Any, *, with_state: bool) -> Any:
    return (s.resource_id, s.kind, s.provider, sorted(s.handles), s.state if with_state else sorted(s.state))


Cases = dict[str, Callable[[InfraConnector], Awaitable[Any]]]


def _cases(sandbox: Sandbox, provider: str, window: TimeRange) -> Cases:
    if provider == "aws":
        web1, api = sandbox.aws("instance/web-1"), sandbox.aws("service/api")
        return {
            "get_health": lambda c: c.get_health(web1),
            "list_resources": lambda c: c.list_resources("instance", {}),
            "get_events": lambda c: c.get_events(web1, window),
            "execute_action": lambda c: c.execute_action(
                Action(type="scale", resource_id=api, parameters={"replicas": 3}, dry_run=True)
            ),
            "create_snapshot": lambda c: c.create_snapshot(api),
        }
    if provider == "gcp":
        web1 = "projects/shieldops-sandbox/zones/europe-west1-b/instances/web-1"
        api = "projects/shieldops-sandbox/locations/europe-west1/services/api"
        return {
            "get_health": lambda c: c.get_health(web1),
            "list_resources": lambda c: c.list_resources("service", {}),
            "get_events": lambda c: c.get_events(web1.replace("web-1", "web-2"), window),
            "execute_action": lambda c: c.execute_action(Action(type="stop", resource_id=web1, dry_run=True)),
            "create_snapshot": lambda c: c.create_snapshot(api),
        }
    if provider == "azure":
        vms = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines"
        site = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-functions/providers/Microsoft.Web/sites/thumbnailer"
        return {
            "get_health": lambda c: c.get_health(f"{vms}/web-1"),
            "list_resources": lambda c: c.list_resources("function", {}),
            "get_events": lambda c: c.get_events(f"{vms}/web-2", window),
            "execute_action": lambda c: c.execute_action(Action(type="stop", resource_id=f"{vms}/web-1", dry_run=True)),
            "create_snapshot": lambda c: c.create_snapshot(site),
        }
    if provider == "linux":
        return {
            "get_health": lambda c: c.get_health("service/web-1/web"),
            "list_resources": lambda c: c.list_resources("service", {}),
            "get_events": lambda c: c.get_events("service/web-2/worker", window),
            "execute_action": lambda c: c.execute_action(
                Action(type="restart", resource_id="service/web-1/web", dry_run=True)
            ),
            "create_snapshot": lambda c: c.create_snapshot("service/web-1/web"),
        }
    return {
        "get_health": lambda c: c.get_health("deployment/shop/checkout"),
        "list_resources": lambda c: c.list_resources("service", {}),
        "get_events": lambda c: c.get_events("deployment/shop/checkout", window),
        "execute_action": lambda c: c.execute_action(
            Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 5}, dry_run=True)
        ),
        "create_snapshot": lambda c: c.create_snapshot("deployment/shop/web"),
    }


_NORMALIZE: dict[str, Callable[[Any, str], Any]] = {
    "get_health": lambda v, _p: _health(v),
    "list_resources": lambda v, _p: _resources(v),
    "get_events": lambda v, _p: _events(v),
    "execute_action": lambda v, _p: _dry_run(v),
    "create_snapshot": lambda v, p: _snapshot(v, with_state=p != "linux"),
}


@pytest.mark.parametrize("provider", ["aws", "linux", "kubernetes", "gcp", "azure"])
async def test_both_engines_give_the_same_results(sandbox: Sandbox, server: WarmServer, provider: str) -> None:
    now = datetime.now(UTC)
    window = TimeRange(start=now - timedelta(hours=2), end=now)
    cases = _cases(sandbox, provider, window)
    async with (
        connect(provider, config=sandbox.config, engine=RunnerEngine()) as runner,
        connect(provider, config=sandbox.config, engine=WarmEngine(server)) as warm,
    ):
        snapshots = {}
        for operation, call in cases.items():
            by_runner, by_warm = await call(runner), await call(warm)
            assert _NORMALIZE[operation](by_warm, provider) == _NORMALIZE[operation](by_runner, provider), operation
            if operation == "create_snapshot":
                snapshots = {"runner": by_runner.id, "warm": by_warm.id}
        # Rollback: each engine restores the snapshot the other took (the documents are the same format).
        back_by_runner = await runner.rollback(snapshots["warm"])
        back_by_warm = await warm.rollback(snapshots["runner"])
    assert back_by_runner.success and back_by_warm.success
    assert len(back_by_runner.restored) == len(back_by_warm.restored)


async def test_both_engines_give_the_same_linux_host_reads(sandbox: Sandbox, server: WarmServer) -> None:
    """The Linux reads of hosts (issue 16 moved them from setup to one raw script), besides the service reads above."""
    now = datetime.now(UTC)
    window = TimeRange(start=now - timedelta(hours=2), end=now)
    cases: list[tuple[str, Callable[[InfraConnector], Awaitable[Any]]]] = [
        ("get_health", lambda c: c.get_health("host/web-2")),
        ("list_resources", lambda c: c.list_resources("instance", {})),
        ("get_events", lambda c: c.get_events("host/web-2", window)),
    ]
    async with (
        connect("linux", config=sandbox.config, engine=RunnerEngine()) as runner,
        connect("linux", config=sandbox.config, engine=WarmEngine(server)) as warm,
    ):
        for operation, call in cases:
            by_runner, by_warm = await call(runner), await call(warm)
            assert _NORMALIZE[operation](by_warm, "linux") == _NORMALIZE[operation](by_runner, "linux"), operation
            if operation == "list_resources":  # the hosts' identity (hostname, kernel, distribution) as well
                assert {r.id: r.raw for r in by_warm} == {r.id: r.raw for r in by_runner}
                assert all(r.raw["distribution"] and r.raw["kernel"] for r in by_warm)


async def _probe(engine: WarmEngine, **variables: Any) -> RunResult:
    check = bool(variables.pop("check_mode", False))
    timeout = float(variables.pop("timeout_s", 120))
    return await engine.run(
        RunRequest(
            operation="probe",
            variables=variables,
            check_mode=check,
            timeout_s=timeout,
            playbook=str(PLAYBOOKS / "probe.yml"),
        )
    )


async def test_check_mode_is_honoured_on_every_request(server: WarmServer, tmp_path: Path) -> None:
    engine = WarmEngine(server)
    for round_ in range(3):
        checked = tmp_path / f"checked-{round_}"
        real = tmp_path / f"real-{round_}"
        dry = await _probe(engine, probe_value=f"c{round_}", probe_file=str(checked), check_mode=True)
        assert dry.status == "successful" and dry.result and dry.result["check_mode"] is True
        assert not checked.exists()
        done = await _probe(engine, probe_value=f"r{round_}", probe_file=str(real))
        assert done.result and done.result["check_mode"] is False
        assert real.read_text() == f"r{round_}\n"


async def test_extra_vars_and_facts_never_leak_between_requests(server: WarmServer) -> None:
    engine = WarmEngine(server)
    first = await _probe(engine, probe_value="first", probe_earlier="only-in-the-first")
    assert first.result == {
        "value_seen": "first",
        "fact_seen": "first",
        "earlier_value_seen": "only-in-the-first",
        "check_mode": False,
    }
    second = await _probe(engine)
    assert second.result == {"value_seen": None, "fact_seen": None, "earlier_value_seen": None, "check_mode": False}


async def test_concurrent_requests_are_isolated(server: WarmServer) -> None:
    engine = WarmEngine(server)
    results = await asyncio.gather(*(_probe(engine, probe_value=f"v{i}") for i in range(8)))
    assert [r.result and (r.result["value_seen"], r.result["fact_seen"]) for r in results] == [
        (f"v{i}", f"v{i}") for i in range(8)
    ]


def _processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def test_a_hanging_request_is_killed_at_its_timeout_and_others_carry_on(server: WarmServer) -> None:
    engine = WarmEngine(server)
    marker = "3600.25"  # an unusual sleep, to find the run's processes by
    hanging = asyncio.create_task(_probe(engine, probe_value="hang", probe_sleep=marker, timeout_s=4))
    others = [await _probe(engine, probe_value=f"ok{i}") for i in range(3)]
    hung = await hanging
    assert hung.status == "timeout" and hung.result is None
    assert [o.result and o.result["value_seen"] for o in others] == ["ok0", "ok1", "ok2"]
    await asyncio.sleep(0.5)
    assert _processes_with(f"sleep {marker}") == []
    assert (await _probe(engine, probe_value="after")).result["value_seen"] == "after"  # type: ignore[index]


async def test_a_dead_server_is_restarted_by_the_next_request(server: WarmServer) -> None:
    engine = WarmEngine(server)
    assert (await _probe(engine, probe_value="before")).status == "successful"
    starts, pid = server.starts, server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    again = await _probe(engine, probe_value="after")
    assert again.status == "successful" and again.result and again.result["value_seen"] == "after"
    assert server.starts == starts + 1 and server.pid != pid


# A process that runs each operation in an event loop of its own (asyncio.run per call, as a synchronous wrapper
# does): the engine starts its server from a worker thread of the first loop, which ends with that loop.
_LOOP_PER_CALL = """
import asyncio, json, sys
from shieldops_ansible import connect
from shieldops_ansible.engines.warm.engine import shared_server

async def call():
    async with connect("kubernetes", config=sys.argv[1]) as conn:
        return (await conn.get_health("deployment/shop/web")).status

outcomes = []
for _ in range(5):
    try:
        outcomes.append(asyncio.run(call()))
    except Exception as exc:
        outcomes.append(type(exc).__name__ + ": " + str(exc))
print(json.dumps({"outcomes": outcomes, "starts": shared_server().starts}))
"""


async def test_the_server_outlives_the_event_loop_that_started_it(sandbox: Sandbox) -> None:
    """The server used to die with the worker thread that started it (PR_SET_PDEATHSIG is per thread): every
    other asyncio.run() of a process failed with a reset connection and started a new server."""
    import json
    import subprocess
    import sys

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _LOOP_PER_CALL, str(sandbox.config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"outcomes": ["healthy"] * 5, "starts": 1}


async def test_the_server_goes_when_its_process_is_killed(sandbox: Sandbox) -> None:
    """Without the thread-bound death signal, the server watches its parent process instead."""
    import subprocess
    import sys
    import time

    script = (
        "import asyncio, sys\n"
        "from shieldops_ansible import connect\n"
        "from shieldops_ansible.engines.warm.engine import shared_server\n"
        "async def main():\n"
        "    async with connect('kubernetes', config=sys.argv[1]) as conn:\n"
        "        await conn.get_health('deployment/shop/web')\n"
        "    print(shared_server().pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", script, str(sandbox.config)], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        server_pid = int(await asyncio.to_thread(agent.stdout.readline))
        os.kill(server_pid, 0)  # alive while its user is
    finally:
        agent.kill()
        agent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the warm server {server_pid} outlived the process that started it")


def _volatile(value: Any) -> Any:
    """Drop what differs between any two calls: timestamps, request ids, generated names, timings."""
    drop = {
        "invocation",
        "ResponseMetadata",
        "request_ids",
        "response_metadata",
        "creationTimestamp",
        "resourceVersion",
        "atime",
        "mtime",
        "ctime",
        "duration",
        "start",
        "end",
        "delta",
        "diff",
        "at",  # a Cloud Monitoring point's time: the minute may turn between the two runs
        "time",  # an Azure VM agent's status time is its last heartbeat
        "reportedTime",  # when Resource Health answered, for the current status
        "timeStamp",  # an Azure Monitor point's time: the minute may turn between the two runs
    }
    if isinstance(value, dict):
        return {k: _volatile(v) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_volatile(v) for v in value]
    return value


async def test_in_worker_execution_matches_normal_execution(
    sandbox: Sandbox, server: WarmServer, tmp_path: Path
) -> None:
    """Every allow-listed module, run inside the task worker and as a normal module process: the same results."""
    (tmp_path / "seed.txt").write_text("seed\n")
    cfg = load_config(sandbox.config)
    env: dict[str, str] = {}
    for name in ("aws", "kubernetes", "gcp"):
        environment = cfg.environment(name)
        env |= await environment.provider.credentials_env(environment.settings)
    # The GCP proxy and CA are for the GCP tasks only (kubernetes' client would send its calls to the proxy too).
    gcp_connection = {"HTTPS_PROXY": env.pop("HTTPS_PROXY"), "REQUESTS_CA_BUNDLE": env.pop("REQUESTS_CA_BUNDLE")}
    # Azure's identity and proxy settings likewise reach the Azure tasks only.
    azure = cfg.environment("azure")
    azure_connection = await azure.provider.credentials_env(azure.settings)
    subscription = f"/subscriptions/{azure_connection['AZURE_SUBSCRIPTION_ID']}/resourceGroups"
    variables = {
        "aws_endpoint": sandbox.aws_endpoint,
        "instance_id": sandbox.aws("instance/web-1"),
        "function_name": "thumbnailer",
        "ecs_cluster": "sandbox",
        "ecs_service": "api",
        "work_dir": str(tmp_path),
        "gcp_connection": gcp_connection,
        "azure_connection": azure_connection,
        "azure_vm_id": f"{subscription}/rg-web/providers/Microsoft.Compute/virtualMachines/web-2",
        "azure_site_id": f"{subscription}/rg-functions/providers/Microsoft.Web/sites/thumbnailer",
    }
    engine = WarmEngine(server)
    results, in_worker = {}, {}
    for mode in ("1", "0"):
        seen: list[str] = []

        def on_event(event: Any, seen: list[str] = seen) -> None:
            if event.get("event") == "shieldops_in_worker":
                seen.append(event["event_data"]["module"])

        run = await engine.run(
            RunRequest(
                operation="modules",
                variables=variables,
                secret_env=env | {"SHIELDOPS_WARM_IN_WORKER": mode},
                playbook=str(PLAYBOOKS / "modules.yml"),
                on_event=on_event,
            )
        )
        assert run.status == "successful", run.failures
        assert run.result is not None
        results[mode], in_worker[mode] = run.result, seen
    assert set(results["1"]) == ALLOWED_MODULES
    # With the hook on every module ran in the worker (copy runs stat and copy); with it off, none did.
    assert len(in_worker["1"]) >= len(ALLOWED_MODULES) and in_worker["0"] == []
    for module in sorted(ALLOWED_MODULES):
        assert _volatile(results["1"][module]) == _volatile(results["0"][module]), module
