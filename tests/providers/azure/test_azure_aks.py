"""AKS managed clusters and their agent pools through the real path (azure.azcollection's azure_rm_aks_info and
azure_rm_aksagentpool, and our Resource Health and Activity Log modules, on the wire-level fake): list, health,
events, scale (dry run and real, snapshot first), rollback from a second process, and the refusals.

The fake's loopback door stores no agent pool (only clusters, without their pools), so the tests read and arrange
pools the way any ARM client does: on the wire, with a token of the fake's identity endpoint."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from shieldops_ansible import (
    Action,
    ActionNotSupported,
    InfraConnector,
    InvalidRequest,
    PermissionDenied,
    ResourceNotFound,
    TimeRange,
    connect,
)
from shieldops_ansible.config import load_config
from shieldops_ansible.providers.azure.sandbox import OPERATOR_CLIENT_ID, READER_CLIENT_ID, SUBSCRIPTION
from shieldops_ansible.snapshots import signing
from tests.providers.azure.conftest import AzureSandbox
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration

CLUSTER = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/sandbox"
)
SYSTEM_POOL = f"{CLUSTER}/agentPools/system"
USER_POOL = f"{CLUSTER}/agentPools/user"
AKS_API = "2024-08-01"


def _arm(
    sandbox: AzureSandbox, method: str, resource_id: str, body: Any = None, client_id: str = READER_CLIENT_ID
) -> Any:
    """One ARM call straight to the fake (as management.azure.com), outside the product."""
    token_query = urllib.parse.urlencode(
        {"api-version": "2018-02-01", "resource": "https://management.azure.com/", "client_id": client_id}
    )
    token_request = urllib.request.Request(
        f"{sandbox.fake_url}/metadata/identity/oauth2/token?{token_query}", headers={"Metadata": "true"}
    )
    with urllib.request.urlopen(token_request) as r:
        token = json.loads(r.read())["access_token"]
    request = urllib.request.Request(
        f"{sandbox.fake_url}{resource_id}?api-version={AKS_API}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={
            "Host": "management.azure.com",
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read())


def pool(sandbox: AzureSandbox, pool_id: str) -> dict[str, Any]:
    """The pool's properties as ARM serves them."""
    return dict(_arm(sandbox, "GET", pool_id)["properties"])


def put_pool(sandbox: AzureSandbox, pool_id: str, **changes: Any) -> dict[str, Any]:
    """PUT the whole pool with ``changes`` (as an operator outside the product) and wait for it to settle."""
    properties = {k: v for k, v in pool(sandbox, pool_id).items() if k not in {"provisioningState", "powerState"}}
    _arm(sandbox, "PUT", pool_id, {"properties": properties | changes}, client_id=OPERATOR_CLIENT_ID)
    deadline = time.monotonic() + 10
    while (settled := pool(sandbox, pool_id))["provisioningState"] != "Succeeded" and time.monotonic() < deadline:
        time.sleep(0.2)
    return settled


def pool_writes(sandbox: AzureSandbox, pool_id: str) -> list[str]:
    return [
        e["status"]["value"]
        for e in sandbox.activity_log()
        if e["resourceId"].lower() == pool_id.lower()
        and e["operationName"]["value"] == "Microsoft.ContainerService/managedClusters/agentPools/write"
    ]


async def test_list_clusters_and_pools_with_filters(azure: InfraConnector) -> None:
    clusters = await azure.list_resources("cluster", {})
    assert [(c.id, c.native_type, c.state, c.region) for c in clusters] == [
        (CLUSTER, "aks_cluster", "running", "westeurope")
    ]
    assert clusters[0].raw["kubernetes_version"] == "1.30.6" and clusters[0].raw["node_pools"] == ["system", "user"]
    assert await azure.list_resources("cluster", {"resource_group": "rg-web"}) == []
    assert await azure.list_resources("cluster", {"location": "northeurope"}) == []
    pools = {p.id: p for p in await azure.list_resources("aks_node_pool", {"resource_group": "rg-aks"})}
    assert sorted(pools) == [SYSTEM_POOL, USER_POOL]
    assert (pools[SYSTEM_POOL].capacity, pools[SYSTEM_POOL].raw["mode"]) == (3, "System")
    assert (pools[USER_POOL].capacity, pools[USER_POOL].raw["enable_auto_scaling"]) == (2, False)
    assert [p.id for p in await azure.list_resources("aks_node_pool", {"name": "us*"})] == [USER_POOL]


