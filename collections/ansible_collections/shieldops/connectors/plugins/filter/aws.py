# -*- coding: utf-8 -*-
"""Normalise amazon.aws / community.aws results into the common models (Resource, HealthStatus, Event)."""
from __future__ import annotations

import re

from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, threshold_status
from ansible_collections.shieldops.connectors.plugins.filter.core import iso_timestamp as _iso

DOCUMENTATION = ""

_EC2_STATE = {
    "running": "running",
    "pending": "pending",
    "stopping": "pending",
    "shutting-down": "pending",
    "stopped": "stopped",
    "terminated": "stopped",
}
_LAMBDA_STATE = {"Active": "running", "Pending": "pending", "Inactive": "stopped", "Failed": "failed"}


def _resource(rid, common, native, name, env, region, state, capacity=None, tags=None, raw=None):
    return {
        "id": rid,
        "type": common,
        "native_type": native,
        "name": name,
        "environment": env,
        "provider": "aws",
        "region": region,
        "state": state,
        "capacity": capacity,
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "raw": raw or {},
    }


def _tag_list(tags):
    return {t.get("key", t.get("Key")): t.get("value", t.get("Value")) for t in (tags or [])}


def aws_ec2_resource(i, env, region):
    tags = i.get("tags") or {}
    raw = {k: i.get(k) for k in ("instance_type", "image_id", "launch_time", "private_ip_address",
                                 "state_transition_reason", "root_device_name")}
    raw["native_state"] = (i.get("state") or {}).get("name")
    raw["availability_zone"] = (i.get("placement") or {}).get("availability_zone")
    raw["volumes"] = [
        {"device_name": b.get("device_name"), "volume_id": (b.get("ebs") or {}).get("volume_id")}
        for b in i.get("block_device_mappings") or []
    ]
    return _resource(i["instance_id"], "instance", "ec2_instance", tags.get("Name") or i["instance_id"], env,
                     region, _EC2_STATE.get(raw["native_state"], "unknown"), None, tags, raw)


def _ecs_state(s):
    if s.get("status") != "ACTIVE":
        return "stopped"
    if s.get("desiredCount", 0) == 0:
        return "stopped"
    return "running" if s.get("runningCount", 0) > 0 else "pending"


def aws_ecs_service_resource(s, env, region):
    raw = {k: s.get(k) for k in ("clusterArn", "serviceName", "status", "taskDefinition", "desiredCount",
                                 "runningCount", "pendingCount", "launchType")}
    return _resource(s["serviceArn"], "service", "ecs_service", s["serviceName"], env, region, _ecs_state(s),
                     s.get("desiredCount"), _tag_list(s.get("tags")), raw)


def aws_ecs_cluster_resource(c, env, region):
    raw = {k: c.get(k) for k in ("status", "activeServicesCount", "runningTasksCount", "pendingTasksCount",
                                 "registeredContainerInstancesCount")}
    state = "running" if c.get("status") == "ACTIVE" else "stopped"
    return _resource(c["clusterArn"], "cluster", "ecs_cluster", c["clusterName"], env, region, state, None,
                     _tag_list(c.get("tags")), raw)


def aws_lambda_resource(f, env, region):
    raw = {k: f.get(k) for k in ("runtime", "handler", "memory_size", "timeout", "last_modified",
                                 "last_update_status", "state", "code_sha256", "version")}
    raw["aliases"] = [{"name": a.get("name"), "function_version": a.get("function_version")}
                      for a in f.get("aliases") or []]
    arn = re.sub(r":\$LATEST$", "", f["function_arn"])
    return _resource(arn, "function", "lambda_function", f["function_name"], env, region,
                     _LAMBDA_STATE.get(f.get("state") or "Active", "unknown"), None, f.get("tags"), raw)


def _health(resource_id, checks, metrics):
    return health_report(resource_id, checks, {k: float(v) for k, v in metrics.items() if v is not None})


def _status_check(name, summary):
    value = (summary or {}).get("Status", "not-applicable")
    status = {"ok": "healthy", "impaired": "unhealthy", "initializing": "degraded"}.get(value, "unknown")
    return _check(name, status, "%s is %s" % (name.replace("_", " "), value))


