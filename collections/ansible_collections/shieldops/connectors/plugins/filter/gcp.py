# -*- coding: utf-8 -*-
"""Normalise Google API results (google.cloud modules and ours) into the common models (Resource, HealthStatus,
Event)."""
from __future__ import annotations

import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, threshold_status, worst_status
from ansible_collections.shieldops.connectors.plugins.filter.core import iso_timestamp as _iso
from ansible_collections.shieldops.connectors.plugins.plugin_utils.gcp_federation import connection_env

DOCUMENTATION = ""

# Compute Engine's instance statuses (v1 reference) onto the common states.
_GCE_STATE = {
    "RUNNING": "running",
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "STOPPING": "pending",
    "SUSPENDING": "pending",
    "REPAIRING": "pending",
    "TERMINATED": "stopped",
    "STOPPED": "stopped",
    "SUSPENDED": "stopped",
}
_GCE_HEALTH = {"RUNNING": "healthy", "TERMINATED": "unhealthy", "STOPPED": "unhealthy", "SUSPENDED": "unhealthy"}


def _short(link):
    return str(link or "").rstrip("/").rsplit("/", 1)[-1]


def gcp_id_parts(resource_id, project):
    """The parts of a resource name, refused unless it is in the environment's project: the modules take the
    project from the environment, so a name in another project would otherwise act on the same-named resource of
    this one."""
    parts = str(resource_id).split("/")
    if len(parts) < 2 or parts[0] != "projects":
        raise AnsibleFilterError("invalid_request: not a GCP resource name: %r" % str(resource_id)[:200])
    if parts[1] != project:
        raise AnsibleFilterError("invalid_request: %r is in project %s; this environment works in %s"
                                 % (str(resource_id)[:200], parts[1], project))
    return parts


def gcp_instance_id(instance, project):
    return "projects/%s/zones/%s/instances/%s" % (project, _short(instance.get("zone")), instance["name"])


def gcp_instance_resource(instance, env, project):
    zone = _short(instance.get("zone"))
    raw = {
        "status": instance.get("status"),
        "machine_type": _short(instance.get("machineType")),
        "zone": zone,
        "id": instance.get("id"),
        "cpu_platform": instance.get("cpuPlatform"),
        "last_start": instance.get("lastStartTimestamp"),
        "last_stop": instance.get("lastStopTimestamp"),
        "disks": [
            {"device_name": d.get("deviceName"), "disk": _short(d.get("source")), "boot": bool(d.get("boot"))}
            for d in instance.get("disks") or []
        ],
        "scheduling": instance.get("scheduling") or {},
    }
    return {
        "id": gcp_instance_id(instance, project),
        "type": "instance",
        "native_type": "gce_instance",
        "name": instance["name"],
        "environment": env,
        "provider": "gcp",
        "region": zone,
        "state": _GCE_STATE.get(instance.get("status"), "unknown"),
        "capacity": None,
        "tags": {str(k): str(v) for k, v in (instance.get("labels") or {}).items()},
        "raw": raw,
    }


_ZONE = re.compile(r"[a-z]+-[a-z]+[0-9]+-[a-z]")
_LOCATION = re.compile(r"[a-z]+-[a-z]+[0-9]+(-[a-z])?")


def gcp_location(value, kind="location"):
    """A zone or location filter, checked before it reaches a request: it becomes part of an API path."""
    pattern = _ZONE if kind == "zone" else _LOCATION
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AnsibleFilterError("invalid_request: filters.%s is not a %s: %r" % (
            kind, "zone (europe-west1-b)" if kind == "zone" else "region or zone (europe-west1)", str(value)[:80]))
    return value


def gcp_region_of(location):
    """The region a location is in (a zone's region, or the region itself)."""
    location = gcp_location(location)
    return location.rsplit("-", 1)[0] if _ZONE.fullmatch(location) else location


def gcp_in_location(resources, location):
    """The resources in one region or zone (a zone is in its region: europe-west1-b is in europe-west1)."""
    if not location:
        return list(resources)
    location = gcp_location(location)
    return [r for r in resources if r["region"] == location or r["region"].startswith(location + "-")]