@pytest.mark.parametrize("azure", ["warm", "runner"], indirect=True)
async def test_health_of_the_cluster_and_a_pool(azure: InfraConnector) -> None:
    health = await azure.get_health(CLUSTER)
    assert health.status == "healthy" and health.metrics == {"nodes": 5.0, "node_pools": 2.0}
    checks = {c.name: c for c in health.checks}
    assert set(checks) == {"provisioning", "power_state", "kubernetes_version", "node_pools", "resource_health"}
    assert checks["kubernetes_version"].message == "Kubernetes 1.30.6"
    assert checks["resource_health"].message.startswith("Resource Health: Available")
    user = await azure.get_health(USER_POOL)
    assert user.resource_id == USER_POOL and user.status == "healthy" and user.metrics == {"nodes": 2.0}
    # AKS matches pool names case-insensitively; the answer names the pool as ARM spells it.
    assert (await azure.get_health(USER_POOL.replace("agentPools/user", "AGENTPOOLS/User"))).resource_id == USER_POOL
    with pytest.raises(ResourceNotFound, match="no AKS node pool"):
        await azure.get_health(f"{CLUSTER}/agentPools/nope")
    with pytest.raises(ResourceNotFound, match="no AKS cluster"):
        await azure.get_health(CLUSTER.replace("sandbox", "other"))


async def test_events_of_the_cluster(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure", config=azure_sandbox.config) as azure:
        events = await azure.get_events(CLUSTER, TimeRange.last(minutes=48 * 60))
    writes = [e for e in events if e.source == "activity_log/Administrative"]
    assert [(e.type, e.resource_id) for e in writes] == [("write", CLUSTER), ("write", CLUSTER)]
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)


