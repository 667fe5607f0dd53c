"""A small Kubernetes API server for the sandbox and the tests: real HTTP(S), enough of the API for kubernetes.core.

No kube-apiserver can be had on these machines. This one serves discovery, CRUD with List kinds and
resourceVersions, label selectors, merge / strategic-merge (approximated: lists of named items merge by name) /
JSON patch, server-side dry run, the scale subresource, pod eviction, and a Deployment controller (ReplicaSets with
pod-template-hash and revision annotations, Pods, status and conditions; an image containing "crash" gives a
CrashLoopBackOff pod and ProgressDeadlineExceeded). Bearer tokens map to ServiceAccounts; RBAC from Roles /
ClusterRoles and their bindings answers 403 like the real server. Field selectors on dotted paths; the controller
records Events (ScalingReplicaSet, BackOff). Watches are refused (405).
The Kubernetes provider that uses it is issue 4's next step.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonpatch  # moto and ansible-lint bring it; listed in the sandbox extra

__all__ = ["KubeApiServer", "ResourceType"]


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


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
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
        self.body = _status(code, reason, message)


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

    def list(
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
                if rt.plural in ("deployments", "replicasets"):
                    self._delete_owned(obj)
        return obj

    def _delete_owned(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for key, obj in list(self.store.objects.items()):
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                del self.store.objects[key]
                self._delete_owned(obj)

    # -- the controllers ---------------------------------------------------------------------------------------

    def _reconcile(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.plural == "deployments":
            self._reconcile_deployment(obj)

    def _reconcile_deployment(self, dep: dict[str, Any]) -> None:
        meta, spec = dep["metadata"], dep.setdefault("spec", {})
        ns, name = meta["namespace"], meta["name"]
        template = spec.get("template") or {}
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        rs_key = ("apps/v1", "replicasets", ns, f"{name}-{digest}")
        owned = [
            o
            for (gv, pl, n, _), o in self.store.objects.items()
            if pl == "replicasets"
            and n == ns
            and any(r.get("uid") == meta["uid"] for r in o["metadata"].get("ownerReferences") or [])
        ]
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
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": meta["uid"],
                            "controller": True,
                        }
                    ],
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
                other["status"] = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
                self._sync_pods(other, 0, crash=False)
        crash = any("crash" in (c.get("image") or "") for c in template.get("spec", {}).get("containers") or [])
        if rs["spec"]["replicas"] != desired or rs.get("status") is None:
            verb = "up" if desired >= rs["spec"].get("replicas", 0) else "down"
            self._event(dep, "Normal", "ScalingReplicaSet", f"Scaled {verb} replica set {rs_key[3]} to {desired}")
        rs["spec"]["replicas"] = desired
        ready = 0 if crash else desired
        self._sync_pods(rs, desired, crash=crash)
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
        available = {
            "type": "Available",
            "status": "True" if ready >= desired else "False",
            "reason": "MinimumReplicasAvailable" if ready >= desired else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if ready >= desired
            else "Deployment does not have minimum availability.",
            "lastUpdateTime": _now(),
            "lastTransitionTime": _now(),
        }
        dep["status"] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": desired,
            "updatedReplicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": desired - ready,
            "conditions": [available, progressing],
        }

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

    def _sync_pods(self, rs: dict[str, Any], count: int, *, crash: bool) -> None:
        ns, rs_name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        pods = sorted(
            k
            for k, o in self.store.objects.items()
            if k[1] == "pods"
            and k[2] == ns
            and any(r.get("uid") == rs["metadata"]["uid"] for r in o["metadata"].get("ownerReferences") or [])
        )
        for key in pods[count:]:
            del self.store.objects[key]
        for _ in range(len(pods), count):
            pod_name = f"{rs_name}-{uuid.uuid4().hex[:5]}"
            containers = rs["spec"]["template"].get("spec", {}).get("containers") or []
            waiting = {
                "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}
            }
            statuses = [
                {
                    "name": c.get("name"),
                    "image": c.get("image"),
                    "ready": not crash,
                    "restartCount": 7 if crash else 0,
                    "state": waiting if crash else {"running": {"startedAt": _now()}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}} if crash else {},
                }
                for c in containers
            ]
            pod_key = ("v1", "pods", ns, pod_name)
            self.store.objects[pod_key] = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {
                    "name": pod_name,
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "labels": dict(rs["metadata"]["labels"]),
                    "creationTimestamp": _now(),
                    "resourceVersion": self.store.next_version(),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs_name,
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(rs["spec"]["template"].get("spec") or {}),
                "status": {
                    "phase": "Running",
                    "containerStatuses": statuses,
                    "conditions": [{"type": "Ready", "status": "False" if crash else "True"}],
                },
            }
            if crash:
                self._event(self.store.objects[pod_key], "Warning", "BackOff", "Back-off restarting failed container")

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
                return 200, self.list(
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
