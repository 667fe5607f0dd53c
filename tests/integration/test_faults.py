"""Faults in the middle of things: an endpoint that does not answer, a throttling API server, a permission refused
after the snapshot was taken, and a process killed during an action. Each ends in a typed error or a failed
ActionResult; the snapshot taken first is intact, and rollback works afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from shieldops_ansible import Action, BackendUnavailable, PermissionDenied, connect
from shieldops_ansible.audit import AuditLog
from shieldops_ansible.engines.processes import descendants
from tests.fault_proxy import FaultProxy
from tests.support import Sandbox, arrange_client

pytestmark = pytest.mark.integration


def _proxied_config(sandbox: Sandbox, tmp_path: Path, port: int) -> Path:
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["proxied"] = {**doc["environments"]["kubernetes"], "server": f"https://127.0.0.1:{port}"}
    doc["environments"]["unreachable-aws"] = {**doc["environments"]["aws"], "endpoint_url": "http://127.0.0.1:9"}
    doc["environments"]["unreachable-k8s"] = {**doc["environments"]["kubernetes"], "server": "https://127.0.0.1:9"}
    path = tmp_path / "shieldops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _replicas(sandbox: Sandbox) -> int:
    return int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])


def _snapshot_files(sandbox: Sandbox) -> set[str]:
    return {p.name for p in (sandbox.state_dir / "snapshots").glob("*.json")}


async def test_an_endpoint_that_does_not_answer(sandbox: Sandbox, tmp_path: Path) -> None:
    config = _proxied_config(sandbox, tmp_path, 9)
    async with connect("unreachable-k8s", config=config) as k8s:
        with pytest.raises(BackendUnavailable):
            await k8s.get_health("deployment/shop/web")
        with pytest.raises(BackendUnavailable):  # the snapshot before the action fails: nothing is changed
            await k8s.execute_action(Action(type="restart", resource_id="deployment/shop/web"))
    async with connect("unreachable-aws", config=config) as aws:
        with pytest.raises(BackendUnavailable):
            await aws.list_resources("instance", {})


@pytest.mark.parametrize(("fault", "error"), [("throttle", BackendUnavailable), ("forbid", PermissionDenied)])
async def test_a_write_refused_after_the_snapshot(
    sandbox: Sandbox, tmp_path: Path, fault: str, error: type[Exception]
) -> None:
    """The API server throttles (429) or refuses (403) the change itself: the snapshot taken first stays, the
    resource is unchanged, and rolling back works once the API server accepts writes again."""
    before, snapshots = _replicas(sandbox), _snapshot_files(sandbox)
    with FaultProxy.kubernetes(sandbox.directory / "kubernetes") as proxy:
        config = _proxied_config(sandbox, tmp_path, proxy.port)
        async with connect("proxied", config=config) as conn:
            proxy.fault = fault
            with pytest.raises(error):
                await conn.execute_action(
                    Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": before + 1})
                )
            assert proxy.writes >= 1 and _replicas(sandbox) == before
            taken = _snapshot_files(sandbox) - snapshots
            assert len(taken) == 1  # the snapshot taken before the action survived its failure
            proxy.fault = None
            restored = await conn.rollback(taken.pop().removesuffix(".json"))
    assert restored.success and _replicas(sandbox) == before


async def test_aws_throttling_a_write_after_the_snapshot(sandbox: Sandbox, tmp_path: Path) -> None:
    """ECS throttles UpdateService (ThrottlingException): botocore retries as configured, then the action fails
    with BackendUnavailable; the service is unchanged, the snapshot stays, rollback works once calls pass. The
    audit record carries the request ids the provider answered with, the refused call's included."""
    ecs = arrange_client(sandbox, "ecs")
    desired = int(ecs.describe_services(cluster="sandbox", services=["api"])["services"][0]["desiredCount"])
    snapshots = _snapshot_files(sandbox)
    with FaultProxy.aws(sandbox.aws_endpoint) as proxy:
        doc = yaml.safe_load(sandbox.config.read_text())
        doc["environments"]["throttled"] = {
            **doc["environments"]["aws"],
            "endpoint_url": proxy.url,
            "retry_mode": "standard",
            "max_attempts": 2,
        }
        doc["audit_log"] = str(tmp_path / "audit.jsonl")
        config = tmp_path / "shieldops.yaml"
        config.write_text(yaml.safe_dump(doc))
        async with connect("throttled", config=config) as conn:
            proxy.fault = "throttle"
            with pytest.raises(BackendUnavailable, match=r"Throttl|Rate exceeded"):
                await conn.execute_action(
                    Action(type="scale", resource_id=sandbox.aws("service/api"), parameters={"replicas": desired + 3})
                )
            throttled = [c for c in proxy.calls if c.operation == "UpdateService"]
            assert len(throttled) == 2  # max_attempts: 2, i.e. one retry by botocore
            assert int(ecs.describe_services(cluster="sandbox", services=["api"])["services"][0]["desiredCount"]) == (
                desired
            )
            taken = _snapshot_files(sandbox) - snapshots
            assert len(taken) == 1
            proxy.fault = None
            restored = await conn.rollback(taken.pop().removesuffix(".json"))
            await conn.get_health(sandbox.aws("instance/web-1"))
    assert restored.success
    record = next(r for r in AuditLog(tmp_path / "audit.jsonl").records() if r["operation"] == "execute_action")
    assert record["outcome"] == "error" and record["error"]["type"] == "BackendUnavailable"
    assert record["snapshot_id"] is None or record["snapshot_id"].startswith("snap-")
    assert throttled[-1].request_id in record["provider_request_ids"]
    # The modules of our own (the EC2 status checks and CloudWatch reads of get_health) report every request id.
    health = [r for r in AuditLog(tmp_path / "audit.jsonl").records() if r["operation"] == "get_health"][-1]
    answered = {c.request_id for c in proxy.calls if c.request_id}
    assert len(health["provider_request_ids"]) >= 2 and set(health["provider_request_ids"]) <= answered


