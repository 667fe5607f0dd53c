# -*- coding: utf-8 -*-
"""Normalise AKS managed clusters and their agent pools (as azure.azcollection's azure_rm_aks_info returns them:
snake_case, the pools under agent_pool_profiles) into the common models (Resource, HealthStatus), and the state a
node pool snapshot keeps and its rollback checks."""
from __future__ import annotations

# Resource Health reads the same for every resource type: the VM's check, reused.
from ansible_collections.shieldops.connectors.plugins.filter.azure import _availability_check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, worst_status

DOCUMENTATION = ""

# A cluster's or pool's provisioning state: anything but these is an operation in flight.
_PROVISIONING_HEALTH = {"succeeded": "healthy", "failed": "unhealthy", "canceled": "degraded"}
_POWER_HEALTH = {"running": "healthy", "stopped": "unhealthy"}
_AUTOSCALE_FIELDS = ("enable_auto_scaling", "min_count", "max_count")


def _power(doc):
    return str(((doc or {}).get("power_state") or {}).get("code") or "Unknown")


def _provisioning(doc):
    return str((doc or {}).get("provisioning_state") or "Unknown")


def _state(doc):
    """The common state of a cluster or pool: failed or in flight first, then its power state."""
    provisioning = _provisioning(doc).lower()
    if provisioning == "failed":
        return "failed"
    if provisioning != "succeeded":
        return "pending"
    return {"running": "running", "stopped": "stopped"}.get(_power(doc).lower(), "unknown")


def _tags(doc):
    return {str(k): str(v) for k, v in ((doc or {}).get("tags") or {}).items()}


def azure_aks_pool(cluster, pool_name):
    """The cluster's profile of the pool named ``pool_name`` (AKS matches pool names case-insensitively), or None
    (also when ``pool_name`` is None: the id is the cluster's)."""
    if not pool_name:
        return None
    wanted = str(pool_name).lower()
    return next((p for p in (cluster or {}).get("agent_pool_profiles") or []
                 if str(p.get("name") or "").lower() == wanted), None)


def azure_aks_cluster_resource(cluster, env):
    pools = cluster.get("agent_pool_profiles") or []
    return {
        "id": cluster["id"],
        "type": "cluster",
        "native_type": "aks_cluster",
        "name": cluster["name"],
        "environment": env,
        "provider": "azure",
        "region": cluster.get("location"),
        "state": _state(cluster),
        "capacity": None,
        "tags": _tags(cluster),
        "raw": {
            "provisioning_state": cluster.get("provisioning_state"),
            "power_state": _power(cluster),
            "kubernetes_version": cluster.get("current_kubernetes_version") or cluster.get("kubernetes_version"),
            "node_pools": [p.get("name") for p in pools],
            "node_resource_group": cluster.get("node_resource_group"),
            "fqdn": cluster.get("fqdn"),
            "sku_tier": (cluster.get("sku") or {}).get("tier"),
        },
    }


def _pool_resource(cluster, pool, env):
    return {
        "id": "%s/agentPools/%s" % (cluster["id"], pool["name"]),
        "type": "aks_node_pool",
        "native_type": "aks_node_pool",
        "name": pool["name"],
        "environment": env,
        "provider": "azure",
        "region": cluster.get("location"),
        "state": _state(pool),
        "capacity": pool.get("count"),
        "tags": _tags(pool),
        "raw": dict(
            {field: pool.get(field) for field in _AUTOSCALE_FIELDS},
            cluster=cluster["name"],
            mode=pool.get("mode"),
            vm_size=pool.get("vm_size"),
            os_type=pool.get("os_type"),
            provisioning_state=pool.get("provisioning_state"),
            power_state=_power(pool),
            orchestrator_version=pool.get("current_orchestrator_version") or pool.get("orchestrator_version"),
            spot=pool.get("scale_set_priority") == "Spot",
        ),
    }


def azure_aks_pool_resources(clusters, env):
    """Every agent pool of the clusters as a Resource (native only); capacity is its node count."""
    return [_pool_resource(c, p, env) for c in clusters or [] for p in c.get("agent_pool_profiles") or []]


def _pool_checks(pool):
    provisioning, power = _provisioning(pool), _power(pool)
    checks = [
        _check("provisioning", _PROVISIONING_HEALTH.get(provisioning.lower(), "degraded"),
               "node pool %s: provisioning %s" % (pool.get("name"), provisioning)),
        _check("power_state", _POWER_HEALTH.get(power.lower(), "degraded"),
               "node pool %s is %s" % (pool.get("name"), power)),
    ]
    count = pool.get("count")
    if pool.get("enable_auto_scaling"):
        message = "%s nodes (autoscaling %s..%s)" % (count, pool.get("min_count"), pool.get("max_count"))
    else:
        message = "%s nodes" % count
    # A System pool runs the cluster's own pods (CoreDNS, metrics-server): with no node the cluster cannot work.
    empty_system = pool.get("mode") == "System" and not count
    checks.append(_check("nodes", "unhealthy" if empty_system else "healthy", message))
    return checks


