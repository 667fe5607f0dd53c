"""Guardrails through the real path: policy in the facade and in the playbooks, approvals, the rate limit,
transactional actions that roll back when health gets worse, and the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import Action, PolicyDenied, connect
from shieldops_ansible.audit import AuditLog
from shieldops_ansible.cli import main
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.base import RunRequest, RunResult
from shieldops_ansible.engines.warm import WarmEngine
from tests.support import Sandbox, arrange_client

pytestmark = pytest.mark.integration


def _config(sandbox: Sandbox, tmp_path: Path, source: str, policy: dict[str, Any]) -> Path:
    """The sandbox's config with one more environment, `guarded`: `source` plus a policy, and an audit log."""
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["guarded"] = {**doc["environments"][source], "policy": policy}
    doc["audit_log"] = str(tmp_path / "audit.jsonl")
    path = tmp_path / "shieldops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _replicas(sandbox: Sandbox) -> int:
    return int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])


def _cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


async def test_policy_refuses_before_any_playbook_runs_and_dry_runs_pass(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(sandbox, tmp_path, "kubernetes", {"max_replicas": 5, "deny_actions": ["stop"]})
    before = _replicas(sandbox)
    events: list[Any] = []
    async with connect("guarded", config=config, on_event=events.append) as conn:
        with pytest.raises(PolicyDenied, match="max_replicas"):
            await conn.execute_action(
                Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 50})
            )
        with pytest.raises(PolicyDenied, match="deny_actions"):
            await conn.execute_action(Action(type="stop", resource_id="deployment/shop/web"))
        assert events == []  # refused before any playbook ran
        dry = await conn.execute_action(
            Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 50}, dry_run=True)
        )
        assert dry.status == "dry_run"
    assert _replicas(sandbox) == before
    records = AuditLog(tmp_path / "audit.jsonl").tail(10)
    denied = [r for r in records if r["outcome"] == "denied"]
    assert [r["policy"]["rule"] for r in denied] == ["max_replicas", "deny_actions"]
    assert all(r["snapshot_id"] is None and r["error"]["type"] == "PolicyDenied" for r in denied)
    assert records[-1]["outcome"] == "dry_run" and records[-1]["request_digest"].startswith("sha256:")
    tail = _cli(capsys, ["audit", "tail", "-n", "2", "--json", "--config", str(config)])
    assert [json.loads(line)["outcome"] for line in tail.splitlines()] == ["denied", "dry_run"]
    human = _cli(capsys, ["audit", "tail", "-n", "3", "--config", str(config)])
    assert "execute_action  deployment/shop/web  denied" in human and "policy rule max_replicas" in human


async def _run_without_facade(config: Path, tmp_path: Path, action: dict[str, Any]) -> RunResult:
    """The execute_action playbook as ansible-playbook or AWX would run it: no facade in front."""
    environment = load_config(config).environment("guarded")
    variables = {
        "shieldops_request": {
            "provider": "kubernetes",
            "environment": "guarded",
            "action": action,
            "action_id": "act-direct",
        },
        "shieldops_settings": environment.settings.role_settings(),
        "shieldops_state_dir": str(tmp_path / "state"),
        "shieldops_config": str(config),
    }
    return await WarmEngine().run(
        RunRequest(
            operation="execute_action",
            variables=variables,
            secret_env=await environment.provider.credentials_env(environment.settings),
        )
    )


async def test_the_playbooks_enforce_the_policy_without_the_facade(sandbox: Sandbox, tmp_path: Path) -> None:
    """As ansible-playbook or AWX would run it: the same playbook, no facade in front, the policy still holds."""
    config = _config(sandbox, tmp_path, "kubernetes", {"read_only": True})
    before = _replicas(sandbox)
    action = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": 7}}
    run = await _run_without_facade(config, tmp_path, action)
    assert run.result is not None and run.result["ok"] is False
    assert run.result["error"]["kind"] == "policy_denied" and "read_only" in run.result["error"]["message"]
    assert _replicas(sandbox) == before


async def test_direct_runs_count_against_the_rate_limit_too(sandbox: Sandbox, tmp_path: Path) -> None:
    """Without the facade the playbook takes its own slot (from the same files); through the facade an action
    is counted once, not twice."""
    config = _config(sandbox, tmp_path, "kubernetes", {"rate_limit": {"max_actions": 2, "per_seconds": 3600}})
    async with connect("guarded", config=config) as conn:
        assert (await conn.execute_action(Action(type="restart", resource_id="daemonset/shop/log-agent"))).success
    action = {"type": "restart", "resource_id": "daemonset/shop/log-agent", "parameters": {}}
    direct = [await _run_without_facade(config, tmp_path, action) for _ in range(2)]
    assert [r.result and r.result["ok"] for r in direct] == [True, False]
    assert direct[1].result and direct[1].result["error"]["kind"] == "policy_denied"
    assert "rate_limit" in direct[1].result["error"]["message"]


