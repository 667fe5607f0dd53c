"""A wire-level fake of the Google APIs our GCP runs call, for the sandbox and the tests.

No emulator of Compute Engine, GKE or Cloud Run exists that the google.cloud modules can use, and their URLs are
hard-coded ``https://*.googleapis.com`` strings. So this server speaks the documented REST shapes over plain HTTP
on loopback, and the sandbox's intercepting proxy (sandbox/intercepting_proxy.py) terminates TLS for the Google
hosts and relays here; requests route on the Host header, as at Google's front ends.

What it serves, as the v1/v2/v3 references describe it:

- STS (``sts.googleapis.com/v1/token``): token exchange of a subject token for a federated token, checked against
  the workload identity pool's audience; IAM credentials (``generateAccessToken``): impersonation, allowed only
  for the subjects the pool maps to that service account. Access tokens expire; a wrong or expired token is a 401.
- Compute Engine (``compute.googleapis.com`` and ``www.googleapis.com``): instances (get, list with filter and
  page tokens, aggregatedList, start, stop, reset, setLabels with the label fingerprint) and zonal operations
  (``RUNNING`` when created, ``DONE`` when polled with get or wait, or after a second).
- Cloud Logging ``entries:list`` (the audit entries of what was done here, and seeded system events) and Cloud
  Monitoring ``timeSeries.list`` (instance CPU utilisation of running instances).

Errors are Google's JSON error document with the real status codes and reasons. Permissions are per service
account: ``writer`` accounts may call everything, the others only get and list.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from ...sandbox.loopback_server import LoopbackServer
from .fake_cloud_run import CloudRun
from .fake_gke import Gke
from .fake_wire import (
    GoogleError,
    OAuthError,
    Operation,
    invalid,
    json_body,
    not_found,
    offset_of,
    page,
    page_token,
    parse_time,
    rfc3339,
    settle,
    unknown_path,
)

__all__ = ["FakeGoogle", "FakeGoogleServer", "ServiceAccount", "WorkloadPool"]

_COMPUTE_HOSTS = frozenset({"compute.googleapis.com", "www.googleapis.com"})
_TOKEN_LIFETIME_S = 3600


@dataclass
class ServiceAccount:
    email: str
    writer: bool
    # The subjects of the workload identity pool that may impersonate this account.
    subjects: frozenset[str]


@dataclass
class WorkloadPool:
    audience: str
    # Subject token -> the subject it authenticates (as an OIDC provider's `sub` would).
    subject_tokens: dict[str, str]


@dataclass
class _Token:
    principal: str  # a service account's email, or "federated:<subject>"
    expires_at: float


@dataclass
class FakeGoogle:
    """The state of one fake project and the API semantics over it (thread-safe: one lock for all)."""

    project: str
    project_number: str
    pool: WorkloadPool
    accounts: dict[str, ServiceAccount]
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    disks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What a disk holds, which the API never shows: tests write a marker and read it back (the fake's own
    # /_fake/ endpoints) to see that a rollback really brought the snapshotted data back.
    content: dict[str, str] = field(default_factory=dict)  # disk or snapshot selfLink -> marker
    cpu_utilization: dict[str, float] = field(default_factory=dict)  # instance name -> fraction 0..1
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    zones: tuple[str, ...] = ("europe-west1-b", "europe-west1-c", "europe-west1-d")
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _operations: dict[str, Operation] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(4_100_000_000_000_000_001))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    run: CloudRun = field(init=False)
    gke: Gke = field(init=False)

    def __post_init__(self) -> None:
        self.run = CloudRun(self)
        self.gke = Gke(self)

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_instance(
        self, zone: str, name: str, status: str, labels: dict[str, str], machine_type: str = "e2-small"
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}"
        now = time.time()
        instance: dict[str, Any] = {
            "kind": "compute#instance",
            "id": str(next(self._ids)),
            "creationTimestamp": rfc3339(now - 86400),
            "name": name,
            "zone": base,
            "machineType": f"{base}/machineTypes/{machine_type}",
            "status": status,
            "labels": dict(labels),
            "labelFingerprint": _fingerprint(labels),
            "deletionProtection": False,
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False},
            "disks": [
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "source": f"{base}/disks/{name}",
                    "deviceName": "persistent-disk-0",
                    "index": 0,
                    "boot": True,
                    "autoDelete": True,
                    "diskSizeGb": "10",
                }
            ],
            "networkInterfaces": [{"name": "nic0", "network": "global/networks/default", "networkIP": "10.132.0.2"}],
            "selfLink": f"{base}/instances/{name}",
            "cpuPlatform": "Intel Broadwell",
        }
        self.add_disk(zone, name, size_gb=10, users=[instance["selfLink"]], content=f"{name}: as seeded")
        if status == "RUNNING":
            instance["lastStartTimestamp"] = rfc3339(now - 3600)
        else:
            instance["lastStopTimestamp"] = rfc3339(now - 1800)
        self.instances[(zone, name)] = instance
        return instance

    def add_disk(
        self,
        zone: str,
        name: str,
        size_gb: int,
        users: list[str] | None = None,
        content: str = "",
        source_snapshot: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}"
        disk: dict[str, Any] = {
            "kind": "compute#disk",
            "id": str(next(self._ids)),
            "creationTimestamp": rfc3339(time.time()),
            "name": name,
            "sizeGb": str(size_gb),
            "zone": base,
            "status": "READY",
            "type": f"{base}/diskTypes/pd-balanced",
            "labels": dict(labels or {}),
            "labelFingerprint": _fingerprint(labels or {}),
            "users": list(users or []),
            "selfLink": f"{base}/disks/{name}",
        }
        if source_snapshot is not None:
            disk["sourceSnapshot"] = source_snapshot["selfLink"]
            disk["sourceSnapshotId"] = source_snapshot["id"]
        self.disks[(zone, name)] = disk
        self.content[disk["selfLink"]] = content
        return disk

    def add_log_entry(
        self,
        log: str,
        method: str,
        resource_name: str,
        principal: str,
        at: float,
        service: str = "compute.googleapis.com",
        resource_type: str = "gce_instance",
    ) -> None:
        self.log_entries.append(
            {
                "logName": f"projects/{self.project}/logs/cloudaudit.googleapis.com%2F{log}",
                "insertId": secrets.token_hex(6),
                "timestamp": rfc3339(at),
                "receiveTimestamp": rfc3339(at + 0.2),
                "severity": "NOTICE" if log == "activity" else "INFO",
                "resource": {"type": resource_type, "labels": {"project_id": self.project}},
                "protoPayload": {
                    "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                    "serviceName": service,
                    "methodName": method,
                    "resourceName": resource_name,
                    "authenticationInfo": {"principalEmail": principal},
                },
            }
        )

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(
        self, method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._settle(time.time())
            try:
                if host == "sts.googleapis.com" and method == "POST" and path == "/v1/token":
                    return 200, self._sts_exchange(body)
                principal = self._authenticate(headers)
                if host == "iamcredentials.googleapis.com":
                    return 200, self._generate_access_token(method, path, principal, body)
                if host in _COMPUTE_HOSTS and path.startswith("/compute/v1/"):
                    return 200, self._compute(method, path[len("/compute/v1/") :], query, principal, body)
                if host == "logging.googleapis.com" and method == "POST" and path == "/v2/entries:list":
                    self.allow(principal, "logging.logEntries.list", f"projects/{self.project}")
                    return 200, self._entries_list(json_body(body))
                if host == "container.googleapis.com":
                    return 200, self.gke.handle(method, path, principal, body)
                if host == "run.googleapis.com":
                    return 200, self.run.handle(method, path, query, principal, body)
                if host == "monitoring.googleapis.com" and method == "GET":
                    return 200, self._time_series(path, query, principal)
                raise unknown_path(method, host + path)
            except GoogleError as exc:
                return exc.code, exc.document()

    def backdoor(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """What tests arrange and observe beside the API: a disk's content marker, an instance as stored."""
        with self._lock:
            self._settle(time.time())
            if path == "/_fake/ready":
                return 200, {"ready": True}
            if path == "/_fake/instance":
                instance = self.instances.get((query.get("zone", ""), query.get("name", "")))
                return (200, instance) if instance else (404, {})
            if path == "/_fake/pool-nodes":
                cluster = self.gke.clusters.get((query.get("location", ""), query.get("cluster", "")))
                pool = next((p for p in (cluster or {}).get("nodePools", []) if p["name"] == query.get("pool")), None)
                if pool is None:
                    return 404, {}
                groups = [self.gke.groups[tuple(link.split("/")[-3::2])] for link in pool["instanceGroupUrls"]]
                return 200, {"nodes": sum(int(g["targetSize"]) for g in groups)}
            if path == "/_fake/run-service":
                service = self.run.services.get((query.get("region", ""), query.get("name", "")))
                return (200, service) if service else (404, {})
            if path == "/_fake/content":
                instance = self.instances.get((query.get("zone", ""), query.get("name", "")))
                if instance is None:
                    return 404, {}
                device = query.get("device", "persistent-disk-0")
                attached = next((d for d in instance["disks"] if d["deviceName"] == device), None)
                if attached is None:
                    return 404, {}
                if method == "POST":
                    self.content[attached["source"]] = json_body(body).get("content", "")
                return 200, {"disk": attached["source"], "content": self.content.get(attached["source"], "")}
            return 404, {}

    # --- identity ---------------------------------------------------------------------------------------------

    def _sts_exchange(self, body: bytes) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            raise OAuthError("unsupported_grant_type", "Only token exchange is supported.")
        if form.get("audience") != self.pool.audience:
            raise OAuthError("invalid_target", 'The target service indicated by the "audience" parameters is invalid.')
        # A text-format credential source is sent as the file holds it, newline included.
        subject = self.pool.subject_tokens.get(form.get("subject_token", "").strip())
        if subject is None:
            raise OAuthError("invalid_grant", "The subject token is invalid.")
        token = self._mint(f"federated:{subject}")
        return {
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": _TOKEN_LIFETIME_S,
        }

    def _generate_access_token(self, method: str, path: str, principal: str, body: bytes) -> dict[str, Any]:
        match = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken", path)
        if method != "POST" or not match:
            raise unknown_path(method, path)
        email = unquote(match.group(1))
        account = self.accounts.get(email)
        subject = principal.removeprefix("federated:")
        if account is None or not principal.startswith("federated:") or subject not in account.subjects:
            raise GoogleError(
                403,
                "PERMISSION_DENIED",
                "forbidden",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            )
        lifetime = json_body(body).get("lifetime", f"{_TOKEN_LIFETIME_S}s")
        seconds = min(int(str(lifetime).rstrip("s") or _TOKEN_LIFETIME_S), 43200)
        token = self._mint(email, seconds)
        # Whole seconds: google-auth parses expireTime with %Y-%m-%dT%H:%M:%SZ.
        expires = datetime.fromtimestamp(self._tokens[token].expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"accessToken": token, "expireTime": expires}

    def _mint(self, principal: str, lifetime_s: int = _TOKEN_LIFETIME_S) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        self._tokens[token] = _Token(principal, time.time() + lifetime_s)
        return token

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        known = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if known is None or known.expires_at < time.time():
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
            )
        return known.principal

    def allow(self, principal: str, permission: str, resource: str) -> None:
        account = self.accounts.get(principal)
        verb = permission.rsplit(".", 1)[-1]
        if account is not None and (account.writer or verb in {"get", "list"}):
            return
        raise GoogleError(403, "PERMISSION_DENIED", "forbidden", f"Required '{permission}' permission for '{resource}'")

    # --- Compute Engine ---------------------------------------------------------------------------------------

    def _compute(self, method: str, path: str, query: dict[str, str], principal: str, body: bytes) -> dict[str, Any]:
        parts = path.split("/")
        if len(parts) < 2 or parts[0] != "projects" or parts[1] != self.project:
            raise not_found(f"projects/{parts[1] if len(parts) > 1 else ''}")
        rest = parts[2:]
        if rest == ["aggregated", "instances"] and method == "GET":
            self.allow(principal, "compute.instances.list", f"projects/{self.project}")
            return self._aggregated_instances(query)
        if len(rest) >= 2 and rest[:2] == ["global", "snapshots"]:
            return self._snapshots(method, rest[2:], query, principal)
        if len(rest) >= 3 and rest[0] == "zones":
            zone = rest[1]
            if zone not in self.zones:
                raise not_found(f"projects/{self.project}/zones/{zone}")
            return self._zonal(method, zone, rest[2:], query, principal, body)
        raise unknown_path(method, path)

    def _zonal(
        self, method: str, zone: str, rest: list[str], query: dict[str, str], principal: str, body: bytes
    ) -> dict[str, Any]:
        where = f"projects/{self.project}/zones/{zone}"
        if rest[0] == "operations" and len(rest) >= 2:
            operation = self._operations.get(rest[1])
            if operation is None or not operation.document["zone"].endswith(f"/zones/{zone}"):
                raise not_found(f"{where}/operations/{rest[1]}")
            self.allow(principal, "compute.zoneOperations.get", f"{where}/operations/{rest[1]}")
            if rest[2:] == ["wait"] or (method == "GET" and len(rest) == 2):
                operation.finish()
            return operation.document
        if rest[0] == "instanceGroupManagers" and len(rest) == 2 and method == "GET":
            return self.gke.instance_group_manager(zone, rest[1], principal)
        if rest[0] == "disks":
            return self._disks(method, zone, rest[1:], query, principal, body)
        if rest[0] != "instances":
            raise GoogleError(404, "NOT_FOUND", "notFound", f"Unknown collection {rest[0]}")
        if len(rest) == 1 and method == "GET":
            return self._list_in_zone(self.instances, zone, "instances", principal, query)
        name = rest[1]
        instance = self._in_zone(self.instances, zone, "instances", name)
        if len(rest) == 2 and method == "GET":
            self.allow(principal, "compute.instances.get", f"{where}/instances/{name}")
            return instance
        if len(rest) == 3 and method == "POST":
            verb = rest[2]
            self.allow(principal, f"compute.instances.{verb}", f"{where}/instances/{name}")
            change = self._instance_change(instance, verb, json_body(body), query)
            return self._start_operation(zone, verb, instance, principal, change)
        raise GoogleError(405, "METHOD_NOT_ALLOWED", "httpMethodNotAllowed", f"{method} is not allowed here")

    def _instance_change(
        self, instance: dict[str, Any], verb: str, body: dict[str, Any], query: dict[str, str]
    ) -> Callable[[], None]:
        status = instance["status"]
        if verb == "start":
            if status in {"TERMINATED", "STOPPED", "SUSPENDED"}:
                instance["status"] = "STAGING"
                return lambda: instance.update(status="RUNNING", lastStartTimestamp=rfc3339(time.time()))
            return lambda: None
        if verb == "stop":
            if status in {"RUNNING", "STAGING", "PROVISIONING"}:
                instance["status"] = "STOPPING"
                return lambda: instance.update(status="TERMINATED", lastStopTimestamp=rfc3339(time.time()))
            return lambda: None
        if verb == "reset":
            if status != "RUNNING":
                raise GoogleError(
                    400, "FAILED_PRECONDITION", "resourceNotReady", f"The resource '{instance['name']}' is not ready"
                )
            return lambda: instance.update(lastStartTimestamp=rfc3339(time.time()))
        if verb == "setLabels":
            fingerprint = body.get("labelFingerprint")
            if fingerprint is not None and fingerprint != instance["labelFingerprint"]:
                raise GoogleError(
                    412,
                    "FAILED_PRECONDITION",
                    "conditionNotMet",
                    "Labels fingerprint either invalid or resource labels have changed",
                )
            labels = dict(body.get("labels") or {})

            def relabel() -> None:
                instance.update(labels=labels, labelFingerprint=_fingerprint(labels))

            return relabel
        if verb == "detachDisk":
            return self._detach(instance, query.get("deviceName", ""))
        if verb == "attachDisk":
            return self._attach(instance, body)
        raise invalid(f"Unknown instance method {verb}")

    def _detach(self, instance: dict[str, Any], device: str) -> Callable[[], None]:
        attached = next((d for d in instance["disks"] if d["deviceName"] == device), None)
        if attached is None:
            raise invalid(f"Invalid value for field 'deviceName': '{device}'. No attached disk found.")
        if attached.get("boot") and instance["status"] not in {"TERMINATED", "STOPPED"}:
            raise invalid(
                "Invalid resource usage: 'Cannot detach boot device from a running instance.'", "invalidResourceUsage"
            )

        def detach() -> None:
            instance["disks"] = [d for d in instance["disks"] if d is not attached]
            disk = self._disk_at(attached["source"])
            if disk is not None:
                disk["users"] = [u for u in disk["users"] if u != instance["selfLink"]]

        return detach

    def _attach(self, instance: dict[str, Any], body: dict[str, Any]) -> Callable[[], None]:
        disk = self._disk_at(str(body.get("source", "")))
        if disk is None:
            raise not_found(str(body.get("source", "")))
        if disk["users"]:
            raise invalid(
                f"The disk resource '{disk['selfLink']}' is already being used by '{disk['users'][0]}'",
                "resourceInUseByAnotherResource",
            )
        device = str(body.get("deviceName") or disk["name"])
        if any(d["deviceName"] == device for d in instance["disks"]):
            raise invalid(f"A disk with device name '{device}' is already attached.")
        if body.get("boot") and instance["status"] not in {"TERMINATED", "STOPPED"}:
            raise invalid(
                "Invalid resource usage: 'Cannot attach a boot device to a running instance.'", "invalidResourceUsage"
            )

        def attach() -> None:
            disk["users"] = [instance["selfLink"]]
            attached = {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": body.get("mode") or "READ_WRITE",
                "source": disk["selfLink"],
                "deviceName": device,
                "boot": bool(body.get("boot")),
                "autoDelete": bool(body.get("autoDelete")),
                "diskSizeGb": disk["sizeGb"],
            }
            disks = [*instance["disks"], attached]
            disks.sort(key=lambda d: (not d["boot"], d["deviceName"]))
            for index, one in enumerate(disks):
                one["index"] = index
            instance["disks"] = disks

        return attach

    def _disk_at(self, link: str) -> dict[str, Any] | None:
        match = re.search(r"zones/([^/]+)/disks/([^/]+)$", link)
        return self.disks.get((match.group(1), match.group(2))) if match else None

    # --- disks and snapshots ----------------------------------------------------------------------------------

    def _disks(
        self, method: str, zone: str, rest: list[str], query: dict[str, str], principal: str, body: bytes
    ) -> dict[str, Any]:
        where = f"projects/{self.project}/zones/{zone}"
        if not rest:
            if method == "GET":
                return self._list_in_zone(self.disks, zone, "disks", principal, query)
            if method == "POST":
                return self._insert_disk(zone, json_body(body), principal)
        name = rest[0]
        disk = self._in_zone(self.disks, zone, "disks", name)
        if len(rest) == 1 and method == "GET":
            self.allow(principal, "compute.disks.get", f"{where}/disks/{name}")
            return disk
        if rest[1:] == ["createSnapshot"] and method == "POST":
            self.allow(principal, "compute.disks.createSnapshot", f"{where}/disks/{name}")
            return self._create_snapshot(zone, disk, json_body(body), principal)
        raise GoogleError(405, "METHOD_NOT_ALLOWED", "httpMethodNotAllowed", f"{method} is not allowed here")

    def _list_in_zone(
        self,
        store: dict[tuple[str, str], dict[str, Any]],
        zone: str,
        collection: str,
        principal: str,
        query: dict[str, str],
    ) -> dict[str, Any]:
        self.allow(principal, f"compute.{collection}.list", f"projects/{self.project}/zones/{zone}")
        found = [r for (z, _), r in sorted(store.items()) if z == zone and _compute_filter(query.get("filter", ""), r)]
        return page(f"compute#{collection[:-1]}List", found, query)

    def _in_zone(
        self, store: dict[tuple[str, str], dict[str, Any]], zone: str, collection: str, name: str
    ) -> dict[str, Any]:
        found = store.get((zone, name))
        if found is None:
            raise not_found(f"projects/{self.project}/zones/{zone}/{collection}/{name}")
        return found

    def _insert_disk(self, zone: str, request: dict[str, Any], principal: str) -> dict[str, Any]:
        self.allow(principal, "compute.disks.create", f"projects/{self.project}/zones/{zone}")
        name = str(request.get("name") or "")
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise invalid(f"Invalid value for field 'resource.name': '{name}'.")
        if (zone, name) in self.disks:
            raise GoogleError(
                409,
                "ALREADY_EXISTS",
                "alreadyExists",
                f"The resource 'projects/{self.project}/zones/{zone}/disks/{name}' already exists",
            )
        snapshot = None
        if request.get("sourceSnapshot"):
            snapshot = self.snapshots.get(str(request["sourceSnapshot"]).rstrip("/").rsplit("/", 1)[-1])
            if snapshot is None:
                raise not_found(str(request["sourceSnapshot"]))
        size = int(request.get("sizeGb") or (snapshot or {}).get("diskSizeGb") or 10)
        disk = self.add_disk(
            zone,
            name,
            size_gb=size,
            source_snapshot=snapshot,
            labels=request.get("labels") or {},
            content=self.content.get(snapshot["selfLink"], "") if snapshot else "",
        )
        disk["status"] = "CREATING"
        return self._start_operation(zone, "insert", disk, principal, lambda: disk.update(status="READY"), "disks")

    def _create_snapshot(
        self, zone: str, disk: dict[str, Any], request: dict[str, Any], principal: str
    ) -> dict[str, Any]:
        name = str(request.get("name") or "")
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise invalid(f"Invalid value for field 'resource.name': '{name}'.")
        if name in self.snapshots:
            raise GoogleError(
                409,
                "ALREADY_EXISTS",
                "alreadyExists",
                f"The resource 'projects/{self.project}/global/snapshots/{name}' already exists",
            )
        link = f"https://www.googleapis.com/compute/v1/projects/{self.project}/global/snapshots/{name}"
        labels = dict(request.get("labels") or {})
        snapshot = {
            "kind": "compute#snapshot",
            "id": str(next(self._ids)),
            "creationTimestamp": rfc3339(time.time()),
            "name": name,
            "description": request.get("description", ""),
            "status": "CREATING",
            "sourceDisk": disk["selfLink"],
            "sourceDiskId": disk["id"],
            "diskSizeGb": disk["sizeGb"],
            "storageBytes": "0",
            "labels": labels,
            "labelFingerprint": _fingerprint(labels),
            "selfLink": link,
        }
        self.snapshots[name] = snapshot
        self.content[link] = self.content.get(disk["selfLink"], "")
        # As on GCE, the operation's target is the disk, not the snapshot.
        return self._start_operation(
            zone, "createSnapshot", disk, principal, lambda: snapshot.update(status="READY"), "disks"
        )

    def _snapshots(self, method: str, rest: list[str], query: dict[str, str], principal: str) -> dict[str, Any]:
        where = f"projects/{self.project}/global/snapshots"
        if not rest and method == "GET":
            self.allow(principal, "compute.snapshots.list", where)
            found = [v for _, v in sorted(self.snapshots.items()) if _compute_filter(query.get("filter", ""), v)]
            return page("compute#snapshotList", found, query)
        if len(rest) == 1 and method == "GET":
            self.allow(principal, "compute.snapshots.get", f"{where}/{rest[0]}")
            if rest[0] not in self.snapshots:
                raise not_found(f"{where}/{rest[0]}")
            return self.snapshots[rest[0]]
        raise GoogleError(405, "METHOD_NOT_ALLOWED", "httpMethodNotAllowed", f"{method} is not allowed here")

    def _start_operation(
        self,
        zone: str,
        verb: str,
        target: dict[str, Any],
        principal: str,
        apply: Callable[[], None],
        collection: str = "instances",
    ) -> dict[str, Any]:
        now = time.time()
        name = f"operation-{int(now * 1000)}-{secrets.token_hex(6)}"
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}"
        document = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "zone": base,
            "operationType": verb,
            "targetLink": target["selfLink"],
            "targetId": target["id"],
            "status": "RUNNING",
            "user": principal,
            "progress": 0,
            "insertTime": rfc3339(now),
            "startTime": rfc3339(now),
            "selfLink": f"{base}/operations/{name}",
        }
        self._operations[name] = Operation(
            document, apply, lambda: {"status": "DONE", "progress": 100, "endTime": rfc3339(time.time())}
        )
        self.add_log_entry(
            "activity",
            f"v1.compute.{collection}.{verb}",
            f"projects/{self.project}/zones/{zone}/{collection}/{target['name']}",
            principal,
            now,
        )
        return dict(document)

    def _settle(self, now: float) -> None:
        settle([*self._operations.values(), *self.run.operations.values(), *self.gke.operations.values()], now)

    def _aggregated_instances(self, query: dict[str, str]) -> dict[str, Any]:
        flat = [
            (zone, instance)
            for (zone, _), instance in sorted(self.instances.items())
            if _compute_filter(query.get("filter", ""), instance)
        ]
        listed = page("compute#instanceAggregatedList", flat, query)
        items: dict[str, Any] = {
            f"zones/{zone}": {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope 'zones/{zone}' on this page.",
                    "data": [{"key": "scope", "value": f"zones/{zone}"}],
                }
            }
            for zone in self.zones
        }
        for zone, instance in listed.pop("items"):
            items[f"zones/{zone}"] = {"instances": [*items[f"zones/{zone}"].get("instances", []), instance]}
        listed["items"] = items
        return listed

    # --- Cloud Logging and Monitoring -------------------------------------------------------------------------

    def _entries_list(self, request: dict[str, Any]) -> dict[str, Any]:
        names = request.get("resourceNames") or []
        if f"projects/{self.project}" not in names:
            raise invalid("resourceNames must name the project")
        clauses = _logging_filter(str(request.get("filter", "")))
        entries = [e for e in self.log_entries if all(clause(e) for clause in clauses)]
        entries.sort(key=lambda e: e["timestamp"], reverse=request.get("orderBy") == "timestamp desc")
        size = int(request.get("pageSize") or 50)
        offset = offset_of(request.get("pageToken"))
        out: dict[str, Any] = {"entries": entries[offset : offset + size]}
        if offset + size < len(entries):
            out["nextPageToken"] = page_token(offset + size)
        return out

    def _time_series(self, path: str, query: dict[str, str], principal: str) -> dict[str, Any]:
        if path != f"/v3/projects/{self.project}/timeSeries":
            raise unknown_path("GET", path)
        self.allow(principal, "monitoring.timeSeries.list", f"projects/{self.project}")
        wanted = dict(re.findall(r'([\w.]+)\s*=\s*"([^"]*)"', query.get("filter", "")))
        if wanted.get("metric.type") != "compute.googleapis.com/instance/cpu/utilization":
            return {}
        end = parse_time(query["interval.endTime"]) if "interval.endTime" in query else time.time()
        start = parse_time(query["interval.startTime"]) if "interval.startTime" in query else end - 300
        series = []
        for (zone, name), instance in sorted(self.instances.items()):
            if instance["status"] != "RUNNING" or name not in self.cpu_utilization:
                continue
            if wanted.get("resource.labels.instance_id", instance["id"]) != instance["id"]:
                continue
            points: list[dict[str, Any]] = []
            moment = end - end % 60
            while moment >= start and len(points) < 10:
                points.append(
                    {
                        "interval": {"startTime": rfc3339(moment - 60), "endTime": rfc3339(moment)},
                        "value": {"doubleValue": self.cpu_utilization[name]},
                    }
                )
                moment -= 60
            series.append(
                {
                    "metric": {"type": wanted["metric.type"], "labels": {"instance_name": name}},
                    "resource": {
                        "type": "gce_instance",
                        "labels": {"project_id": self.project, "instance_id": instance["id"], "zone": zone},
                    },
                    "metricKind": "GAUGE",
                    "valueType": "DOUBLE",
                    "points": points,
                }
            )
        return {"timeSeries": series} if series else {}


