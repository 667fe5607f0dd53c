"""The Kubernetes provider through the real path: facade -> runner engine -> playbook -> kubernetes role ->
kubernetes.core -> HTTPS with a ServiceAccount token -> the sandbox's API server (RBAC enforced)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from shieldops_ansible import (
    Action,
    ActionNotSupported,
    InfraConnector,
    PermissionDenied,
    ResourceNotFound,
    TimeRange,
    connect,
)
from shieldops_ansible.engines.runner import RunnerEngine
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration


@pytest.fixture
async def kube(sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect("kubernetes", config=sandbox.config) as conn:
        yield conn


async def test_list_every_type_with_filters(kube: InfraConnector) -> None:
    services = {r.id: r for r in await kube.list_resources("service", {})}
    assert services["deployment/shop/web"].state == "running" and services["deployment/shop/web"].capacity == 2
    assert services["deployment/shop/checkout"].state == "failed"
    assert services["statefulset/shop/cache"].state == "running" and services["statefulset/shop/cache"].capacity == 2
    assert services["daemonset/shop/log-agent"].state == "running"
    assert [r.id for r in await kube.list_resources("instance", {})] == ["node/node-1", "node/node-2"]
    assert [r.id for r in await kube.list_resources("cluster", {})] == ["cluster/sandbox"]
    assert [r.name for r in await kube.list_resources("service", {"tags": {"app": "web"}, "namespace": "shop"})] == [
        "web"
    ]
    assert await kube.list_resources("deployment", {"namespace": "kube-system"}) == []
    pods = await kube.list_resources("pod", {"name": "checkout-*"})
    assert len(pods) == 2 and all(p.region == "shop" for p in pods)
    assert await kube.list_resources("function", {}) == []


async def test_health(kube: InfraConnector) -> None:
    assert (await kube.get_health("deployment/shop/web")).status == "healthy"
    bad = await kube.get_health("deployment/shop/checkout")
    assert bad.status == "unhealthy" and "CrashLoopBackOff" in " ".join(c.message for c in bad.checks)
    assert any(c.name == "rollout" for c in bad.checks) and bad.metrics["restarts"] > 0
    cache = await kube.get_health("statefulset/shop/cache")
    assert cache.status == "healthy" and cache.metrics["ready"] == 2
    agents = await kube.get_health("daemonset/shop/log-agent")
    assert agents.status == "healthy" and agents.metrics["desired"] == 2
    assert (await kube.get_health("node/node-1")).status == "healthy"
    assert (await kube.get_health("cluster/sandbox")).status == "healthy"
    with pytest.raises(ResourceNotFound):
        await kube.get_health("deployment/shop/nope")


async def test_workload_actions(kube: InfraConnector, sandbox: Sandbox) -> None:
    client = sandbox.kube()
    dry = await kube.execute_action(
        Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 4}, dry_run=True)
    )
    # The diff is the API server's answer to the patch sent with dryRun=All; nothing changed.
    assert dry.status == "dry_run" and dry.details["server_side_dry_run"] is True
    assert dry.diff == {"before": {"spec": {"replicas": 2}}, "after": {"spec": {"replicas": 4}}}
    assert client.deployment("shop", "web")["spec"]["replicas"] == 2
    dry_restart = await kube.execute_action(Action(type="restart", resource_id="deployment/shop/web", dry_run=True))
    restarted_at = dry_restart.diff["after"]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted_at
    assert "annotations" not in client.deployment("shop", "web")["spec"]["template"]["metadata"]
    scaled = await kube.execute_action(
        Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 4})
    )
    assert scaled.success and scaled.snapshot_id and client.deployment("shop", "web")["spec"]["replicas"] == 4
    assert scaled.diff == {"before": {"spec": {"replicas": 2}}, "after": {"spec": {"replicas": 4}}}
    generation = client.deployment("shop", "web")["metadata"]["generation"]
    restarted = await kube.execute_action(Action(type="restart", resource_id="deployment/shop/web"))
    dep = client.deployment("shop", "web")
    assert restarted.success and dep["metadata"]["generation"] == generation + 1
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]
    stop = await kube.execute_action(Action(type="stop", resource_id="deployment/shop/web"))
    assert stop.success and client.deployment("shop", "web")["spec"]["replicas"] == 0
    start = await kube.execute_action(Action(type="start", resource_id="deployment/shop/web"))
    assert start.success and client.deployment("shop", "web")["spec"]["replicas"] == 4
    sts = await kube.execute_action(
        Action(type="scale", resource_id="statefulset/shop/cache", parameters={"replicas": 3})
    )
    pods = client.request("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dcache")["items"]
    assert sts.success and sorted(p["metadata"]["name"] for p in pods) == ["cache-0", "cache-1", "cache-2"]
    ds = await kube.execute_action(Action(type="restart", resource_id="daemonset/shop/log-agent"))
    assert ds.success and "kubectl.kubernetes.io/restartedAt" in str(ds.diff["after"])
    with pytest.raises(ActionNotSupported):
        await kube.execute_action(Action(type="kubernetes_drain", resource_id="deployment/shop/web"))


async def test_node_cordon_drain_and_rollback(kube: InfraConnector, sandbox: Sandbox) -> None:
    client = sandbox.kube()

    def pods_on(node: str) -> list[str]:
        pods = client.request("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")["items"]
        return sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods)

    cordon = await kube.execute_action(Action(type="kubernetes_cordon", resource_id="node/node-1"))
    assert cordon.success and client.request("GET", "/api/v1/nodes/node-1")["spec"]["unschedulable"] is True
    assert (await kube.get_health("node/node-1")).status == "degraded"
    # Rollback of the snapshot taken before the cordon makes the node schedulable again.
    assert cordon.snapshot_id
    await kube.rollback(cordon.snapshot_id)
    assert not client.request("GET", "/api/v1/nodes/node-1")["spec"].get("unschedulable")

    before = pods_on("node-1")
    movable = [p for p in before if "/log-agent-" not in p]
    assert movable, before
    preview = await kube.execute_action(Action(type="kubernetes_drain", resource_id="node/node-1", dry_run=True))
    assert preview.status == "dry_run" and preview.details["evicted_pods"] == movable
    # The blast-radius count of a drain is every pod it evicts, by the rule the Kubernetes vocabulary declares.
    assert preview.details["resources_touched"] == len(movable) > 1
    assert preview.diff["after"] == {"spec": {"unschedulable": True}}
    assert pods_on("node-1") == before and not client.request("GET", "/api/v1/nodes/node-1")["spec"].get(
        "unschedulable"
    )

    drained = await kube.execute_action(Action(type="kubernetes_drain", resource_id="node/node-1"))
    assert drained.success and drained.details["evicted_pods"] == movable
    left = pods_on("node-1")
    assert len(left) == 1 and "/log-agent-" in left[0]  # DaemonSet pods stay, as with --ignore-daemonsets
    assert (await kube.get_health("deployment/shop/web")).status == "healthy"  # rescheduled onto node-2
    await kube.rollback(drained.snapshot_id or "")
    assert not client.request("GET", "/api/v1/nodes/node-1")["spec"].get("unschedulable")


async def test_statefulset_rollback_waits_for_the_rollout(kube: InfraConnector, sandbox: Sandbox) -> None:
    client = sandbox.kube()
    snapshot = await kube.create_snapshot("statefulset/shop/cache")
    assert snapshot.handles["revision"].startswith("cache-")
    client.request(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/statefulsets/cache",
        {"spec": {"template": {"spec": {"containers": [{"name": "cache", "image": "example/cache-crash:8"}]}}}},
        "application/strategic-merge-patch+json",
    )
    assert (await kube.get_health("statefulset/shop/cache")).status == "unhealthy"
    result = await kube.rollback(snapshot.id)
    assert result.success and "rollout complete" in result.message
    sts = client.request("GET", "/apis/apps/v1/namespaces/shop/statefulsets/cache")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "example/cache:7.2"
    assert sts["status"]["updateRevision"] == snapshot.handles["revision"]
    assert (await kube.get_health("statefulset/shop/cache")).status == "healthy"


async def test_rollback_after_an_image_change(kube: InfraConnector, sandbox: Sandbox) -> None:
    client = sandbox.kube()
    before = client.deployment("shop", "checkout")
    snapshot = await kube.create_snapshot("deployment/shop/checkout")
    assert snapshot.handles["revision"] == before["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    assert "status" not in snapshot.state["manifest"] and "uid" not in snapshot.state["manifest"]["metadata"]
    client.request(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/checkout",
        {"spec": {"template": {"spec": {"containers": [{"name": "checkout", "image": "example/checkout:3.0"}]}}}},
        "application/strategic-merge-patch+json",
    )
    assert client.deployment("shop", "checkout")["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "example/checkout:3.0"
    )
    result = rollback_in_new_process(sandbox, "kubernetes", snapshot.id)
    # The snapshot was of the crashlooping template: restored faithfully, and the rollout reported as failed.
    assert result["success"] and "rollout failed" in result["message"]
    after = client.deployment("shop", "checkout")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "example/checkout-crash:2.1"
    assert int(after["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) > int(
        snapshot.handles["revision"]
    )


async def test_events_of_a_workload_and_its_pods(kube: InfraConnector) -> None:
    events = await kube.get_events("deployment/shop/checkout", TimeRange.last(minutes=30))
    assert any(e.type == "ScalingReplicaSet" for e in events)
    assert any(e.severity == "warning" and "Back-off" in e.message for e in events)
    assert all(e.source == "kubernetes" and e.resource_id == "deployment/shop/checkout" for e in events)


async def test_rbac_refusal_names_verb_resource_and_namespace(sandbox: Sandbox) -> None:
    async with connect("kubernetes-readonly", config=sandbox.config) as ro:
        assert (await ro.get_health("deployment/shop/web")).status in {"healthy", "degraded", "unhealthy"}
        with pytest.raises(PermissionDenied) as denied:
            await ro.execute_action(Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 9}))
    message = str(denied.value)
    assert 'cannot patch resource "deployments/scale"' in message and 'namespace "shop"' in message
    assert sandbox.kube().deployment("shop", "web")["spec"]["replicas"] != 9


async def test_kubeconfig_and_context_way_in(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = yaml.safe_load(sandbox.config.read_text())["environments"]["kubernetes"]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "other",
                "clusters": [
                    {
                        "name": "sandbox",
                        "cluster": {"server": settings["server"], "certificate-authority": settings["ca_file"]},
                    }
                ],
                "users": [{"name": "agent", "user": {"tokenFile": settings["token_file"]}}],
                "contexts": [
                    {"name": "sandbox", "context": {"cluster": "sandbox", "user": "agent"}},
                    {"name": "other", "context": {"cluster": "sandbox", "user": "nobody"}},
                ],
            }
        )
    )
    config = tmp_path / "shieldops.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "environments": {
                    "k8s": {
                        "provider": "kubernetes",
                        "kubeconfig": str(kubeconfig),
                        "context": "sandbox",
                        "cluster_name": "sandbox",
                    }
                },
            }
        )
    )
    async with connect("k8s", config=config) as conn:
        assert [r.id for r in await conn.list_resources("instance", {})] == ["node/node-1", "node/node-2"]


async def test_the_token_never_reaches_disk(sandbox: Sandbox, tmp_path: Path) -> None:
    token = (sandbox.directory / "kubernetes" / "agent.token").read_text()
    artifacts = tmp_path / "artifacts"
    async with connect("kubernetes", config=sandbox.config, engine=RunnerEngine(keep_artifacts_in=artifacts)) as conn:
        await conn.get_health("deployment/shop/web")
        await conn.create_snapshot("deployment/shop/web")
    files = [p for p in artifacts.rglob("*") if p.is_file()] + [p for p in sandbox.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files)
    for path in files:
        assert token.encode() not in path.read_bytes(), path