def gcp_instance_health(instance, resource_id, cpu_points, thresholds):
    status = instance.get("status", "UNKNOWN")
    checks = [_check("status", _GCE_HEALTH.get(status, "degraded"), "instance is %s" % status)]
    scheduling = instance.get("scheduling") or {}
    if scheduling.get("preemptible") or scheduling.get("provisioningModel") == "SPOT":
        checks.append(_check("scheduling", "healthy", "spot/preemptible: Compute Engine may stop it at any time"))
    elif status == "RUNNING" and scheduling.get("automaticRestart") is False:
        checks.append(_check("scheduling", "degraded", "automatic restart is off: a host failure leaves it stopped"))
    metrics = {}
    latest = next((p.get("value") for p in cpu_points or [] if p.get("value") is not None), None)
    if latest is not None:
        cpu = float(latest) * 100
        metrics["cpu_percent"] = cpu
        t = thresholds["cpu_percent"]
        checks.append(_check("cpu", threshold_status(cpu, t), "CPU %.1f%% (degraded at %s%%, unhealthy at %s%%)"
                             % (cpu, t["degraded"], t["unhealthy"])))
    return health_report(resource_id, checks, metrics)


_SEVERITY = {"DEFAULT": "info", "DEBUG": "info", "INFO": "info", "NOTICE": "info", "WARNING": "warning",
             "ERROR": "error", "CRITICAL": "critical", "ALERT": "critical", "EMERGENCY": "critical"}


def gcp_log_event(entry, resource_id):
    """A Cloud Audit Logs entry as an Event: what was called, by whom, and whether it failed."""
    payload = entry.get("protoPayload") or {}
    method = payload.get("methodName") or "unknown"
    who = (payload.get("authenticationInfo") or {}).get("principalEmail") or "unknown principal"
    failed = (payload.get("status") or {}).get("code")
    log = str(entry.get("logName", "")).rsplit("%2F", 1)[-1]
    severity = _SEVERITY.get(entry.get("severity") or "DEFAULT", "info")
    if failed:
        severity = "warning" if severity == "info" else severity
    message = "%s by %s" % (method, who) if log == "activity" else "%s (system event)" % method
    if failed:
        message += ": failed (%s)" % ((payload.get("status") or {}).get("message") or failed)
    return {
        "id": str(entry.get("insertId") or entry["timestamp"]),
        "resource_id": resource_id,
        "timestamp": _iso(entry["timestamp"]),
        "type": method.rsplit(".", 1)[-1],
        "severity": severity,
        "message": message[:2000],
        "source": "cloud_audit_logs/%s" % log,
    }


_LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
_CONDITION_STATE = {"CONDITION_SUCCEEDED": "running", "CONDITION_FAILED": "failed",
                    "CONDITION_PENDING": "pending", "CONDITION_RECONCILING": "pending"}


def _ready(document):
    condition = document.get("terminalCondition") or next(
        (c for c in document.get("conditions") or [] if c.get("type") == "Ready"), {})
    return condition


def gcp_run_resource(service, env):
    """A Cloud Run service as a Resource: region is its location; capacity its minimum instances."""
    name = service["name"]
    parts = name.split("/")
    ready = _ready(service)
    state = "pending" if service.get("reconciling") else _CONDITION_STATE.get(ready.get("state"), "unknown")
    scaling = service.get("scaling") or {}
    raw = {
        "uri": service.get("uri"),
        "latest_created": _short(service.get("latestCreatedRevision")),
        "latest_ready": _short(service.get("latestReadyRevision")),
        "traffic": [{"revision": t.get("revision"), "percent": t.get("percent", 0)}
                    for t in service.get("trafficStatuses") or []],
        "image": ((service.get("template") or {}).get("containers") or [{}])[0].get("image"),
        "generation": service.get("generation"),
    }
    return {
        "id": name,
        "type": "service",
        "native_type": "cloud_run_service",
        "name": parts[-1],
        "environment": env,
        "provider": "gcp",
        "region": parts[3],
        "state": state,
        "capacity": int(scaling.get("minInstanceCount") or 0),
        "tags": {str(k): str(v) for k, v in (service.get("labels") or {}).items()},
        "raw": raw,
    }