async def test_approval_is_asked_and_a_refusal_or_no_approver_denies(sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(sandbox, tmp_path, "kubernetes", {"require_approval": ["kubernetes_cordon"]})
    cordon = Action(type="kubernetes_cordon", resource_id="node/node-2", reason="maintenance")
    node = "/api/v1/nodes/node-2"
    async with connect("guarded", config=config) as conn:
        with pytest.raises(PolicyDenied, match="no approver"):
            await conn.execute_action(cordon)
    asked: list[Action] = []

    async def refuse(action: Action) -> bool:
        asked.append(action)
        return False

    async with connect("guarded", config=config, approver=refuse) as conn:
        with pytest.raises(PolicyDenied, match="refused"):
            await conn.execute_action(cordon)
    assert [a.type for a in asked] == ["kubernetes_cordon"]
    assert not sandbox.kube().request("GET", node)["spec"].get("unschedulable")
    async with connect("guarded", config=config, approver=lambda action: True) as conn:
        done = await conn.execute_action(cordon)
        assert done.success and sandbox.kube().request("GET", node)["spec"]["unschedulable"] is True
        await conn.rollback(done.snapshot_id or "")
    assert not sandbox.kube().request("GET", node)["spec"].get("unschedulable")
    approvals = [r.get("approval") for r in AuditLog(tmp_path / "audit.jsonl").records() if r.get("approval")]
    assert approvals == ["no approver", "refused", "approved"]


async def test_rate_limit_per_resource(sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(sandbox, tmp_path, "kubernetes", {"rate_limit": {"max_actions": 1, "per_seconds": 3600}})
    async with connect("guarded", config=config) as conn:
        first = await conn.execute_action(Action(type="restart", resource_id="deployment/shop/web"))
        assert first.success
        with pytest.raises(PolicyDenied, match="rate_limit"):
            await conn.execute_action(Action(type="restart", resource_id="deployment/shop/web"))
        # Another resource has its own budget; dry runs are not counted.
        await conn.execute_action(Action(type="restart", resource_id="deployment/shop/web", dry_run=True))
        assert (await conn.execute_action(Action(type="restart", resource_id="statefulset/shop/cache"))).success


async def test_an_action_that_makes_health_worse_is_rolled_back(sandbox: Sandbox, tmp_path: Path) -> None:
    """Stopping a healthy service is verified as worse and rolled back from its snapshot; every step is reported."""
    config = _config(sandbox, tmp_path, "linux", {"verify_and_rollback": True, "verify_timeout_seconds": 2})
    async with connect("guarded", config=config) as conn:
        result = await conn.execute_action(Action(type="stop", resource_id="service/web-1/web"))
        health = await conn.get_health("service/web-1/web")
    steps = result.details["transaction"]
    assert [s["step"] for s in steps] == ["health_before", "snapshot", "act", "verify", "rollback"]
    assert steps[3]["outcome"].startswith("worse: healthy -> ")
    assert all(s["ms"] >= 0 for s in steps) and steps[4]["outcome"] == "ok"
    assert not result.success and result.status == "failed" and "rolled back" in result.message
    assert result.snapshot_id and health.status == "healthy"
    assert sandbox.supervisor_status("web-1")["web"] == "RUNNING"
    record = [r for r in AuditLog(tmp_path / "audit.jsonl").records() if r["operation"] == "execute_action"][-1]
    assert record["outcome"] == "failed" and record["snapshot_id"] == result.snapshot_id
    assert json.dumps(record).count("service/web-1/web") >= 1


async def test_cap_on_the_resources_one_action_touches(sandbox: Sandbox, tmp_path: Path) -> None:
    """The cap depends on the live resource (pods or tasks running now), so the playbooks check it after their read
    and before any write: a restart replacing more pods than the cap is refused, a scale by one passes, a dry run
    reports the count."""
    replicas = _replicas(sandbox)
    assert replicas >= 2
    config = _config(sandbox, tmp_path, "kubernetes", {"max_resources_per_action": replicas - 1})
    web = "deployment/shop/web"
    template = sandbox.kube().deployment("shop", "web")["spec"]["template"]
    async with connect("guarded", config=config) as conn:
        with pytest.raises(PolicyDenied, match=f"max_resources_per_action: restart would change {replicas} resources"):
            await conn.execute_action(Action(type="restart", resource_id=web))
        assert sandbox.kube().deployment("shop", "web")["spec"]["template"] == template  # nothing was written
        dry = await conn.execute_action(Action(type="restart", resource_id=web, dry_run=True))
        assert dry.status == "dry_run" and dry.details["resources_touched"] == replicas
        scaled = await conn.execute_action(Action(type="scale", resource_id=web, parameters={"replicas": replicas + 1}))
        assert scaled.success and scaled.details["resources_touched"] == 1 and _replicas(sandbox) == replicas + 1
        await conn.rollback(scaled.snapshot_id or "")
    assert _replicas(sandbox) == replicas
    denied = [r for r in AuditLog(tmp_path / "audit.jsonl").records() if r["outcome"] == "denied"]
    assert [r["error"]["type"] for r in denied] == ["PolicyDenied"]

    # The same rule on ECS: restarting a service replaces all of its tasks.
    ecs = arrange_client(sandbox, "ecs")
    service = ecs.describe_services(cluster="sandbox", services=["api"])["services"][0]
    desired, deployments = int(service["desiredCount"]), service["deployments"]
    config = _config(sandbox, tmp_path, "aws", {"max_resources_per_action": desired - 1})
    async with connect("guarded", config=config) as conn:
        with pytest.raises(PolicyDenied, match="max_resources_per_action"):
            await conn.execute_action(Action(type="restart", resource_id=sandbox.aws("service/api")))
    # no new deployment was started
    assert ecs.describe_services(cluster="sandbox", services=["api"])["services"][0]["deployments"] == deployments
