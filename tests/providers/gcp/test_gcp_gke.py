"""GKE clusters and node pools through the real path (container v1 and Compute's instance group managers on the
fake): list, health, events, scale, snapshot and rollback of a pool's node count and autoscaling."""

from __future__ import annotations

import pytest

from shieldops_ansible import (
    Action,
    ActionNotSupported,
    InvalidRequest,
    PermissionDenied,
    ResourceNotFound,
    TimeRange,
    connect,
)
from shieldops_ansible.engines.runner import RunnerEngine
from tests.providers.gcp.conftest import CLUSTER, DEFAULT_POOL, SPOT_POOL, GcpSandbox
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("engine_name", ["warm", "runner"])
async def test_list_health_and_events(gcp_sandbox: GcpSandbox, engine_name: str) -> None:
    engine = RunnerEngine() if engine_name == "runner" else None
    async with connect("gcp", config=gcp_sandbox.config, engine=engine) as gcp:
        clusters = await gcp.list_resources("cluster", {})
        assert [(c.id, c.state, c.region, c.tags) for c in clusters] == [
            (CLUSTER, "running", "europe-west1-b", {"env": "sandbox"})
        ]
        pools = {p.id: p for p in await gcp.list_resources("gke_node_pool", {})}
        assert sorted(pools) == [DEFAULT_POOL, SPOT_POOL]
        assert pools[DEFAULT_POOL].capacity == 3 and pools[SPOT_POOL].raw["spot"] is True
        assert await gcp.list_resources("cluster", {"location": "us-central1"}) == []
        health = await gcp.get_health(CLUSTER)
        assert health.status == "healthy" and health.metrics == {"nodes": 5.0, "node_pools": 2.0}
        pool = await gcp.get_health(SPOT_POOL)
        assert pool.status == "healthy" and pool.metrics["max_nodes"] == 5.0
        assert await gcp.get_events(DEFAULT_POOL, TimeRange.last(minutes=5)) == []
        with pytest.raises(ResourceNotFound, match="no GKE node pool"):
            await gcp.get_health(f"{CLUSTER}/nodePools/nope")
        with pytest.raises(ResourceNotFound, match="no GKE cluster"):
            await gcp.get_health(CLUSTER.removesuffix("/clusters/sandbox") + "/clusters/other")


async def test_scale_a_pool_and_roll_it_back_from_a_second_process(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        dry = await gcp.execute_action(
            Action(type="scale", resource_id=DEFAULT_POOL, parameters={"replicas": 5}, dry_run=True)
        )
        assert dry.status == "dry_run" and dry.diff == {"before": {"nodes": 3}, "after": {"nodes": 5}}
        assert gcp_sandbox.pool_nodes(DEFAULT_POOL) == 3
        snapshot = await gcp.create_snapshot(DEFAULT_POOL)
        assert snapshot.kind == "gke_node_pool" and snapshot.state == {"nodes": 3, "autoscaling": {}}
        scaled = await gcp.execute_action(
            Action(type="scale", resource_id=DEFAULT_POOL, parameters={"replicas": 5}, reason="load")
        )
        assert scaled.status == "succeeded" and scaled.snapshot_id and scaled.details["operations"]
        assert gcp_sandbox.pool_nodes(DEFAULT_POOL) == 5
        events = await gcp.get_events(DEFAULT_POOL, TimeRange.last(minutes=5))
        assert [e.type for e in events] == ["SetSize"]
        with pytest.raises(ActionNotSupported):
            await gcp.execute_action(Action(type="restart", resource_id=CLUSTER, dry_run=True))
        with pytest.raises(Exception, match="snapshot its node pools"):
            await gcp.create_snapshot(CLUSTER)
    result = rollback_in_new_process(Sandbox(gcp_sandbox.directory, gcp_sandbox.config, {}), "gcp", snapshot.id)
    assert result["success"] and result["restored"] == ["nodes 3", "autoscaling"]
    assert gcp_sandbox.pool_nodes(DEFAULT_POOL) == 3


async def test_the_readonly_identity_may_not_resize(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp-readonly", config=gcp_sandbox.config) as ro:
        assert len(await ro.list_resources("gke_node_pool", {})) == 2
        with pytest.raises(PermissionDenied, match=r"container\.clusters\.update"):
            await ro.execute_action(Action(type="scale", resource_id=SPOT_POOL, parameters={"replicas": 1}, reason="t"))
        with pytest.raises(InvalidRequest, match=r"parameters\.replicas must be <= 1000"):
            await ro.execute_action(Action(type="scale", resource_id=SPOT_POOL, parameters={"replicas": 5000}))
    assert gcp_sandbox.pool_nodes(SPOT_POOL) == 2