async def test_a_process_killed_during_an_action(sandbox: Sandbox, tmp_path: Path) -> None:
    """The CLI is killed while its action's write hangs: the run's processes go with it, the snapshot stays,
    and a later process rolls back."""
    before, snapshots = _replicas(sandbox), _snapshot_files(sandbox)
    with FaultProxy.kubernetes(sandbox.directory / "kubernetes") as proxy:
        config = _proxied_config(sandbox, tmp_path, proxy.port)
        proxy.fault = "hang"
        cli = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shieldops_ansible.cli",
                "act",
                "scale",
                "deployment/shop/web",
                "--param",
                f"replicas={before + 2}",
                "--env",
                "proxied",
                "--config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while proxy.writes == 0 and time.monotonic() < deadline and cli.poll() is None:
            await asyncio.sleep(0.1)
        assert proxy.writes >= 1, "the action's write never reached the API server"
        run = descendants(cli.pid)
        assert run, "the warm server and its request run under the CLI"
        cli.send_signal(signal.SIGKILL)
        cli.wait()
        # The server learns of it at once (its parent's pidfd), its request by PDEATHSIG; a loaded machine may still
        # take a moment to schedule the exits, so this waits for them rather than for a fixed time.
        survivors = run
        gone_by = time.monotonic() + 10
        while survivors and time.monotonic() < gone_by:
            await asyncio.sleep(0.05)
            survivors = [pid for pid in run if _alive(pid)]
        assert survivors == []  # server and request died with the CLI
        proxy.fault = None
        taken = _snapshot_files(sandbox) - snapshots
        assert len(taken) == 1
        async with connect("proxied", config=config) as conn:
            restored = await conn.rollback(taken.pop().removesuffix(".json"))
    assert restored.success and _replicas(sandbox) == before


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in {"Z", "X"}
