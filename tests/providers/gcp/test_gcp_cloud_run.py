"""Cloud Run services through the real path (Admin API v2 on the fake): list, health, events, scale, redeploy,
traffic shifts, snapshot and rollback of the traffic split and scaling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shieldops_ansible import Action, InfraConnector, InvalidRequest, ResourceNotFound, TimeRange, connect
from shieldops_ansible.engines.runner import RunnerEngine
from tests.providers.gcp.conftest import API, WORKER, GcpSandbox
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration


@pytest.fixture(params=["warm"])  # the runner too on one read test: see tests/providers/gcp/test_gcp.py's fixture
async def gcp(request: pytest.FixtureRequest, gcp_sandbox: GcpSandbox, tmp_path: Path) -> AsyncIterator[InfraConnector]:
    engine = RunnerEngine(keep_artifacts_in=tmp_path / "artifacts") if request.param == "runner" else None
    async with connect("gcp", config=gcp_sandbox.config, engine=engine) as conn:
        yield conn


def _serving(service: dict[str, object]) -> list[tuple[str, int]]:
    statuses = service["trafficStatuses"]
    assert isinstance(statuses, list)
    return [(s["revision"], s["percent"]) for s in statuses]


@pytest.mark.parametrize("gcp", ["warm", "runner"], indirect=True)
async def test_list_services_across_regions(gcp: InfraConnector) -> None:
    found = {r.id: r for r in await gcp.list_resources("service", {})}
    assert sorted(found) == [API, WORKER]
    api = found[API]
    assert (api.native_type, api.region, api.state, api.capacity) == ("cloud_run_service", "europe-west1", "running", 1)
    assert api.tags == {"app": "api"} and api.raw["latest_ready"].startswith("api-00001-")
    assert found[WORKER].state == "failed"
    assert [r.id for r in await gcp.list_resources("cloud_run_service", {"tags": {"app": "worker"}})] == [WORKER]
    assert await gcp.list_resources("service", {"location": "us-central1"}) == []
    assert [r.id for r in await gcp.list_resources("service", {"location": "europe-west1"})] == [API, WORKER]
    # A location becomes part of an API path: anything but a region or zone is refused before any request.
    for hostile in ("europe-west1/services/api/..", "europe-west1?pageSize=1", "x"):
        with pytest.raises(InvalidRequest, match=r"filters\.location is not a region or zone"):
            await gcp.list_resources("service", {"location": hostile})


async def test_health_names_the_failing_revision(gcp: InfraConnector) -> None:
    healthy = await gcp.get_health(API)
    assert healthy.status == "healthy" and healthy.metrics["serving_revisions"] == 1
    broken = await gcp.get_health(WORKER)
    assert broken.status == "unhealthy"
    checks = {c.name: c for c in broken.checks}
    assert "latest revision worker-00002-" in checks["latest_revision"].message
    assert "HealthCheckContainerError" in checks["latest_revision"].message
    assert "worker-00001-" in checks["traffic"].message
    with pytest.raises(ResourceNotFound):
        await gcp.get_health(API.replace("/api", "/nope"))


async def test_events_and_dry_runs(gcp: InfraConnector, gcp_sandbox: GcpSandbox) -> None:
    assert await gcp.get_events(API, TimeRange.last(minutes=5)) == []
    worker = [e.type for e in await gcp.get_events(WORKER, TimeRange.last(minutes=48 * 60))]
    assert worker[:2] == ["CreateService", "UpdateService"]
    before = gcp_sandbox.run_service(API)
    scaled = await gcp.execute_action(Action(type="scale", resource_id=API, parameters={"replicas": 3}, dry_run=True))
    assert scaled.status == "dry_run" and scaled.diff["after"]["min_instances"] == 3
    redeploy = await gcp.execute_action(Action(type="redeploy", resource_id=API, dry_run=True))
    assert redeploy.changed and redeploy.diff["after"]["latest_created"] == "(a new revision)"
    assert gcp_sandbox.run_service(API)["generation"] == before["generation"]
    with pytest.raises(InvalidRequest, match="does not exist"):
        await gcp.execute_action(
            Action(
                type="gcp_shift_traffic",
                resource_id=API,
                parameters={"revision": "api-99999-zzz", "percent": 10},
                dry_run=True,
            )
        )


async def test_redeploy_shift_and_roll_back_from_a_second_process(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        first = _serving(gcp_sandbox.run_service(API))
        snapshot = await gcp.create_snapshot(API)
        assert snapshot.kind == "cloud_run_service" and snapshot.state["traffic"][0]["percent"] == 100
        redeployed = await gcp.execute_action(Action(type="redeploy", resource_id=API, reason="test"))
        assert redeployed.status == "succeeded" and redeployed.snapshot_id
        service = gcp_sandbox.run_service(API)
        new_revision = service["latestReadyRevision"].rsplit("/", 1)[-1]
        assert new_revision != first[0][0] and _serving(service) == [(new_revision, 100)]
        shifted = await gcp.execute_action(
            Action(
                type="gcp_shift_traffic",
                resource_id=API,
                parameters={"revision": first[0][0], "percent": 10},
                reason="canary back",
            )
        )
        assert shifted.status == "succeeded"
        assert _serving(gcp_sandbox.run_service(API)) == [(first[0][0], 10), (new_revision, 90)]
        scaled = await gcp.execute_action(Action(type="scale", resource_id=API, parameters={"replicas": 4}, reason="t"))
        assert scaled.status == "succeeded" and gcp_sandbox.run_service(API)["scaling"]["minInstanceCount"] == 4
    result = rollback_in_new_process(Sandbox(gcp_sandbox.directory, gcp_sandbox.config, {}), "gcp", snapshot.id)
    assert result["success"] and result["restored"] == [f"traffic 100% to {first[0][0]}", "min instances 1"]
    service = gcp_sandbox.run_service(API)
    assert _serving(service) == first and service["scaling"]["minInstanceCount"] == 1
