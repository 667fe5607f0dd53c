"""The facade above the engine seam, with the scripted engine double: what reaches an engine, and how engine
answers become models and errors. (The real path is in tests/integration.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import (
    Action,
    BackendUnavailable,
    InvalidRequest,
    PermissionDenied,
    ResourceNotFound,
    SnapshotNotFound,
    connect,
)
from shieldops_ansible.engines.base import RunRequest, RunResult
from shieldops_ansible.engines.testing import ScriptedEngine
from shieldops_ansible.snapshots import signing
from tests.support import offline_config

IID = "i-0123456789abcdef0"
SNAPSHOT = {
    "id": "snap-0123456789abcdef",
    "resource_id": IID,
    "environment": "aws",
    "provider": "aws",
    "created_at": "2026-01-01T00:00:00Z",
    "kind": "ec2_ebs",
    "handles": {},
}
HEALTH = {"resource_id": IID, "status": "healthy", "checks": [], "metrics": {}, "observed_at": "2026-01-01T00:00:00Z"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return offline_config(
        tmp_path, "  aws: {provider: aws, region: eu-west-1}\n  other: {provider: aws, region: eu-west-1}\n"
    )


async def test_request_reaches_the_engine_as_data(config: Path) -> None:
    engine = ScriptedEngine({"get_health": {"ok": True, "value": HEALTH}})
    async with connect("aws", config=config, engine=engine) as conn:
        health = await conn.get_health(IID)
    assert health.status == "healthy"
    (request,) = engine.requests
    assert request.operation == "get_health" and not request.check_mode
    assert request.variables["shieldops_request"] == {"provider": "aws", "environment": "aws", "resource_id": IID}
    assert request.variables["shieldops_settings"] == {"region": "eu-west-1", "endpoint_url": None}
    assert request.secret_env["AWS_REGION"] == "eu-west-1"
    assert not engine.closed, "an engine passed in belongs to the caller"


@pytest.mark.parametrize(
    "kind,error",
    [("not_found", ResourceNotFound), ("permission_denied", PermissionDenied), ("failed", BackendUnavailable)],
)
async def test_error_kinds_become_exceptions(config: Path, kind: str, error: type[Exception]) -> None:
    engine = ScriptedEngine({"get_health": {"ok": False, "error": {"kind": kind, "message": "no\x00pe\x1b[31m"}}})
    async with connect("aws", config=config, engine=engine) as conn:
        with pytest.raises(error) as info:
            await conn.get_health(IID)
    assert "\x00" not in str(info.value) and "\x1b" not in str(info.value)


def _signed(document: dict[str, Any], state_dir: Path) -> str:
    """A document as snapshot_store writes it, signed with the config's key (beside the state directory)."""
    key = signing().load_or_create_key(str(state_dir.parent / "keys" / "snapshot.key"))
    return json.dumps(signing().sign(document, key))


def _playbook_storing_the_snapshot(state_dir: Path, answer: dict[str, Any]) -> Any:
    """What the execute_action playbook does when the request names a snapshot: stores it (the document and the
    snapshot_store task's event), then acts."""

    def run(request: RunRequest) -> dict[str, Any]:
        snapshot_id = request.variables["shieldops_request"]["snapshot_id"]
        (state_dir / "snapshots").mkdir(parents=True, exist_ok=True)
        (state_dir / "snapshots" / f"{snapshot_id}.json").write_text(_signed(SNAPSHOT | {"id": snapshot_id}, state_dir))
        assert request.on_event is not None
        request.on_event(
            {"event": "runner_on_ok", "event_data": {"task_action": "shieldops.connectors.snapshot_store", "res": {}}}
        )
        return answer

    return run


async def test_failed_action_is_a_result_and_destructive_ones_snapshot_first(config: Path, tmp_path: Path) -> None:
    failed = {"ok": False, "error": {"kind": "failed", "message": "IncorrectInstanceState"}}
    engine = ScriptedEngine({"execute_action": _playbook_storing_the_snapshot(tmp_path / "state", failed)})
    async with connect("aws", config=config, engine=engine) as conn:
        result = await conn.execute_action(Action(type="stop", resource_id=IID))
    # One run: the playbook snapshots before its first write.
    assert [r.operation for r in engine.requests] == ["execute_action"]
    asked = engine.requests[0].variables["shieldops_request"]["snapshot_id"]
    assert result.status == "failed" and not result.success and result.snapshot_id == asked
    assert result.message == "IncorrectInstanceState"
    steps = result.details["transaction"]
    assert [(s["step"], s["outcome"]) for s in steps] == [("snapshot", "ok"), ("act", "failed: failed")]


async def test_a_snapshot_that_fails_stops_the_action_with_its_error(config: Path) -> None:
    # The run fails before the snapshot_store task: the snapshot's error is raised, and no snapshot id is given.
    engine = ScriptedEngine({"execute_action": {"ok": False, "error": {"kind": "not_found", "message": "no instance"}}})
    async with connect("aws", config=config, engine=engine) as conn:
        with pytest.raises(ResourceNotFound, match="no instance"):
            await conn.execute_action(Action(type="stop", resource_id=IID))
        with pytest.raises(ResourceNotFound):
            await conn.execute_action(Action(type="stop", resource_id=IID, dry_run=True))
    assert "snapshot_id" in engine.requests[0].variables["shieldops_request"]
    assert "snapshot_id" not in engine.requests[1].variables["shieldops_request"]  # a dry run takes none


async def test_dry_run_runs_in_check_mode_without_snapshot(config: Path) -> None:
    def answer(request: RunRequest) -> dict[str, Any]:
        assert request.check_mode
        return {"ok": True, "value": {"success": True, "changed": True, "message": "would stop", "diff": {}}}

    engine = ScriptedEngine({"execute_action": answer})
    async with connect("aws", config=config, engine=engine) as conn:
        result = await conn.execute_action(Action(type="stop", resource_id=IID, dry_run=True))
    assert result.status == "dry_run" and [r.operation for r in engine.requests] == ["execute_action"]


async def test_no_result_and_timeouts_are_backend_unavailable(config: Path) -> None:
    engine = ScriptedEngine(
        {
            "get_health": RunResult(status="timeout", rc=254, result=None),
            "list_resources": RunResult(status="failed", rc=2, result=None, failures=["ERROR! the role was not found"]),
        }
    )
    async with connect("aws", config=config, engine=engine) as conn:
        with pytest.raises(BackendUnavailable, match="timed out"):
            await conn.get_health(IID)
        with pytest.raises(BackendUnavailable, match="role was not found"):
            await conn.list_resources("instance", {})


async def test_invalid_model_from_a_playbook_is_backend_unavailable(config: Path) -> None:
    engine = ScriptedEngine({"get_health": {"ok": True, "value": {**HEALTH, "status": "fine"}}})
    async with connect("aws", config=config, engine=engine) as conn:
        with pytest.raises(BackendUnavailable, match="invalid HealthStatus"):
            await conn.get_health(IID)


async def test_rollback_checks_the_store_and_the_environment(config: Path, tmp_path: Path) -> None:
    engine = ScriptedEngine({})
    store = tmp_path / "state" / "snapshots"
    store.mkdir(parents=True)
    document = SNAPSHOT
    (store / "snap-0123456789abcdef.json").write_text(_signed(document, tmp_path / "state"))
    async with connect("other", config=config, engine=engine) as conn:
        with pytest.raises(InvalidRequest, match="belongs to environment 'aws'"):
            await conn.rollback("snap-0123456789abcdef")
        with pytest.raises(SnapshotNotFound):
            await conn.rollback("snap-ffffffffffffffff")
    assert engine.requests == []