async def test_a_dry_run_scale_reports_the_change_and_writes_nothing(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure", config=azure_sandbox.config) as azure:
        dry = await azure.execute_action(
            Action(type="scale", resource_id=USER_POOL, parameters={"replicas": 4}, dry_run=True)
        )
    assert dry.status == "dry_run" and dry.changed
    assert dry.diff == {"before": {"count": 2}, "after": {"count": 4}}
    assert pool(azure_sandbox, USER_POOL)["count"] == 2
    assert pool_writes(azure_sandbox, USER_POOL) == []


async def test_scale_keeps_the_pool_and_rolls_back_from_a_second_process(azure_sandbox: AzureSandbox) -> None:
    # A PUT of a pool that leaves out its labels, taints or tags clears them: the scale must carry them over.
    labelled = put_pool(
        azure_sandbox,
        USER_POOL,
        nodeLabels={"workload": "batch"},
        nodeTaints=["dedicated=batch:NoSchedule"],
        tags={"team": "sre"},
    )
    assert labelled["nodeLabels"] == {"workload": "batch"}
    writes_before = len(pool_writes(azure_sandbox, USER_POOL))
    async with connect("azure", config=azure_sandbox.config) as azure:
        scaled = await azure.execute_action(
            Action(type="scale", resource_id=USER_POOL, parameters={"replicas": 4}, reason="load")
        )
        assert scaled.status == "succeeded" and scaled.changed and scaled.snapshot_id
        assert scaled.diff == {"before": {"count": 2}, "after": {"count": 4}}
        events = await azure.get_events(USER_POOL, TimeRange.last(minutes=5))
    scaled_pool = pool(azure_sandbox, USER_POOL)
    assert scaled_pool["count"] == 4
    assert {k: v for k, v in scaled_pool.items() if k != "count"} == {k: v for k, v in labelled.items() if k != "count"}
    assert pool_writes(azure_sandbox, USER_POOL)[writes_before:] == ["Started", "Succeeded"]
    assert [(e.type, e.resource_id) for e in events][-2:] == [("write", USER_POOL), ("write", USER_POOL)]
    assert pool(azure_sandbox, SYSTEM_POOL)["count"] == 3

    sandbox = Sandbox(azure_sandbox.directory, azure_sandbox.config, {})
    result = rollback_in_new_process(sandbox, "azure", scaled.snapshot_id)
    assert result["success"] and result["changed"], result
    assert result["restored"] == ["count 2", "autoscaling off"]
    restored = pool(azure_sandbox, USER_POOL)
    assert restored == labelled
    # Nothing left to restore: no second PUT.
    again = rollback_in_new_process(sandbox, "azure", scaled.snapshot_id)
    assert again["success"] and not again["changed"]
    assert pool_writes(azure_sandbox, USER_POOL)[writes_before:] == ["Started", "Succeeded"] * 2


async def test_refusals(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure", config=azure_sandbox.config) as azure:
        with pytest.raises(ActionNotSupported, match="snapshot its node pools"):
            await azure.create_snapshot(CLUSTER)
        with pytest.raises(ActionNotSupported):
            await azure.execute_action(Action(type="scale", resource_id=CLUSTER, parameters={"replicas": 1}))
        with pytest.raises(InvalidRequest, match=r"parameters\.replicas must be <= 1000"):
            await azure.execute_action(Action(type="scale", resource_id=USER_POOL, parameters={"replicas": 5000}))

        put_pool(azure_sandbox, USER_POOL, enableAutoScaling=True, minCount=1, maxCount=5)
        try:
            with pytest.raises(InvalidRequest, match=r"autoscaling on \(1 to 5 nodes\).*change its autoscaling"):
                await azure.execute_action(
                    Action(type="scale", resource_id=USER_POOL, parameters={"replicas": 3}, dry_run=True)
                )
            assert pool(azure_sandbox, USER_POOL)["count"] == 2
        finally:
            put_pool(azure_sandbox, USER_POOL, enableAutoScaling=False)

        snapshot = await azure.create_snapshot(USER_POOL)
        assert snapshot.kind == "aks_node_pool"
        assert snapshot.state == {
            "count": 2,
            "enable_auto_scaling": False,
            "min_count": None,
            "max_count": None,
            "mode": "User",
            "vm_size": "Standard_D4ds_v5",
        }
    # A document signed with the installation's key that points at another pool than the one it was taken of.
    settings = load_config(azure_sandbox.config)
    path = settings.state_dir / "snapshots" / f"{snapshot.id}.json"
    document = json.loads(path.read_text()) | {"resource_id": SYSTEM_POOL}
    path.write_text(json.dumps(signing().sign(document, signing().load_or_create_key(str(settings.snapshot_key_file)))))
    async with connect("azure", config=azure_sandbox.config) as azure:
        with pytest.raises(InvalidRequest, match=r"is not a snapshot of .*agentPools/system: it is of node pool"):
            await azure.rollback(snapshot.id)
    assert pool(azure_sandbox, SYSTEM_POOL)["count"] == 3


async def test_the_reader_identity_reads_and_may_not_scale(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure-readonly", config=azure_sandbox.config) as ro:
        assert len(await ro.list_resources("aks_node_pool", {})) == 2
        with pytest.raises(
            PermissionDenied, match=r"AuthorizationFailed.*Microsoft\.ContainerService/managedClusters/agentPools/write"
        ):
            await ro.execute_action(Action(type="scale", resource_id=USER_POOL, parameters={"replicas": 3}, reason="t"))
    assert pool(azure_sandbox, USER_POOL)["count"] == 2