def gcp_run_health(service):
    """Ready, whether the newest revision came up, and where the traffic goes."""
    ready = _ready(service)
    state = ready.get("state")
    checks = [_check("ready", {"CONDITION_SUCCEEDED": "healthy", "CONDITION_FAILED": "unhealthy"}.get(state, "degraded"),
                     "Ready is %s%s" % (str(state).replace("CONDITION_", "").lower(),
                                        ": %s" % ready["message"] if ready.get("message") else ""))]
    created, serving = service.get("latestCreatedRevision"), service.get("latestReadyRevision")
    revisions = service.get("_revisions") or {}
    if created and created != serving:
        failed = _ready(revisions.get(created) or {})
        checks.append(_check("latest_revision", "degraded" if failed.get("state") != "CONDITION_FAILED" else "unhealthy",
                             "latest revision %s is not ready (%s); %s still serves" % (
                                 _short(created), failed.get("reason") or failed.get("state") or "pending",
                                 _short(serving) or "no revision")))
    else:
        checks.append(_check("latest_revision", "healthy", "latest revision %s is ready" % _short(created)))
    traffic = service.get("trafficStatuses") or []
    serving_revisions = [t for t in traffic if t.get("percent")]
    if serving_revisions:
        checks.append(_check("traffic", "healthy", ", ".join("%s%% to %s" % (t.get("percent"), t.get("revision"))
                                                              for t in serving_revisions)))
    else:
        checks.append(_check("traffic", "unhealthy", "no revision serves traffic"))
    return health_report(service["name"], checks,
                         {"min_instances": float((service.get("scaling") or {}).get("minInstanceCount") or 0),
                          "serving_revisions": float(len(serving_revisions))})


def gcp_traffic_shift(params):
    """gcp_shift_traffic: ``percent`` to ``revision``, the rest to the latest ready revision."""
    percent = int(params["percent"])
    targets = [{"type": _REVISION, "revision": params["revision"], "percent": percent}]
    if percent < 100:
        targets.append({"type": _LATEST, "percent": 100 - percent})
    return targets


def gcp_run_pinned_traffic(service):
    """The traffic as it is served now, every target pinned to its revision (a LATEST target would follow a newer
    revision, which is what a rollback must undo)."""
    return [{"type": _REVISION, "revision": t["revision"], "percent": int(t.get("percent") or 0)}
            for t in service.get("trafficStatuses") or [] if t.get("revision") and t.get("percent")]


def gcp_run_target_label(target):
    return "traffic %s%% to %s" % (target.get("percent"), target.get("revision"))


def gcp_run_change_summary(before, after):
    parts = []
    if before.get("min_instances") != after.get("min_instances"):
        parts.append("min instances %s -> %s" % (before.get("min_instances"), after.get("min_instances")))
    if before.get("traffic") != after.get("traffic"):
        parts.append("traffic %s -> %s" % (_traffic_text(before.get("traffic")), _traffic_text(after.get("traffic"))))
    if before.get("latest_created") != after.get("latest_created"):
        parts.append("revision %s -> %s" % (before.get("latest_created"), after.get("latest_created")))
    return "; ".join(parts) or "no change"


def _traffic_text(traffic):
    return ", ".join("%s%% %s" % (t.get("percent"), t.get("revision")) for t in traffic or []) or "none"


