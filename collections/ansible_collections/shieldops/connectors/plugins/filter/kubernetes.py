# -*- coding: utf-8 -*-
"""Normalise kubernetes.core results (k8s_info resources) into the common models."""
from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, iso_timestamp
from ansible_collections.shieldops.connectors.plugins.plugin_utils import kube_auth

DOCUMENTATION = ""

_BAD_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"}
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def kube_id(obj, native):
    meta = obj["metadata"]
    return "%s/%s/%s" % (native, meta["namespace"], meta["name"]) if meta.get("namespace") else \
        "%s/%s" % (native, meta["name"])


def _workload_state(obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", status.get("desiredNumberScheduled", 1))
    ready = status.get("readyReplicas", status.get("numberReady", 0)) or 0
    if desired == 0:
        return "stopped"
    if ready >= desired:
        return "running"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Progressing") or {}).get("reason") == "ProgressDeadlineExceeded":
        return "failed"
    return "pending"


def kube_resource(obj, native, env, common):
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    if native == "node":
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        state, capacity = ("running" if ready else "failed"), None
    elif native == "pod":
        phase = status.get("phase", "Unknown")
        state = {"Running": "running", "Pending": "pending", "Succeeded": "stopped", "Failed": "failed"}.get(
            phase, "unknown")
        capacity = None
    else:
        state, capacity = _workload_state(obj), spec.get("replicas")
    raw = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "generation": meta.get("generation"),
           "annotations": {k: v for k, v in (meta.get("annotations") or {}).items()
                           if not k.startswith("kubectl.kubernetes.io/last-applied")},
           "status": status}
    return {"id": kube_id(obj, native), "type": common or native, "native_type": native, "name": meta["name"],
            "environment": env, "provider": "kubernetes", "region": meta.get("namespace"), "state": state,
            "capacity": capacity, "tags": {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            "raw": raw}


def kube_cluster_resource(name, env, nodes):
    ready = sum(1 for n in nodes or [] if kube_resource(n, "node", env, "instance")["state"] == "running")
    return {"id": "cluster/%s" % name, "type": "cluster", "native_type": "cluster", "name": name,
            "environment": env, "provider": "kubernetes", "region": None,
            "state": "running" if nodes and ready else "unknown", "capacity": len(nodes or []), "tags": {},
            "raw": {"nodes": len(nodes or []), "ready_nodes": ready}}


def _pod_problems(pods):
    problems, restarts = [], 0
    for pod in pods or []:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts += cs.get("restartCount", 0)
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if waiting.get("reason") in _BAD_WAITING:
                problems.append("%s: %s" % (pod["metadata"]["name"], waiting["reason"]))
            elif last.get("reason") == "OOMKilled":
                problems.append("%s: OOMKilled" % pod["metadata"]["name"])
    return problems, restarts


def kube_workload_health(obj, native, pods):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", status.get("desiredNumberScheduled", 1))
    ready = status.get("readyReplicas", status.get("numberReady", 0)) or 0
    updated = status.get("updatedReplicas", status.get("updatedNumberScheduled", 0)) or 0
    checks = []
    if desired == 0:
        checks.append(_check("replicas", "healthy", "scaled to zero"))
    else:
        state = "healthy" if ready >= desired else ("degraded" if ready > 0 else "unhealthy")
        checks.append(_check("replicas", state, "%d of %d ready, %d updated" % (ready, desired, updated)))
    for cond in status.get("conditions") or []:
        if cond.get("reason") == "ProgressDeadlineExceeded":
            checks.append(_check("rollout", "unhealthy", "rollout stuck: %s" % cond.get("message", "")))
        elif cond.get("type") == "Available" and cond.get("status") != "True" and desired:
            checks.append(_check("available", "unhealthy", cond.get("message", "not available")))
    problems, restarts = _pod_problems(pods)
    if problems:
        checks.append(_check("pods", "unhealthy", "; ".join(problems[:5])))
    else:
        checks.append(_check("pods", "healthy", "%d pods, no container in a failure state" % len(pods or [])))
    if restarts > 5 and not problems:
        checks.append(_check("restarts", "degraded", "%d container restarts" % restarts))
    return health_report(kube_id(obj, native), checks, {"desired": float(desired), "ready": float(ready),
                                                        "updated": float(updated), "restarts": float(restarts)})


def kube_node_health(node):
    checks = []
    for cond in (node.get("status") or {}).get("conditions") or []:
        kind, value = cond.get("type"), cond.get("status")
        if kind == "Ready":
            checks.append(_check("ready", "healthy" if value == "True" else "unhealthy",
                                 cond.get("message") or "Ready=%s" % value))
        elif kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"):
            checks.append(_check(kind, "degraded" if value == "True" else "healthy", "%s=%s" % (kind, value)))
    if (node.get("spec") or {}).get("unschedulable"):
        checks.append(_check("schedulable", "degraded", "cordoned"))
    return health_report(kube_id(node, "node"), checks)


def kube_pod_health(pod):
    problems, restarts = _pod_problems([pod])
    phase = (pod.get("status") or {}).get("phase", "Unknown")
    checks = [_check("phase", "healthy" if phase in ("Running", "Succeeded") else "degraded", "phase %s" % phase)]
    checks.append(_check("containers", "unhealthy" if problems else "healthy", "; ".join(problems) or "ok"))
    return health_report(kube_id(pod, "pod"), checks, {"restarts": float(restarts)})


def kube_cluster_health(name, nodes):
    health = [kube_node_health(n) for n in nodes or []]
    bad = [h["resource_id"] for h in health if h["status"] == "unhealthy"]
    checks = [_check("nodes", "unhealthy" if nodes and len(bad) == len(nodes) else "degraded" if bad else "healthy"
                     if nodes else "unknown", "%d of %d nodes ready" % (len(health) - len(bad), len(health)))]
    return health_report("cluster/%s" % name, checks, {"nodes": float(len(health)), "unready_nodes": float(len(bad))})


def kube_events(events, rid, names):
    """Events whose involved object is one of `names` (the object, its ReplicaSets and Pods)."""
    out = []
    for e in events or []:
        if (e.get("involvedObject") or {}).get("name") not in names:
            continue
        ts = e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or \
            e["metadata"].get("creationTimestamp")
        out.append({"id": e["metadata"].get("uid") or e["metadata"]["name"], "resource_id": rid,
                    "timestamp": iso_timestamp(ts), "type": e.get("reason") or "event",
                    "severity": "warning" if e.get("type") == "Warning" else "info",
                    "message": "%s %s: %s" % (e["involvedObject"].get("kind"), e["involvedObject"].get("name"),
                                              e.get("message", "")), "source": "kubernetes"})
    return out


def _plain(value):
    """A copy in plain dicts and lists. Not copy.deepcopy: the values Ansible hands a filter are lazy containers,
    whose deep copy renders and re-tags everything (~280 ms for one Deployment here)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def kube_manifest(obj):
    """The object as it could be applied again: no status, no server-managed metadata."""
    manifest = {key: _plain(value) for key, value in obj.items() if key != "status"}
    meta = manifest.get("metadata") or {}
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("deployment.kubernetes.io/revision", None)
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return manifest


def kube_label_term(item):
    """{key, value} (from dict2items) into a label selector term."""
    return "%s=%s" % (item["key"], item["value"])


def kube_owned_names(obj, replicasets, pods):
    """Names of the object, its ReplicaSets and the Pods of those (or its own Pods), for its events."""
    uid = obj["metadata"]["uid"]
    owned_rs = [rs for rs in replicasets or []
                if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])]
    owners = {uid} | {rs["metadata"]["uid"] for rs in owned_rs}
    owned_pods = [p for p in pods or [] if any(r.get("uid") in owners for r in p["metadata"].get("ownerReferences") or [])]
    return [obj["metadata"]["name"]] + [rs["metadata"]["name"] for rs in owned_rs] + \
        [p["metadata"]["name"] for p in owned_pods]


def _diff(before, after):
    """(before, after) holding only what differs; lists are compared whole, as a patch replaces them."""
    if isinstance(before, dict) and isinstance(after, dict):
        old, new = {}, {}
        for key in sorted(set(before) | set(after)):
            if key not in after:
                old[key] = before[key]
            elif key not in before:
                new[key] = after[key]
            else:
                sub = _diff(before[key], after[key])
                if sub is not None:
                    # A side that only gained or lost keys below here shows nothing rather than `{}`.
                    if sub[0] != {}:
                        old[key] = sub[0]
                    if sub[1] != {}:
                        new[key] = sub[1]
        return (old, new) if old or new else None
    return None if before == after else (before, after)


def kube_diff(before, after):
    """What a change does to an object's manifest (spec, labels, annotations), as {before, after}: `after` is
    the server's answer, from a server-side dry run or from the change itself."""
    found = _diff(kube_manifest(before or {}), kube_manifest(after or {}))
    return {"before": found[0], "after": found[1]} if found else {"before": {}, "after": {}}


def kube_revision(obj):
    """The rollout revision: a Deployment's revision annotation, a StatefulSet's or DaemonSet's current
    controller revision (the generation where the status carries none)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") or \
        status.get("currentRevision") or status.get("updateRevision") or \
        (str(meta["generation"]) if meta.get("generation") is not None else None)


def kube_rollout_state(obj):
    """`kubectl rollout status` in one word: complete, failed (the Deployment's progress deadline passed) or
    progressing."""
    kind = obj.get("kind")
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return "progressing"
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled") or 0
        done = (status.get("updatedNumberScheduled") or 0) >= desired and \
            (status.get("numberAvailable") or 0) >= desired
        return "complete" if done else "progressing"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Progressing") or {}).get("reason") == "ProgressDeadlineExceeded":
        return "failed"
    desired = spec.get("replicas", 1)
    if kind == "StatefulSet" and status.get("updateRevision") != status.get("currentRevision"):
        return "progressing"
    done = (status.get("updatedReplicas") or 0) >= desired and \
        (status.get("availableReplicas", status.get("readyReplicas")) or 0) >= desired and \
        (status.get("replicas") or 0) <= desired
    return "complete" if done else "progressing"


def kube_evictable(pods):
    """Names of the pods a drain evicts: everything but DaemonSet pods and mirror pods."""
    out = []
    for pod in pods or []:
        meta = pod["metadata"]
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            continue
        if any(r.get("kind") == "DaemonSet" for r in meta.get("ownerReferences") or []):
            continue
        out.append("%s/%s" % (meta["namespace"], meta["name"]))
    return sorted(out)


def kube_snapshot_mismatch(snapshot, kind, namespace, name):
    """What in a workload snapshot's manifest is not the object its resource id names ('' when all is): the
    manifest is applied with force, so its kind, name and namespace must be the rolled-back object's."""
    manifest = (snapshot.get("state") or {}).get("manifest")
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("metadata"), Mapping):
        return "snapshot %s has no manifest" % str(snapshot.get("id"))[:80]
    meta = manifest["metadata"]
    wanted = (("apiVersion", manifest.get("apiVersion"), kind["api_version"]), ("kind", manifest.get("kind"), kind["kind"]),
              ("metadata.namespace", meta.get("namespace"), namespace), ("metadata.name", meta.get("name"), name))
    wrong = ["%s is %r, not %r" % (field, str(found)[:80], expected) for field, found, expected in wanted
             if found != expected]
    if not wrong:
        return ""
    return "the manifest of snapshot %s is not of %s %s/%s: %s" % (
        str(snapshot.get("id"))[:80], kind["kind"], namespace, name, "; ".join(wrong))


def kube_auth_env(settings):
    """The role's task environment from the environment's settings (plugin_utils/kube_auth.py: the facade's
    mapping too), the token read from its file now."""
    try:
        return kube_auth.auth_env(dict(settings or {}))
    except kube_auth.TokenUnreadable as error:
        raise AnsibleFilterError("authentication: %s" % error) from None


class FilterModule(object):
    def filters(self):
        return {
            "kube_auth_env": kube_auth_env,
            "kube_id": kube_id,
            "kube_resource": kube_resource,
            "kube_cluster_resource": kube_cluster_resource,
            "kube_workload_health": kube_workload_health,
            "kube_node_health": kube_node_health,
            "kube_pod_health": kube_pod_health,
            "kube_cluster_health": kube_cluster_health,
            "kube_events": kube_events,
            "kube_manifest": kube_manifest,
            "kube_label_term": kube_label_term,
            "kube_owned_names": kube_owned_names,
            "kube_diff": kube_diff,
            "kube_revision": kube_revision,
            "kube_rollout_state": kube_rollout_state,
            "kube_evictable": kube_evictable,
            "kube_snapshot_mismatch": kube_snapshot_mismatch,
        }
