"""The facade's concerns beside the operations: typed transaction steps, the typed audit record (the same JSON as
the dicts they replaced), and the blocking file work (audit append, rate-limit lock, snapshot reads) done off the
event loop. Through the facade with the scripted engine double; nothing runs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import Action, PolicyDenied, connect
from shieldops_ansible.audit import AuditError, AuditLog, AuditRecord
from shieldops_ansible.engines.base import RunRequest
from shieldops_ansible.engines.testing import ScriptedEngine
from shieldops_ansible.rate_limit import RateLimiter
from shieldops_ansible.snapshots import SnapshotStore, signing
from shieldops_ansible.transaction import Step
from tests.support import offline_config

IID = "i-0123456789abcdef0"
HEALTH = {"resource_id": IID, "status": "healthy", "checks": [], "metrics": {}, "observed_at": "2026-01-01T00:00:00Z"}
# The keys every record has carried (before AuditRecord, too), and those written only once set.
ALWAYS = {
    "timestamp",
    "job_id",
    "environment",
    "provider",
    "engine",
    "operation",
    "resource_id",
    "snapshot_id",
    "request_digest",
    "request",
    "outcome",
    "duration_ms",
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return offline_config(
        tmp_path,
        "  aws: {provider: aws, region: eu-west-1}\n"
        "  guarded:\n"
        "    provider: aws\n"
        "    region: eu-west-1\n"
        "    policy: {require_approval: [restart], rate_limit: {max_actions: 1, per_seconds: 600}}\n",
        audit_log=True,
    )


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    return list(AuditLog(tmp_path / "audit.jsonl").records())


def _storing_playbook(tmp_path: Path) -> Any:
    """execute_action as the playbook does it when asked to snapshot first: stores the signed document and
    reports the snapshot_store task, reports a provider request id, then acts."""

    def run(request: RunRequest) -> dict[str, Any]:
        assert request.on_event is not None
        snapshot_id = request.variables["shieldops_request"].get("snapshot_id")
        if snapshot_id is not None:
            key = signing().load_or_create_key(str(tmp_path / "keys" / "snapshot.key"))
            document = {
                "id": snapshot_id,
                "resource_id": IID,
                "environment": "guarded",
                "provider": "aws",
                "created_at": "2026-01-01T00:00:00Z",
                "kind": "ec2_ebs",
                "handles": {},
            }
            (tmp_path / "state" / "snapshots").mkdir(parents=True, exist_ok=True)
            (tmp_path / "state" / "snapshots" / f"{snapshot_id}.json").write_text(
                json.dumps(signing().sign(document, key))
            )
            request.on_event(
                {"event": "runner_on_ok", "event_data": {"task_action": "shieldops.connectors.snapshot_store"}}
            )
        request.on_event({"event": "runner_on_ok", "event_data": {"res": {"request_ids": ["req-1"]}}})
        return {"ok": True, "value": {"success": True, "changed": True, "message": "restarted", "diff": {}}}

    return run


# -- typed steps ---------------------------------------------------------------------------------------------------


def test_a_step_serialises_as_the_dicts_it_replaced() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    step = Step("act", started_at=at)
    assert step.as_dict() == {"step": "act", "started_at": "2026-01-01T00:00:00+00:00"}  # still open
    step.end()
    step.outcome = "ok"
    assert list(step.as_dict()) == ["step", "started_at", "ms", "outcome"]
    assert step.as_dict()["outcome"] == "ok" and isinstance(step.as_dict()["ms"], float) and step.ms is not None
    # An outcome known before the step ended (an error, the snapshot stored) came before "ms" in those dicts.
    failed = Step("snapshot", started_at=at)
    failed.outcome = "error: BackendUnavailable: throttled"
    failed.end()
    failed.outcome = "failed: failed"  # a later verdict keeps the key where it was
    assert list(failed.as_dict()) == ["step", "started_at", "outcome", "ms"]
    assert json.loads(json.dumps(failed.as_dict()))["outcome"] == "failed: failed"


async def test_the_transaction_steps_through_the_facade(config: Path, tmp_path: Path) -> None:
    engine = ScriptedEngine({"execute_action": _storing_playbook(tmp_path)})
    async with connect("guarded", config=config, engine=engine, approver=lambda a: True) as conn:
        result = await conn.execute_action(Action(type="restart", resource_id=IID))
    steps = result.details["transaction"]
    assert [list(s) for s in steps] == [
        ["step", "started_at", "outcome", "ms"],
        ["step", "started_at", "ms", "outcome"],
    ]
    assert [(s["step"], s["outcome"]) for s in steps] == [("snapshot", "ok"), ("act", "ok")]
    assert all(isinstance(s["ms"], float) and s["ms"] >= 0 for s in steps)
    assert all(datetime.fromisoformat(s["started_at"]).tzinfo is not None for s in steps)
    json.dumps(result.model_dump(mode="json"))  # plain JSON, no dataclass left inside


# -- the audit record ----------------------------------------------------------------------------------------------


def test_an_audit_record_writes_its_optional_fields_only_once_set() -> None:
    record = AuditRecord.opened(
        request={"resource_id": IID, "api_token": "s3cr3t"},
        environment="aws",
        provider="aws",
        engine="warm",
        operation="get_health",
        resource_id=IID,
    )
    fresh = record.as_json()
    assert set(fresh) == ALWAYS - {"outcome", "duration_ms"}
    assert fresh["snapshot_id"] is None and fresh["request"]["api_token"] == "[redacted]"
    assert fresh["request_digest"].startswith("sha256:") and fresh["job_id"].startswith("job-")
    assert datetime.fromisoformat(fresh["timestamp"]).utcoffset() is not None
    record.outcome, record.duration_ms = "denied", 1.5
    record.policy = {"allowed": False, "rule": "read_only", "reason": "read only", "needs_approval": False}
    record.approval = "no approver"
    record.error = AuditError(type="PolicyDenied", message="policy rule read_only: read only")
    record.keep_request_ids(["a" * 200, 7])
    full = record.as_json()
    assert set(full) == ALWAYS | {"policy", "approval", "error", "provider_request_ids"}
    assert full["error"] == {"type": "PolicyDenied", "message": "policy rule read_only: read only"}
    assert full["provider_request_ids"] == ["a" * 128, "7"]
    assert "s3cr3t" not in json.dumps(full)


async def test_audit_records_through_the_facade_keep_their_fields(config: Path, tmp_path: Path) -> None:
    engine = ScriptedEngine(
        {
            "get_health": {"ok": True, "value": HEALTH},
            "execute_action": _storing_playbook(tmp_path),
            "rollback": {"ok": True, "value": {"success": True, "restored": ["ebs"], "message": "back"}},
        }
    )
    async with connect("guarded", config=config, engine=engine) as conn:
        await conn.get_health(IID)
        with pytest.raises(PolicyDenied, match="no approver"):
            await conn.execute_action(Action(type="restart", resource_id=IID))
        conn.approver = lambda a: True
        result = await conn.execute_action(Action(type="restart", resource_id=IID))
        assert result.snapshot_id is not None
        await conn.rollback(result.snapshot_id)
    health, denied, acted, rolled_back = _records(tmp_path)
    assert set(health) == ALWAYS and health["outcome"] == "succeeded" and health["operation"] == "get_health"
    assert set(denied) == ALWAYS | {"policy", "approval", "error"}
    assert denied["outcome"] == "denied" and denied["approval"] == "no approver"
    assert denied["error"]["type"] == "PolicyDenied" and denied["policy"]["needs_approval"] is True
    assert set(acted) == ALWAYS | {"policy", "approval", "provider_request_ids"}
    assert acted["outcome"] == "succeeded" and acted["snapshot_id"] == result.snapshot_id
    assert acted["provider_request_ids"] == ["req-1"] and acted["approval"] == "approved"
    assert acted["request"]["type"] == "restart" and acted["resource_id"] == IID
    assert set(rolled_back) == ALWAYS and rolled_back["resource_id"] == IID  # learnt from the snapshot
    assert isinstance(acted["duration_ms"], float) and acted["engine"] == "warm" and acted["environment"] == "guarded"


# -- blocking file work off the event loop -------------------------------------------------------------------------


async def test_the_audit_write_runs_in_a_worker_thread_and_the_loop_keeps_serving(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    original = AuditLog.append

    def slow_append(self: AuditLog, record: Any) -> None:
        threads.append(threading.current_thread())
        time.sleep(0.3)  # a slow disk's fsync, without depending on the filesystem
        original(self, record)

    monkeypatch.setattr(AuditLog, "append", slow_append)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    engine = ScriptedEngine({"get_health": {"ok": True, "value": HEALTH}})
    async with connect("aws", config=config, engine=engine) as conn:
        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        try:
            await conn.get_health(IID)
        finally:
            ticking.cancel()
    assert threads and all(t is not threading.main_thread() for t in threads)
    # On the loop, the 0.3 s sleep would have frozen the ticker (0 or 1 tick); off it, it keeps ticking.
    assert ticks >= 10, ticks
    assert [r["operation"] for r in _records(tmp_path)] == ["get_health"]  # written before the call returned


async def test_the_rate_limit_lock_and_snapshot_reads_run_in_worker_threads(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, threading.Thread] = {}

    def in_thread(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            seen[name] = threading.current_thread()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    in_thread(RateLimiter, "reserve")
    in_thread(SnapshotStore, "exists")
    in_thread(SnapshotStore, "load")
    engine = ScriptedEngine(
        {
            "execute_action": _storing_playbook(tmp_path),
            "rollback": {"ok": True, "value": {"success": True, "restored": [], "message": ""}},
        }
    )
    async with connect("guarded", config=config, engine=engine, approver=lambda a: True) as conn:
        result = await conn.execute_action(Action(type="restart", resource_id=IID))
        assert result.snapshot_id is not None
        with pytest.raises(PolicyDenied, match="rate_limit"):  # the one slot is taken: the lock still counts
            await conn.execute_action(Action(type="restart", resource_id=IID))
        await conn.rollback(result.snapshot_id)
    assert set(seen) == {"reserve", "exists", "load"}
    assert all(t is not threading.main_thread() for t in seen.values()), seen


async def test_concurrent_operations_each_write_one_whole_record(config: Path, tmp_path: Path) -> None:
    engine = ScriptedEngine({"get_health": {"ok": True, "value": HEALTH}})
    async with connect("aws", config=config, engine=engine) as conn:
        await asyncio.gather(*(conn.get_health(IID) for _ in range(20)))
    records = _records(tmp_path)
    assert len(records) == 20 and len({r["job_id"] for r in records}) == 20
    assert all(set(r) == ALWAYS for r in records)