def gcp_run_snapshot_mismatch(snapshot):
    """What in a Cloud Run snapshot is not its service ('' when all is): the handles name the service of its id, and
    the traffic it restores pins revisions that add up to 100."""
    problems = []
    handles = snapshot.get("handles") or {}
    if handles.get("service") != snapshot.get("resource_id"):
        problems.append("its service is %r" % str(handles.get("service"))[:200])
    traffic = (snapshot.get("state") or {}).get("traffic") or []
    if sum(int(t.get("percent") or 0) for t in traffic) != 100 or len(traffic) > 20:
        problems.append("its traffic does not add up to 100%")
    if any(t.get("type") != _REVISION or t.get("revision") not in handles.get("revisions", []) for t in traffic):
        problems.append("its traffic names a revision it did not record")
    if not str((snapshot.get("state") or {}).get("min_instances", "")).isdigit():
        problems.append("its min_instances is not a count")
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(snapshot.get("resource_id"))[:200], "; ".join(problems[:5]))


_GKE_STATE = {"RUNNING": "running", "PROVISIONING": "pending", "RECONCILING": "pending", "STOPPING": "pending",
              "ERROR": "failed", "DEGRADED": "running", "RUNNING_WITH_ERROR": "running"}
_GKE_HEALTH = {"RUNNING": "healthy", "PROVISIONING": "degraded", "RECONCILING": "degraded", "STOPPING": "unhealthy",
               "ERROR": "unhealthy", "DEGRADED": "degraded", "RUNNING_WITH_ERROR": "degraded"}


def gcp_in_locations(resources, locations):
    """The resources in any of the configured zones and regions (all when none are configured)."""
    locations = [str(loc) for loc in locations or []]
    if not locations:
        return list(resources)
    return [r for r in resources if any(r["region"] == loc or r["region"].startswith(loc + "-")
                                        or loc.startswith(r["region"] + "-") for loc in locations)]


def _gke_id(project, cluster):
    return "projects/%s/locations/%s/clusters/%s" % (project, cluster.get("location"), cluster["name"])


def gcp_gke_cluster_resource(cluster, env, project):
    pools = cluster.get("nodePools") or []
    raw = {"status": cluster.get("status"), "version": cluster.get("currentMasterVersion"),
           "node_pools": [p.get("name") for p in pools], "locations": cluster.get("locations") or []}
    return {
        "id": _gke_id(project, cluster), "type": "cluster", "native_type": "gke_cluster", "name": cluster["name"],
        "environment": env, "provider": "gcp", "region": cluster.get("location"),
        "state": _GKE_STATE.get(cluster.get("status"), "unknown"), "capacity": None,
        "tags": {str(k): str(v) for k, v in (cluster.get("resourceLabels") or {}).items()}, "raw": raw,
    }


def gcp_gke_pool_resources(clusters, env, project, sizes):
    """Every node pool of the clusters as a Resource (native only); capacity is its node count."""
    out = []
    for cluster in clusters or []:
        for pool in cluster.get("nodePools") or []:
            size = (sizes or {}).get(pool["name"]) or {}
            config = pool.get("config") or {}
            out.append({
                "id": "%s/nodePools/%s" % (_gke_id(project, cluster), pool["name"]), "type": "gke_node_pool",
                "native_type": "gke_node_pool", "name": pool["name"], "environment": env, "provider": "gcp",
                "region": cluster.get("location"), "state": _GKE_STATE.get(pool.get("status"), "unknown"),
                "capacity": size.get("nodes"),
                "tags": {str(k): str(v) for k, v in (cluster.get("resourceLabels") or {}).items()},
                "raw": {"cluster": cluster["name"], "status": pool.get("status"), "machine_type": config.get("machineType"),
                        "spot": bool(config.get("spot") or config.get("preemptible")),
                        "autoscaling": pool.get("autoscaling") or {}, "per_zone": size.get("per_zone") or {}},
            })
    return out


def _pool_checks(pool, size):
    status = pool.get("status", "UNKNOWN")
    checks = [_check("status", _GKE_HEALTH.get(status, "degraded"), "node pool %s is %s" % (pool.get("name"), status))]
    if size:
        stable = size.get("stable", True)
        checks.append(_check("nodes", "healthy" if stable else "degraded", "%d nodes%s" % (
            size.get("nodes", 0), "" if stable else ", resize in progress")))
    return checks