def aws_ec2_health(i, statuses, cpu_points, thresholds):
    state = (i.get("state") or {}).get("name", "unknown")
    checks = []
    if state == "running":
        checks.append(_check("state", "healthy", "instance is running"))
    elif state in ("pending", "stopping", "shutting-down"):
        checks.append(_check("state", "degraded", "instance is %s" % state))
    else:
        checks.append(_check("state", "unhealthy", "instance is %s" % state))
    status = (statuses or [{}])[0] if statuses else {}
    if state == "running":
        checks.append(_status_check("system_status", status.get("SystemStatus")))
        checks.append(_status_check("instance_status", status.get("InstanceStatus")))
    scheduled = [e for e in status.get("Events") or [] if not str(e.get("Description", "")).startswith("[Completed]")]
    if scheduled:
        checks.append(_check("scheduled_events", "degraded", "; ".join(
            "%s %s" % (e.get("Code"), e.get("NotBefore", "")) for e in scheduled)))
    cpu = cpu_points[-1].get("Average") if cpu_points else None
    if cpu is not None:
        t = thresholds["cpu_percent"]
        checks.append(_check("cpu", threshold_status(cpu, t), "CPU %.1f%% (degraded at %s%%, unhealthy at %s%%)"
                             % (cpu, t["degraded"], t["unhealthy"])))
    return _health(i["instance_id"], checks, {"cpu_percent": cpu})