def _fingerprint(labels: dict[str, str]) -> str:
    digest = zlib.crc32(json.dumps(labels, sort_keys=True).encode()).to_bytes(4, "big") * 2
    return base64.b64encode(digest).decode()


_COMPUTE_CLAUSE = re.compile(r'\(?\s*([\w.-]+)\s*(=|!=|eq|ne)\s*"?([^")]*)"?\s*\)?')


def _compute_filter(expression: str, instance: dict[str, Any]) -> bool:
    """Compute's list filter: `field = value` clauses (or `(a = b) (c != d)`), ANDed."""
    expression = expression.strip()
    if not expression:
        return True
    clauses = re.findall(r"\([^)]*\)", expression) or [expression]
    for clause in clauses:
        match = _COMPUTE_CLAUSE.fullmatch(clause.strip())
        if match is None:
            raise invalid(f"Invalid list filter expression '{expression}'")
        key, op, value = match.groups()
        actual: Any = instance
        for part in key.split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        actual = "" if actual is None else str(actual).rsplit("/", 1)[-1] if key in {"zone", "machineType"} else actual
        equal = re.fullmatch(value, str(actual)) is not None if op in {"eq", "ne"} else str(actual) == value
        if equal != (op in {"=", "eq"}):
            return False
    return True


_LOGGING_CLAUSE = re.compile(r'([\w.]+)\s*(>=|<=|=|>|<|:)\s*"([^"]*)"')
_LOGGING_FIELDS = {
    "logName": ("logName",),
    "protoPayload.resourceName": ("protoPayload", "resourceName"),
    "protoPayload.methodName": ("protoPayload", "methodName"),
    "resource.type": ("resource", "type"),
    "timestamp": ("timestamp",),
    "severity": ("severity",),
}