def gcp_gke_pool_health(pool, resource_id, size):
    checks = _pool_checks(pool, size)
    autoscaling = pool.get("autoscaling") or {}
    metrics = {"nodes": float((size or {}).get("nodes", 0))}
    if autoscaling.get("enabled"):
        metrics.update(min_nodes=float(autoscaling.get("minNodeCount", 0)), max_nodes=float(autoscaling.get("maxNodeCount", 0)))
    return health_report(resource_id, checks, metrics)


def gcp_gke_cluster_health(cluster, resource_id, sizes):
    status = cluster.get("status", "UNKNOWN")
    checks = [_check("status", _GKE_HEALTH.get(status, "degraded"), "cluster is %s%s" % (
        status, ": %s" % cluster["statusMessage"] if cluster.get("statusMessage") else ""))]
    for condition in cluster.get("conditions") or []:
        checks.append(_check("condition", "degraded", "%s: %s" % (
            condition.get("canonicalCode") or condition.get("code") or "condition", condition.get("message", ""))))
    weak = []
    for pool in cluster.get("nodePools") or []:
        judged = worst_status(_pool_checks(pool, (sizes or {}).get(pool["name"])))
        if judged != "healthy":
            weak.append("%s (%s)" % (pool["name"], judged))
    checks.append(_check("node_pools", "degraded" if weak else "healthy",
                         "node pools not healthy: %s" % ", ".join(weak) if weak
                         else "%d node pools healthy" % len(cluster.get("nodePools") or [])))
    nodes = sum(s.get("nodes", 0) for s in (sizes or {}).values())
    return health_report(resource_id, checks,
                         {"nodes": float(nodes), "node_pools": float(len(cluster.get("nodePools") or []))})


def gcp_gke_snapshot_mismatch(snapshot):
    """What in a node pool snapshot is not its pool ('' when all is)."""
    problems = []
    pool = str(snapshot.get("resource_id", "")).rsplit("/", 1)[-1]
    if (snapshot.get("handles") or {}).get("pool") != pool:
        problems.append("its pool is %r" % str((snapshot.get("handles") or {}).get("pool"))[:80])
    state = snapshot.get("state") or {}
    if not str(state.get("nodes", "")).isdigit() or int(state["nodes"]) > 1000:
        problems.append("its node count is not a count")
    if not isinstance(state.get("autoscaling"), dict):
        problems.append("its autoscaling is not a mapping")
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(snapshot.get("resource_id"))[:200], "; ".join(problems[:5]))


def _label(value):
    return str(value)[:63]


def gcp_snapshot_labels(snapshot_id, instance_name):
    """The labels that tie a disk snapshot to the shieldops snapshot and the instance (label values: 63 chars)."""
    return {"shieldops-snapshot": _label(snapshot_id), "shieldops-instance": _label(instance_name)}


def gcp_snapshot_name(snapshot_id, index):
    """The disk snapshot's name: the shieldops snapshot id and the disk's index, within GCE's 63 characters."""
    base = str(snapshot_id)
    if len(base) > 58:
        base = "%s-%s" % (base[:45], hashlib.sha256(base.encode()).hexdigest()[:12])
    return "%s-%d" % (base, int(index))


def gcp_restored_disk_name(snapshot_id, stamp, index):
    """A new disk's name for each rollback (a second rollback of the same snapshot makes new disks again)."""
    return "restored-%s-%s-%d" % (hashlib.sha256(str(snapshot_id).encode()).hexdigest()[:10], stamp, int(index))


def gcp_disk_handles(disks, snapshot_id, project):
    """What rollback needs of each attached disk: its device, whether it boots, and the snapshot taken of it."""
    return [
        {
            "device_name": d["deviceName"],
            "boot": bool(d.get("boot")),
            "index": int(d.get("index", i)),
            "auto_delete": bool(d.get("autoDelete")),
            "mode": d.get("mode") or "READ_WRITE",
            "disk": _short(d.get("source")),
            "snapshot": gcp_snapshot_name(snapshot_id, d.get("index", i)),
            "snapshot_link": "https://www.googleapis.com/compute/v1/projects/%s/global/snapshots/%s"
                             % (project, gcp_snapshot_name(snapshot_id, d.get("index", i))),
        }
        for i, d in enumerate(disks or [])
    ]