def aws_ecs_health(s, thresholds):
    desired, running, pending = s.get("desiredCount", 0), s.get("runningCount", 0), s.get("pendingCount", 0)
    checks = []
    if desired == 0:
        checks.append(_check("tasks", "healthy", "scaled to zero"))
    elif running >= desired:
        checks.append(_check("tasks", "healthy", "%d of %d tasks running" % (running, desired)))
    elif running > 0:
        checks.append(_check("tasks", "degraded", "%d of %d tasks running" % (running, desired)))
    else:
        checks.append(_check("tasks", "unhealthy", "0 of %d tasks running" % desired))
    primary = next((d for d in s.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
    if primary:
        rollout = primary.get("rolloutState", "COMPLETED")
        if rollout == "FAILED":
            checks.append(_check("rollout", "unhealthy", primary.get("rolloutStateReason") or "rollout failed"))
        elif rollout == "IN_PROGRESS" and running < desired:
            checks.append(_check("rollout", "degraded", primary.get("rolloutStateReason") or "rollout in progress"))
        else:
            checks.append(_check("rollout", "healthy", "rollout %s" % rollout.lower().replace("_", " ")))
    failed = sum(d.get("failedTasks", 0) for d in s.get("deployments") or [])
    if failed:
        checks.append(_check("failed_tasks", "degraded", "%d tasks failed to start" % failed))
    if s.get("status") != "ACTIVE":
        checks.append(_check("status", "unhealthy", "service is %s" % s.get("status")))
    return _health(s["serviceArn"], checks, {"running": running, "desired": desired, "pending": pending,
                                             "failed_tasks": failed})


def aws_ecs_cluster_health(c, services, thresholds):
    active = [s for s in services or [] if s.get("status") == "ACTIVE"]
    judged = [(s["serviceName"], aws_ecs_health(s, thresholds)["status"]) for s in active]
    bad = [name for name, status in judged if status == "unhealthy"]
    weak = [name for name, status in judged if status == "degraded"]
    checks = [_check("status", "healthy" if c.get("status") == "ACTIVE" else "unhealthy",
                     "cluster is %s" % c.get("status"))]
    if bad:
        checks.append(_check("services", "degraded", "unhealthy services: %s" % ", ".join(sorted(bad))))
    elif weak:
        checks.append(_check("services", "degraded", "degraded services: %s" % ", ".join(sorted(weak))))
    else:
        checks.append(_check("services", "healthy", "%d services healthy" % len(judged)))
    return _health(c["clusterArn"], checks, {"services": len(active), "unhealthy_services": len(bad),
                                             "running_tasks": c.get("runningTasksCount", 0)})


def _sum(points):
    return sum(p.get("Sum") or 0 for p in points or [])


def aws_lambda_health(f, metrics, thresholds):
    checks = []
    state = f.get("state") or "Active"
    checks.append(_check("state", {"Active": "healthy", "Pending": "degraded"}.get(state, "unhealthy"),
                         "function is %s" % state))
    update = f.get("last_update_status") or "Successful"
    checks.append(_check("last_update", {"Successful": "healthy", "InProgress": "degraded"}.get(update, "unhealthy"),
                         "last update %s" % update))
    invocations, errors, throttles = (_sum(metrics.get(m)) for m in ("Invocations", "Errors", "Throttles"))
    rate = (errors / invocations) if invocations else (1.0 if errors else 0.0)
    t = thresholds["lambda_error_rate"]
    checks.append(_check("errors", threshold_status(rate, t), "%d errors in %d invocations (%.1f%%)"
                         % (errors, invocations, rate * 100)))
    checks.append(_check("throttles", threshold_status(throttles, thresholds["lambda_throttles"]),
                         "%d throttled invocations" % throttles))
    arn = re.sub(r":\$LATEST$", "", f["function_arn"])
    return _health(arn, checks, {"invocations": invocations, "errors": errors, "throttles": throttles,
                                 "error_rate": rate})


def aws_volume_handles(mappings, snapshot_results):
    """Pair each attached EBS volume with the snapshot just taken of it."""
    by_volume = {r.get("volume_id") or r.get("aws_volume"): r.get("snapshot_id") for r in snapshot_results or []}
    return [
        {
            "device_name": m["device_name"],
            "volume_id": m["ebs"]["volume_id"],
            "snapshot_id": by_volume.get(m["ebs"]["volume_id"]),
            "delete_on_termination": m["ebs"].get("delete_on_termination", False),
        }
        for m in mappings or []
        if m.get("ebs")
    ]


def aws_alias_label(alias):
    return "alias %s -> version %s" % (alias["name"], alias["function_version"])


def aws_restored_volume_label(result):
    return "volume %s from %s (new %s)" % (
        result["aws_volume"]["device_name"], result["aws_volume"]["snapshot_id"], result.get("volume_id"))


def _event(rid, eid, ts, etype, severity, message, source):
    return {"id": str(eid), "resource_id": rid, "timestamp": _iso(ts), "type": etype, "severity": severity,
            "message": str(message)[:2000], "source": source}


# "User initiated (2026-01-01 10:00:00 GMT)"; some endpoints write UTC.
_TRANSITION = re.compile(r"^(?P<why>.*?)\s*\((?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (GMT|UTC)\)")


def aws_ec2_events(i, statuses):
    rid = i["instance_id"]
    events = []
    match = _TRANSITION.match(i.get("state_transition_reason") or "")
    if match:
        state = (i.get("state") or {}).get("name")
        events.append(_event(rid, "%s-state-%s" % (rid, match.group("when").replace(" ", "T")), match.group("when"),
                             "state_change", "warning" if state in ("stopped", "terminated") else "info",
                             "instance %s: %s" % (state, match.group("why")), "ec2"))
    for status in statuses or []:
        for e in status.get("Events") or []:
            events.append(_event(rid, e.get("InstanceEventId") or e.get("Code"), e.get("NotBefore"),
                                 "scheduled_" + str(e.get("Code")), "warning", e.get("Description"), "ec2"))
    return events


def aws_ecs_events(s):
    return [_event(s["serviceArn"], e["id"], e["createdAt"], "service_event",
                   "warning" if re.search(r"unable|failed|unhealthy|error", e.get("message", ""), re.I) else "info",
                   e.get("message"), "ecs") for e in s.get("events") or []]


def aws_alarm_events(history, rid):
    out = []
    for h in history or []:
        summary = h.get("HistorySummary", "")
        severity = "error" if "to ALARM" in summary else "info"
        eid = "%s-%s" % (h.get("AlarmName"), h.get("Timestamp"))
        out.append(_event(rid, eid, h["Timestamp"], "alarm_" + str(h.get("HistoryItemType", "")).lower(), severity,
                          "%s: %s" % (h.get("AlarmName"), summary), "cloudwatch"))
    return out


def aws_alarm_state_events(alarms, rid):
    """The current state of each alarm, as of its last change: what an endpoint without history still tells."""
    out = []
    for a in alarms or []:
        state = a.get("StateValue", "INSUFFICIENT_DATA")
        ts = a.get("StateUpdatedTimestamp") or a.get("AlarmConfigurationUpdatedTimestamp")
        if not ts:
            continue
        out.append(_event(rid, "%s-state-%s" % (a.get("AlarmName"), ts), ts, "alarm_state",
                          "error" if state == "ALARM" else "info",
                          "%s is %s: %s" % (a.get("AlarmName"), state, a.get("StateReason", "")), "cloudwatch"))
    return out


def aws_alias_handles(aliases):
    return [{"name": a["name"], "function_version": a["function_version"]} for a in aliases or []]


def aws_cloudtrail_events(events, rid):
    return [_event(rid, e.get("EventId"), e.get("EventTime"), "api_call", "info",
                   "%s by %s" % (e.get("EventName"), e.get("Username", "unknown")), "cloudtrail") for e in events or []]


def _mismatch(snapshot, problems):
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(snapshot.get("resource_id"))[:200], "; ".join(problems[:5]))


def aws_ecs_snapshot_mismatch(snapshot):
    """What in an ECS service snapshot is not the service its ARN names ('' when all is): rollback redeploys the
    service and cluster named in its handles."""
    rid = str(snapshot.get("resource_id"))
    prefix, _, rest = rid.partition(":service/")
    cluster, _, name = rest.partition("/")
    handles = snapshot.get("handles") or {}
    problems = []
    if handles.get("service") != name:
        problems.append("its service is %r" % str(handles.get("service"))[:80])
    if handles.get("cluster") != "%s:cluster/%s" % (prefix, cluster):
        problems.append("its cluster is %r" % str(handles.get("cluster"))[:200])
    count = (snapshot.get("state") or {}).get("desired_count")
    if not re.fullmatch(r"\d{1,6}", str(count)):
        problems.append("its desired count %r is not a count" % str(count)[:20])
    return _mismatch(snapshot, problems)


def aws_lambda_snapshot_mismatch(snapshot):
    """What in a Lambda snapshot is not the function its ARN names ('' when all is): rollback points the aliases
    of the function named in its state."""
    name = str(snapshot.get("resource_id")).rpartition(":function:")[2]
    problems = []
    found = (snapshot.get("state") or {}).get("function_name")
    if found != name:
        problems.append("its function is %r" % str(found)[:80])
    for alias in (snapshot.get("handles") or {}).get("aliases") or []:
        if not isinstance(alias, dict) or not re.fullmatch(r"\d{1,10}|\$LATEST", str(alias.get("function_version"))):
            problems.append("alias %r has no version number" % str(alias)[:80])
    return _mismatch(snapshot, problems)


def aws_ec2_snapshot_mismatch(snapshot, instance, ebs_snapshots):
    """What in an EC2 snapshot is not the instance its id names ('' when all is): every EBS snapshot in its
    handles must be one taken of this instance for this snapshot (the tags create_snapshot puts on them), and the
    zone the instance's, before volumes are made from them and attached to it."""
    rid = snapshot.get("resource_id")
    tags = {s.get("snapshot_id"): s.get("tags") or {} for s in ebs_snapshots or []}
    problems = []
    if instance.get("instance_id") != rid:
        problems.append("the instance described is %r" % str(instance.get("instance_id"))[:40])
    zone = (snapshot.get("state") or {}).get("availability_zone")
    if zone != (instance.get("placement") or {}).get("availability_zone"):
        problems.append("its zone %r is not the instance's" % str(zone)[:40])
    for volume in (snapshot.get("handles") or {}).get("volumes") or []:
        ebs = volume.get("snapshot_id") if isinstance(volume, dict) else None
        found = tags.get(ebs)
        if found is None:
            problems.append("EBS snapshot %r was not found" % str(ebs)[:40])
        elif found.get("shieldops:resource") != rid or found.get("shieldops:snapshot") != snapshot.get("id"):
            problems.append("EBS snapshot %s was not taken of %s for this snapshot" % (ebs, rid))
    return _mismatch(snapshot, problems)


class FilterModule(object):
    def filters(self):
        return {
            "aws_ec2_resource": aws_ec2_resource,
            "aws_ecs_service_resource": aws_ecs_service_resource,
            "aws_ecs_cluster_resource": aws_ecs_cluster_resource,
            "aws_lambda_resource": aws_lambda_resource,
            "aws_ec2_health": aws_ec2_health,
            "aws_ecs_health": aws_ecs_health,
            "aws_lambda_health": aws_lambda_health,
            "aws_ecs_cluster_health": aws_ecs_cluster_health,
            "aws_ec2_events": aws_ec2_events,
            "aws_volume_handles": aws_volume_handles,
            "aws_alias_label": aws_alias_label,
            "aws_restored_volume_label": aws_restored_volume_label,
            "aws_ecs_events": aws_ecs_events,
            "aws_alarm_events": aws_alarm_events,
            "aws_cloudtrail_events": aws_cloudtrail_events,
            "aws_alarm_state_events": aws_alarm_state_events,
            "aws_alias_handles": aws_alias_handles,
            "aws_ecs_snapshot_mismatch": aws_ecs_snapshot_mismatch,
            "aws_lambda_snapshot_mismatch": aws_lambda_snapshot_mismatch,
            "aws_ec2_snapshot_mismatch": aws_ec2_snapshot_mismatch,
        }
