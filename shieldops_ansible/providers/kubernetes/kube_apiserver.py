"""A small Kubernetes API server for the sandbox and the tests: real HTTP(S), enough of the API for kubernetes.core.

No kube-apiserver can be had on these machines. This one serves discovery, CRUD with List kinds and
resourceVersions, label and field selectors, merge / strategic-merge (approximated: lists of named items merge by
name) / JSON patch, server-side dry run (dryRun=All), the scale subresource, pod eviction, and small synchronous
controllers: Deployments (ReplicaSets with pod-template-hash and revision annotations), StatefulSets (pods NAME-0..N-1,
current/update revision), DaemonSets (a pod per Ready node, cordoned ones included), a scheduler that binds pods to
the least loaded schedulable node (Pending with FailedScheduling when there is none), and controllers that replace
evicted or deleted pods. An image containing "crash" gives CrashLoopBackOff pods and, for a Deployment,
ProgressDeadlineExceeded. Events: ScalingReplicaSet, SuccessfulCreate, Scheduled, FailedScheduling, BackOff. Bearer
tokens map to ServiceAccounts; RBAC from Roles / ClusterRoles and their bindings answers 403 like the real server.
Watches are refused (405): kubernetes.core's waits poll, and so do ours.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonpatch  # moto and ansible-lint bring it; listed in the sandbox extra

__all__ = ["KubeApiServer", "ResourceType", "ready_node", "status_document"]


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


TYPES = [
    ResourceType("", "v1", "namespaces", "Namespace", False),
    ResourceType("", "v1", "nodes", "Node", False, subresources=("status",)),
    ResourceType("", "v1", "pods", "Pod", True, subresources=("eviction", "status", "log")),
    ResourceType("", "v1", "events", "Event", True),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True),
    ResourceType("apps", "v1", "deployments", "Deployment", True, subresources=("scale", "status")),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, subresources=("scale", "status")),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, subresources=("scale", "status")),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, subresources=("status",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_node(name: str) -> dict[str, Any]:
    """A Node as a healthy kubelet reports it."""
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
                {"type": "MemoryPressure", "status": "False"},
                {"type": "DiskPressure", "status": "False"},
                {"type": "PIDPressure", "status": "False"},
            ]
        },
    }


_CRASH = "sandbox.shieldops.io/crashloops"  # remembers, on a pod, that its image crashloops once it runs


def _digest(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _crashes(template: dict[str, Any]) -> bool:
    """The test server's one failure model: an image whose name contains "crash" crashloops."""
    return any("crash" in (c.get("image") or "") for c in (template.get("spec") or {}).get("containers") or [])


def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }


def _available(ready: int, desired: int) -> dict[str, Any]:
    ok = ready >= desired
    return {
        "type": "Available",
        "status": "True" if ok else "False",
        "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
        "message": "Deployment has minimum availability." if ok else "Deployment does not have minimum availability.",
        "lastUpdateTime": _now(),
        "lastTransitionTime": _now(),
    }


@dataclass
class Store:
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def next_version(self) -> str:
        return str(next(self.counter))


def _merge(target: Any, patch: Any, strategic: bool) -> Any:
    """RFC 7386 merge; with strategic, lists of dicts that all have a "name" merge item by item."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(result.get(key), list)
            and all(isinstance(v, dict) and "name" in v for v in value + result[key])
        ):
            merged = {item["name"]: item for item in result[key]}
            for item in value:
                merged[item["name"]] = _merge(merged.get(item["name"], {}), item, strategic)
            result[key] = list(merged.values())
        else:
            result[key] = _merge(result.get(key), value, strategic)
    return result


_SELECTOR = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)\s*$")


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        match = _SELECTOR.match(term)
        if match:
            key, op, value = match.groups()
            if (labels.get(key) == value) != (op in ("=", "==")):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _fields_match(obj: dict[str, Any], selector: str) -> bool:
    """Field selectors: `a.b.c=value` and `a.b.c!=value` terms on dotted paths (metadata.name, spec.nodeName,
    involvedObject.name...), as the real server offers them per resource."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        path, op, value = re.split(r"(!=|==|=)", term, maxsplit=1)
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current if current is not None else "") == value) != (op in ("=", "==")):
            return False
    return True