def _pool_metrics(pool):
    metrics = {"nodes": float(pool.get("count") or 0)}
    if pool.get("enable_auto_scaling"):
        metrics.update(min_nodes=float(pool.get("min_count") or 0), max_nodes=float(pool.get("max_count") or 0))
    return metrics


def azure_aks_pool_health(cluster, pool):
    """A node pool's health: its provisioning and power state and its node count. Resource Health covers the
    managed cluster, not its agent pools."""
    checks = _pool_checks(pool)
    return health_report("%s/agentPools/%s" % (cluster["id"], pool["name"]), checks, _pool_metrics(pool))


def azure_aks_cluster_health(cluster, signals):
    """A cluster's health: its provisioning and power state, its Kubernetes version (an upgrade in flight shows as
    the current version lagging the wanted one), each pool's state, and Resource Health's availability."""
    provisioning, power = _provisioning(cluster), _power(cluster)
    checks = [
        _check("provisioning", _PROVISIONING_HEALTH.get(provisioning.lower(), "degraded"),
               "provisioning %s" % provisioning),
        _check("power_state", _POWER_HEALTH.get(power.lower(), "degraded"), "cluster is %s" % power),
    ]
    wanted = cluster.get("kubernetes_version")
    current = cluster.get("current_kubernetes_version") or wanted
    checks.append(_check("kubernetes_version", "healthy" if current == wanted else "degraded",
                         "Kubernetes %s" % current if current == wanted
                         else "Kubernetes %s, upgrading to %s" % (current, wanted)))
    pools = cluster.get("agent_pool_profiles") or []
    weak = []
    for pool in pools:
        judged = worst_status(_pool_checks(pool))
        if judged != "healthy":
            weak.append((judged, "%s (%s, %s, %s nodes)" % (pool.get("name"), _provisioning(pool), _power(pool),
                                                             pool.get("count"))))
    checks.append(_check("node_pools", worst_status([{"status": s} for s, _ in weak]) if weak else "healthy",
                         "node pools not healthy: %s" % ", ".join(m for _, m in weak) if weak
                         else "%d node pools healthy" % len(pools)))
    availability = _availability_check((signals or {}).get("availability"))
    if availability:
        checks.append(availability)
    return health_report(cluster["id"], checks,
                         {"nodes": float(sum(p.get("count") or 0 for p in pools)), "node_pools": float(len(pools))})


def azure_aks_pool_state(pool):
    """What a node pool snapshot keeps: the count and autoscaling rollback restores, and the pool's mode and VM
    size (immutable by a scale, kept to tell what the pool was)."""
    return dict({field: pool.get(field) for field in ("count",) + _AUTOSCALE_FIELDS},
                mode=pool.get("mode"), vm_size=pool.get("vm_size"))


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000


def azure_aks_snapshot_mismatch(snapshot, pool_id):
    """What in a node pool snapshot is not this pool's ('' when all is): the pool it names must be ``pool_id``
    (the pool the rollback found, as ARM spells it) and its state counts and a flag."""
    problems = []
    named = str((snapshot.get("handles") or {}).get("pool_id") or "")
    if snapshot.get("kind") != "aks_node_pool":
        problems.append("its kind is %r" % str(snapshot.get("kind"))[:40])
    if named.lower() != str(pool_id).lower() or str(snapshot.get("resource_id") or "").lower() != named.lower():
        problems.append("it is of node pool %r" % named[:200])
    state = snapshot.get("state") or {}
    if not _is_count(state.get("count")):
        problems.append("its count is not a node count")
    if not isinstance(state.get("enable_auto_scaling"), bool):
        problems.append("its enable_auto_scaling is not a flag")
    elif state["enable_auto_scaling"] and not (_is_count(state.get("min_count")) and _is_count(state.get("max_count"))
                                               and state["min_count"] <= state["count"] <= state["max_count"]):
        problems.append("its autoscaling bounds do not hold its count")
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(pool_id)[:200], "; ".join(problems[:5]))


def azure_aks_pool_differs(pool, state):
    """Whether the pool's count or autoscaling differ from a snapshot's state (what rollback would change)."""
    if pool.get("count") != state.get("count") or bool(pool.get("enable_auto_scaling")) != state.get(
            "enable_auto_scaling"):
        return True
    return bool(state.get("enable_auto_scaling")) and any(pool.get(f) != state.get(f) for f in ("min_count",
                                                                                                 "max_count"))


class FilterModule(object):
    def filters(self):
        return {
            "azure_aks_pool": azure_aks_pool,
            "azure_aks_cluster_resource": azure_aks_cluster_resource,
            "azure_aks_pool_resources": azure_aks_pool_resources,
            "azure_aks_pool_health": azure_aks_pool_health,
            "azure_aks_cluster_health": azure_aks_cluster_health,
            "azure_aks_pool_state": azure_aks_pool_state,
            "azure_aks_snapshot_mismatch": azure_aks_snapshot_mismatch,
            "azure_aks_pool_differs": azure_aks_pool_differs,
        }