def _logging_filter(expression: str) -> list[Callable[[dict[str, Any]], bool]]:
    """The Logging query language, as far as `field OP "value"` clauses joined by AND go."""
    clauses: list[Callable[[dict[str, Any]], bool]] = []
    for text in (c.strip() for c in re.split(r"\s+AND\s+", expression.strip()) if c.strip()):
        match = _LOGGING_CLAUSE.fullmatch(text)
        if match is None or match.group(1) not in _LOGGING_FIELDS:
            raise invalid(f"Unparseable filter: {text}")
        key, op, value = match.groups()
        clauses.append(_logging_clause(_LOGGING_FIELDS[key], op, value))
    return clauses


def _logging_clause(path: tuple[str, ...], op: str, value: str) -> Callable[[dict[str, Any]], bool]:
    def check(entry: dict[str, Any]) -> bool:
        actual: Any = entry
        for part in path:
            actual = actual.get(part) if isinstance(actual, dict) else None
        if actual is None:
            return False
        if path == ("timestamp",):
            left, right = parse_time(str(actual)), parse_time(value)
            return {">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}.get(
                op, left == right
            )
        if op == ":":
            return value.lower() in unquote(str(actual)).lower()
        return str(actual) == value if op == "=" else False

    return check


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeGoogleServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if host in {"127.0.0.1", "localhost"} and url.path.startswith("/_fake/"):
            # The fake's own door for tests, reached on its loopback port only: the proxy routes Google hosts.
            status, document = self.server.fake.backdoor(self.command, url.path, query, body)
        else:
            status, document = self.server.fake.handle(self.command, host, url.path, query, headers, body)
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request, without headers or bodies (they carry tokens).
        self.server.log(f"{self.command} {self.headers.get('Host', '')}{urlparse(self.path).path} {args[1]}")


class FakeGoogleServer(LoopbackServer):
    def __init__(self, fake: FakeGoogle, log: Callable[[str], None] = lambda line: None) -> None:
        super().__init__(_Handler, "fake-google", log)
        self.fake = fake