def status_document(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.body = status_document(code, reason, message)


class KubeApiServer:
    """Serve on 127.0.0.1 over TLS (``cert``/``key`` from a test CA) or plain HTTP; ``tokens`` maps bearer
    tokens to "system:serviceaccount:NS:NAME" users; a token of "admin" bypasses RBAC."""

    def __init__(self, *, tokens: dict[str, str], cert: str | None = None, key: str | None = None) -> None:
        self.tokens = tokens
        self.store = Store()
        self.types = {(t.group_version, t.plural): t for t in TYPES}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if cert and key:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.create("", "v1", "namespaces", None, {"metadata": {"name": "default"}})

    def start(self) -> KubeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- storage ---------------------------------------------------------------------------------------------

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        gv = f"{group}/{version}" if group else version
        try:
            return self.types[(gv, plural)]
        except KeyError:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})") from None

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        return (rt.group_version, rt.plural, namespace or "" if rt.namespaced else "", name)

    def get(self, group: str, version: str, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        rt = self._type(group, version, plural)
        with self.store.lock:
            obj = self.store.objects.get(self._key(rt, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{plural}.{rt.group or "core"} "{name}" not found')
        return copy.deepcopy(obj)

    def list_objects(
        self, group: str, version: str, plural: str, namespace: str | None, selector: str = "", fields: str = ""
    ) -> dict[str, Any]:
        rt = self._type(group, version, plural)
        with self.store.lock:
            items = [
                copy.deepcopy(o)
                for (gv, pl, ns, _), o in sorted(self.store.objects.items())
                if gv == rt.group_version
                and pl == plural
                and (namespace is None or ns == namespace)
                and _matches(o["metadata"].get("labels") or {}, selector)
                and _fields_match(o, fields)
            ]
            version_now = self.store.next_version()
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.group_version,
            "metadata": {"resourceVersion": version_now},
            "items": items,
        }

    def create(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        rt = self._type(group, version, plural)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.group_version
        if rt.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        with self.store.lock:
            key = self._key(rt, meta.get("namespace"), name)
            if key in self.store.objects:
                raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
            meta.update(
                uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=self.store.next_version(), generation=1
            )
            if not dry_run:
                self.store.objects[key] = obj
                self._reconcile(rt, obj)
        return copy.deepcopy(self.store.objects.get(key, obj))

    def replace(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        rt = self._type(group, version, plural)
        with self.store.lock:
            old = self.get(group, version, plural, namespace, name)
            obj = copy.deepcopy(body)
            obj["kind"], obj["apiVersion"] = rt.kind, rt.group_version
            meta = obj.setdefault("metadata", {})
            for kept in ("uid", "creationTimestamp", "namespace", "name"):
                if kept in old["metadata"]:
                    meta[kept] = old["metadata"][kept]
            if "status" not in obj and "status" in old:
                obj["status"] = old["status"]
            spec_changed = obj.get("spec") != old.get("spec")
            meta["generation"] = old["metadata"].get("generation", 1) + (1 if spec_changed else 0)
            meta["resourceVersion"] = self.store.next_version()
            if not dry_run:
                self.store.objects[self._key(rt, namespace, name)] = obj
                self._reconcile(rt, obj)
            return copy.deepcopy(obj)

    def patch(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self.get(group, version, plural, namespace, name)
        if "json-patch" in content_type:
            try:
                updated = jsonpatch.apply_patch(current, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"json patch: {exc}") from None
        else:
            updated = _merge(current, patch, strategic="strategic" in content_type or "apply" in content_type)
        return self.replace(group, version, plural, namespace, name, updated, dry_run=dry_run)

    def delete(
        self, group: str, version: str, plural: str, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> dict[str, Any]:
        rt = self._type(group, version, plural)
        with self.store.lock:
            obj = self.get(group, version, plural, namespace, name)
            if not dry_run:
                del self.store.objects[self._key(rt, namespace, name)]
                if rt.plural in ("deployments", "replicasets", "statefulsets", "daemonsets"):
                    self._delete_owned(obj)
                elif rt.plural == "pods":
                    self._pod_deleted(obj)
        return obj

    def _delete_owned(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for key, obj in list(self.store.objects.items()):
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                del self.store.objects[key]
                self._delete_owned(obj)

    # -- the controllers ---------------------------------------------------------------------------------------
    # Reconciliation is synchronous (inside the write that triggers it): a test sees the settled state at once,
    # which the real control plane reaches a moment later.

    def _reconcile(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.plural == "deployments":
            self._reconcile_deployment(obj)
        elif rt.plural == "statefulsets":
            self._reconcile_statefulset(obj)
        elif rt.plural == "daemonsets":
            self._reconcile_daemonset(obj)
        elif rt.plural == "nodes":
            self._nodes_changed()

    def _objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for (_, pl, ns, _), o in self.store.objects.items() if pl == plural and namespace in (None, ns)]

    def _owned(self, plural: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return sorted(
            (
                o
                for o in self._objects(plural, owner["metadata"].get("namespace"))
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
            ),
            key=lambda o: str(o["metadata"]["name"]),
        )

    def _schedulable_nodes(self) -> list[str]:
        return sorted(
            n["metadata"]["name"]
            for n in self._objects("nodes")
            if not (n.get("spec") or {}).get("unschedulable")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in n["status"]["conditions"])
        )

    def _pick_node(self) -> str | None:
        """The schedulable node with the fewest pods (a scheduler's spreading, without resources)."""
        load = {name: 0 for name in self._schedulable_nodes()}
        for pod in self._objects("pods"):
            node = (pod.get("spec") or {}).get("nodeName")
            if node in load:
                load[node] += 1
        return min(load, key=lambda name: (load[name], name)) if load else None

    def _nodes_changed(self) -> None:
        for ds in self._objects("daemonsets"):
            self._reconcile_daemonset(ds)
        for pod in self._objects("pods"):
            if not (pod.get("spec") or {}).get("nodeName") and (node := self._pick_node()):
                self._bind(pod, node, crash=pod["metadata"].get("annotations", {}).get(_CRASH) == "true")

    def _pod_deleted(self, pod: dict[str, Any]) -> None:
        """A pod went away (deleted or evicted): its controller replaces it, as the real ones do."""
        for ref in pod["metadata"].get("ownerReferences") or []:
            owner = self._owner(ref, pod["metadata"]["namespace"])
            if owner is None:
                continue
            if ref.get("kind") == "ReplicaSet":
                for dep_ref in owner["metadata"].get("ownerReferences") or []:
                    if (dep := self._owner(dep_ref, owner["metadata"]["namespace"])) is not None:
                        self._reconcile_deployment(dep)
            elif ref.get("kind") == "StatefulSet":
                self._reconcile_statefulset(owner)
            elif ref.get("kind") == "DaemonSet":
                self._reconcile_daemonset(owner)

    def _owner(self, ref: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        plural = {
            "ReplicaSet": "replicasets",
            "Deployment": "deployments",
            "StatefulSet": "statefulsets",
            "DaemonSet": "daemonsets",
        }.get(ref.get("kind", ""))
        return self.store.objects.get(("apps/v1", plural, namespace, ref.get("name", ""))) if plural else None

    def _reconcile_deployment(self, dep: dict[str, Any]) -> None:
        meta, spec = dep["metadata"], dep.setdefault("spec", {})
        ns, name = meta["namespace"], meta["name"]
        template = spec.get("template") or {}
        digest = _digest(template)
        rs_key = ("apps/v1", "replicasets", ns, f"{name}-{digest}")
        owned = self._owned("replicasets", dep)
        revisions = [
            int(o["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0")) for o in owned
        ]
        desired = int(spec.get("replicas", 1))
        rs = self.store.objects.get(rs_key)
        if rs is None:
            revision = max(revisions, default=0) + 1
            labels = {**(template.get("metadata", {}).get("labels") or {}), "pod-template-hash": digest}
            rs = {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": {
                    "name": rs_key[3],
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "labels": labels,
                    "creationTimestamp": _now(),
                    "resourceVersion": self.store.next_version(),
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": [_owner_ref(dep)],
                },
                "spec": {
                    "replicas": desired,
                    "selector": {"matchLabels": labels},
                    "template": _merge(template, {"metadata": {"labels": labels}}, False),
                },
            }
            self.store.objects[rs_key] = rs
        else:
            revision = int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
            if revision < max(revisions, default=0):
                # Rolling back to an older template makes its ReplicaSet the newest revision again.
                revision = max(revisions) + 1
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
        meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
        for other in owned:
            if other is not rs:
                other["spec"]["replicas"] = 0
                self._sync_pods(other, [], other["spec"]["template"], crash=False)
                other["status"] = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
        crash = _crashes(template)
        if rs["spec"]["replicas"] != desired or rs.get("status") is None:
            verb = "up" if desired >= rs["spec"].get("replicas", 0) else "down"
            self._event(dep, "Normal", "ScalingReplicaSet", f"Scaled {verb} replica set {rs_key[3]} to {desired}")
        rs["spec"]["replicas"] = desired
        keep = [p["metadata"]["name"] for p in self._owned("pods", rs)][:desired]
        names = keep + [f"{rs_key[3]}-{uuid.uuid4().hex[:5]}" for _ in range(desired - len(keep))]
        ready = self._sync_pods(rs, names, rs["spec"]["template"], crash=crash)
        rs["status"] = {
            "replicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": 1,
        }
        progressing = {
            "type": "Progressing",
            "status": "True" if not crash else "False",
            "reason": "NewReplicaSetAvailable" if not crash else "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{rs_key[3]}" has '
            + ("timed out progressing." if crash else "successfully progressed."),
            "lastUpdateTime": _now(),
            "lastTransitionTime": _now(),
        }
        dep["status"] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": desired,
            "updatedReplicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [_available(ready, desired), progressing],
        }
        if desired - ready:
            dep["status"]["unavailableReplicas"] = desired - ready

    def _reconcile_statefulset(self, sts: dict[str, Any]) -> None:
        """Pods NAME-0..N-1 with a stable name; a template change replaces every pod (ControllerRevisions are
        not modelled: the revision is the status' currentRevision/updateRevision)."""
        meta, spec = sts["metadata"], sts.setdefault("spec", {})
        spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        template = spec.get("template") or {}
        revision = f"{meta['name']}-{_digest(template)}"
        desired = int(spec.get("replicas", 1))
        ready = self._sync_pods(
            sts, [f"{meta['name']}-{i}" for i in range(desired)], template, crash=_crashes(template), revision=revision
        )
        sts["status"] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": desired,
            "updatedReplicas": desired,
            "currentRevision": revision,
            "updateRevision": revision,
        }

    def _reconcile_daemonset(self, ds: dict[str, Any]) -> None:
        """One pod per Ready node; DaemonSet pods tolerate cordoned nodes, as the real controller's do."""
        meta = ds["metadata"]
        template = (ds.get("spec") or {}).get("template") or {}
        revision = _digest(template)
        nodes = sorted(
            n["metadata"]["name"]
            for n in self._objects("nodes")
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in n["status"]["conditions"])
        )
        on_node = {(p.get("spec") or {}).get("nodeName"): p["metadata"]["name"] for p in self._owned("pods", ds)}
        names = [on_node.get(node) or f"{meta['name']}-{uuid.uuid4().hex[:5]}" for node in nodes]
        ready = self._sync_pods(
            ds, names, template, crash=_crashes(template), revision=revision, nodes=dict(zip(names, nodes, strict=True))
        )
        total = len(nodes)
        ds["status"] = {
            "observedGeneration": meta.get("generation", 1),
            "desiredNumberScheduled": total,
            "currentNumberScheduled": total,
            "updatedNumberScheduled": total,
            "numberReady": ready,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
        }
        if total - ready:
            ds["status"]["numberUnavailable"] = total - ready

    def _sync_pods(
        self,
        owner: dict[str, Any],
        names: list[str],
        template: dict[str, Any],
        *,
        crash: bool,
        revision: str | None = None,
        nodes: dict[str, str] | None = None,
    ) -> int:
        """Make the owner's pods exactly `names` (replacing those of another revision); return how many are
        ready."""
        ns = owner["metadata"]["namespace"]
        wanted = set(names)
        for pod in self._owned("pods", owner):
            stale = revision is not None and pod["metadata"]["labels"].get("controller-revision-hash") != revision
            if pod["metadata"]["name"] not in wanted or stale:
                del self.store.objects[("v1", "pods", ns, pod["metadata"]["name"])]
        ready = 0
        for pod_name in names:
            key = ("v1", "pods", ns, pod_name)
            if key not in self.store.objects:
                self._create_pod(
                    owner,
                    pod_name,
                    template,
                    crash=crash,
                    revision=revision,
                    node=(nodes or {}).get(pod_name) if nodes is not None else self._pick_node(),
                )
            pod = self.store.objects[key]
            ready += all(cs.get("ready") for cs in pod["status"].get("containerStatuses") or [{"ready": False}])
        return ready

    def _create_pod(
        self,
        owner: dict[str, Any],
        pod_name: str,
        template: dict[str, Any],
        *,
        crash: bool,
        revision: str | None,
        node: str | None,
    ) -> None:
        ns = owner["metadata"]["namespace"]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        if revision is not None:
            labels["controller-revision-hash"] = revision
        pod = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": pod_name,
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "labels": labels,
                "annotations": {_CRASH: "true"} if crash else {},
                "creationTimestamp": _now(),
                "resourceVersion": self.store.next_version(),
                "ownerReferences": [_owner_ref(owner)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
            },
        }
        self.store.objects[("v1", "pods", ns, pod_name)] = pod
        if owner["kind"] in ("StatefulSet", "DaemonSet"):
            self._event(
                owner,
                "Normal",
                "SuccessfulCreate",
                f"create Pod {pod_name} in {owner['kind']} {owner['metadata']['name']} successful",
            )
        if node is None:
            self._event(pod, "Warning", "FailedScheduling", "0 nodes are available: no schedulable node.")
        else:
            self._bind(pod, node, crash=crash)

    def _bind(self, pod: dict[str, Any], node: str, *, crash: bool) -> None:
        pod["spec"]["nodeName"] = node
        waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}
        pod["status"] = {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "containerStatuses": [
                {
                    "name": c.get("name"),
                    "image": c.get("image"),
                    # The typed client (CoreV1Api, used by k8s_drain) refuses a status without imageID.
                    "imageID": f"{c.get('image')}@sha256:{hashlib.sha256(str(c.get('image')).encode()).hexdigest()}",
                    "containerID": f"containerd://{uuid.uuid4().hex}",
                    "started": not crash,
                    "ready": not crash,
                    "restartCount": 7 if crash else 0,
                    "state": waiting if crash else {"running": {"startedAt": _now()}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}} if crash else {},
                }
                for c in pod["spec"].get("containers") or []
            ],
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False" if crash else "True"},
            ],
        }
        pod["metadata"]["resourceVersion"] = self.store.next_version()
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node}",
        )
        if crash:
            self._event(pod, "Warning", "BackOff", "Back-off restarting failed container")

    def _event(self, about: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = about["metadata"]
        name = f"{meta['name']}.{uuid.uuid4().hex[:12]}"
        self.store.objects[("v1", "events", meta["namespace"], name)] = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _now(),
                "resourceVersion": self.store.next_version(),
            },
            "involvedObject": {
                "kind": about["kind"],
                "apiVersion": about["apiVersion"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": _now(),
            "lastTimestamp": _now(),
            "source": {"component": "shieldops-test-controller"},
        }

    # -- HTTP --------------------------------------------------------------------------------------------------

    def discovery(self, path: str) -> dict[str, Any] | None:
        if path == "/version":
            return {"major": "1", "minor": "30", "gitVersion": "v1.30.0-shieldops-test", "platform": "linux/amd64"}
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
            }
        if path == "/apis":
            groups: dict[str, set[str]] = {}
            for t in TYPES:
                if t.group:
                    groups.setdefault(t.group, set()).add(t.version)
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in sorted(vs)],
                        "preferredVersion": {"groupVersion": f"{g}/{sorted(vs)[0]}", "version": sorted(vs)[0]},
                    }
                    for g, vs in sorted(groups.items())
                ],
            }
        match = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
        if not match:
            return None
        gv = match.group(1) or f"{match.group(2)}/{match.group(3)}"
        resources = []
        for t in TYPES:
            if t.group_version != gv:
                continue
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": list(t.verbs),
                }
            )
            for sub in t.subresources:
                kind = {"scale": "Scale", "eviction": "Eviction"}.get(sub, t.kind)
                entry: dict[str, Any] = {
                    "name": f"{t.plural}/{sub}",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": kind,
                    "verbs": ["get", "patch", "update"],
                }
                if sub == "scale":
                    entry.update(group="autoscaling", version="v1")
                if sub == "eviction":
                    entry.update(group="policy", version="v1", verbs=["create"])
                resources.append(entry)
        if not resources:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def authorize(
        self, token: str | None, verb: str, rt: ResourceType, sub: str, namespace: str | None, name: str | None
    ) -> None:
        user = self.tokens.get(token or "")
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if user == "admin":
            return
        resource = f"{rt.plural}/{sub}" if sub else rt.plural
        _, _, sa_ns, sa_name = user.split(":")
        with self.store.lock:
            bindings = [
                o
                for (gv, pl, ns, _), o in self.store.objects.items()
                if (pl == "rolebindings" and ns == (namespace or "")) or pl == "clusterrolebindings"
            ]
            for binding in bindings:
                if not any(
                    s.get("kind") == "ServiceAccount"
                    and s.get("name") == sa_name
                    and s.get("namespace", binding["metadata"].get("namespace")) == sa_ns
                    for s in binding.get("subjects") or []
                ):
                    continue
                ref = binding.get("roleRef") or {}
                role_key = (
                    ("rbac.authorization.k8s.io/v1", "clusterroles", "", ref.get("name"))
                    if ref.get("kind") == "ClusterRole"
                    else (
                        "rbac.authorization.k8s.io/v1",
                        "roles",
                        binding["metadata"].get("namespace", ""),
                        ref.get("name"),
                    )
                )
                role = self.store.objects.get(role_key)  # type: ignore[arg-type]
                for rule in (role or {}).get("rules") or []:
                    if (
                        ({"*", rt.group} & set(rule.get("apiGroups") or []))
                        and ({"*", resource} & set(rule.get("resources") or []))
                        and ({"*", verb} & set(rule.get("verbs") or []))
                        and (not rule.get("resourceNames") or name in rule["resourceNames"])
                    ):
                        return
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        group = f'"{rt.group}"' if rt.group else '""'
        target = f'{rt.plural}.{rt.group} "{name}"' if rt.group and name else f'{rt.plural} "{name or ""}"'
        raise ApiError(
            403,
            "Forbidden",
            f'{target} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group {group}{where}',
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body leave in two writes; with Nagle's algorithm the second waits for the client's
                # delayed ACK (~40 ms on Linux), a stall a real API server does not have.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    import yaml

                    return yaml.safe_load(raw)

            def _dispatch(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip() or None
                try:
                    found = server.discovery(url.path.rstrip("/")) if method == "GET" else None
                    if found is not None:
                        server.authorize_discovery(token)
                        return self._send(200, found)
                    self._send(
                        *server.route(
                            method, url.path, query, token, self._body(), self.headers.get("Content-Type") or ""
                        )
                    )
                except ApiError as exc:
                    self._send(exc.body["code"], exc.body)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def do_PATCH(self) -> None:
                self._dispatch("PATCH")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        return Handler

    def authorize_discovery(self, token: str | None) -> None:
        if self.tokens.get(token or "") is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def route(
        self, method: str, path: str, query: dict[str, str], token: str | None, body: Any, content_type: str
    ) -> tuple[int, Any]:
        match = re.fullmatch(r"/api/(?P<v>v1)/(?P<rest>.+)|/apis/(?P<g>[^/]+)/(?P<gv>[^/]+)/(?P<grest>.+)", path)
        if not match:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group, version = (match.group("g") or "", match.group("gv") or match.group("v"))
        parts = (match.group("rest") or match.group("grest")).strip("/").split("/")
        namespace: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3 and (group, parts[2]) != ("", "status"):
            namespace, parts = parts[1], parts[2:]
        plural, name, sub = parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else "")
        rt = self._type(group, version, plural)
        dry_run = query.get("dryRun") == "All"
        verb = {
            "GET": "get" if name else ("watch" if query.get("watch") else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }[method]
        self.authorize(token, verb, rt, sub, namespace, name)
        if sub == "scale":
            return self._scale(rt, method, namespace, name or "", body, content_type, dry_run)
        if sub == "eviction" and method == "POST":
            self.delete(group, version, plural, namespace, name or "", dry_run=dry_run)
            return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}
        if name is None:
            if method == "GET":
                if query.get("watch"):
                    raise ApiError(405, "MethodNotAllowed", "watch is not supported by this test server")
                return 200, self.list_objects(
                    group, version, plural, namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
                )
            if method == "POST":
                return 201, self.create(group, version, plural, namespace, body or {}, dry_run=dry_run)
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
        if method == "GET":
            return 200, self.get(group, version, plural, namespace, name)
        if method == "PUT":
            return 200, self.replace(group, version, plural, namespace, name, body or {}, dry_run=dry_run)
        if method == "PATCH":
            return 200, self.patch(group, version, plural, namespace, name, body, content_type, dry_run=dry_run)
        return 200, self.delete(group, version, plural, namespace, name, dry_run=dry_run)

    def _scale(
        self,
        rt: ResourceType,
        method: str,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        dry_run: bool,
    ) -> tuple[int, Any]:
        obj = self.get(rt.group, rt.version, rt.plural, namespace, name)
        if method in ("PUT", "PATCH"):
            replicas = (body or {}).get("spec", {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(422, "Invalid", "spec.replicas: Invalid value")
            obj = self.patch(
                rt.group,
                rt.version,
                rt.plural,
                namespace,
                name,
                {"spec": {"replicas": replicas}},
                "application/merge-patch+json",
                dry_run=dry_run,
            )
        labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        return 200, {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in labels.items()),
            },
        }