def gcp_disk_swap(created):
    """A swap for the disk swap module from one result of the restoring loop (the new disk and its handle)."""
    handle = created["gcp_handle"]
    return {"device_name": handle["device_name"], "disk": created["name"], "boot": handle["boot"],
            "auto_delete": handle["auto_delete"], "mode": handle["mode"]}


def gcp_snapshot_mismatch(snapshot, instance, found, project):
    """What in a GCE snapshot document is not this instance's ('' when all is): every disk snapshot it names must
    exist, be labelled for this shieldops snapshot and instance, and come from a disk of the instance's zone."""
    handles = (snapshot.get("handles") or {}).get("disks") or []
    by_name = {s.get("name"): s for s in found or []}
    zone = _short(instance.get("zone"))
    problems = []
    if not handles:
        problems.append("it names no disk")
    for handle in handles:
        name = handle.get("snapshot")
        disk_snapshot = by_name.get(name)
        expected = "https://www.googleapis.com/compute/v1/projects/%s/global/snapshots/%s" % (project, name)
        if disk_snapshot is None:
            problems.append("disk snapshot %r does not exist or is not labelled for it" % str(name)[:80])
        elif (disk_snapshot.get("labels") or {}) != gcp_snapshot_labels(snapshot.get("id"), instance.get("name")):
            problems.append("disk snapshot %r is labelled for another snapshot or instance" % str(name)[:80])
        elif "/zones/%s/disks/" % zone not in str(disk_snapshot.get("sourceDisk")):
            problems.append("disk snapshot %r is of a disk in another zone" % str(name)[:80])
        elif handle.get("snapshot_link") != expected:
            problems.append("its link for %r is not that snapshot's" % str(name)[:80])
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(snapshot.get("resource_id"))[:200], "; ".join(problems[:5]))


def gcp_connection_env(settings):
    """The role's task environment from the environment's settings, the token aside (plugin_utils/gcp_federation.py:
    the facade's mapping too)."""
    return connection_env(dict(settings or {}))


class FilterModule(object):
    def filters(self):
        return {
            "gcp_connection_env": gcp_connection_env,
            "gcp_id_parts": gcp_id_parts,
            "gcp_instance_id": gcp_instance_id,
            "gcp_instance_resource": gcp_instance_resource,
            "gcp_in_location": gcp_in_location,
            "gcp_location": gcp_location,
            "gcp_region_of": gcp_region_of,
            "gcp_instance_health": gcp_instance_health,
            "gcp_log_event": gcp_log_event,
            "gcp_snapshot_labels": gcp_snapshot_labels,
            "gcp_run_resource": gcp_run_resource,
            "gcp_in_locations": gcp_in_locations,
            "gcp_gke_cluster_resource": gcp_gke_cluster_resource,
            "gcp_gke_pool_resources": gcp_gke_pool_resources,
            "gcp_gke_cluster_health": gcp_gke_cluster_health,
            "gcp_gke_pool_health": gcp_gke_pool_health,
            "gcp_gke_snapshot_mismatch": gcp_gke_snapshot_mismatch,
            "gcp_run_health": gcp_run_health,
            "gcp_traffic_shift": gcp_traffic_shift,
            "gcp_run_pinned_traffic": gcp_run_pinned_traffic,
            "gcp_run_target_label": gcp_run_target_label,
            "gcp_run_change_summary": gcp_run_change_summary,
            "gcp_run_snapshot_mismatch": gcp_run_snapshot_mismatch,
            "gcp_snapshot_name": gcp_snapshot_name,
            "gcp_restored_disk_name": gcp_restored_disk_name,
            "gcp_disk_handles": gcp_disk_handles,
            "gcp_disk_swap": gcp_disk_swap,
            "gcp_snapshot_mismatch": gcp_snapshot_mismatch,
        }
