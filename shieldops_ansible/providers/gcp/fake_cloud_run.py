"""The Cloud Run Admin API v2 part of the fake (run.googleapis.com): services, revisions, long-running operations.

As the v2 reference describes it: a Service's ``template`` change makes a new Revision (``<service>-<5 digits>-<3
letters>``); ``traffic`` targets are ``TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST`` or ``..._REVISION`` with percents
that sum to 100, resolved into ``trafficStatuses``; ``latestCreatedRevision`` / ``latestReadyRevision`` and the
``terminalCondition`` say whether the newest revision came up. ``services.patch`` answers a
``google.longrunning.Operation`` (``done`` when polled, or after a second) whose ``response`` is the Service;
``validateOnly=true`` checks without a change. A revision whose image names "crash" never becomes ready (its
container fails the startup probe), which is how the seeded ``worker`` is broken.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fake_wire import (
    GoogleError,
    Operation,
    invalid,
    json_body,
    located,
    not_found,
    offset_of,
    page_token,
    rfc3339,
    unknown_path,
)

if TYPE_CHECKING:
    from .fake_api import FakeGoogle

__all__ = ["CloudRun"]

LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
_MUTABLE = ("template", "traffic", "scaling", "labels", "annotations")


def _now() -> str:
    return rfc3339(time.time())


def _condition(kind: str, ready: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    out = {
        "type": kind,
        "state": "CONDITION_SUCCEEDED" if ready else "CONDITION_FAILED",
        "lastTransitionTime": _now(),
    }
    if not ready:
        out.update(reason=reason or "ContainerHealthCheckFailed", message=message)
    return out


@dataclass
class CloudRun:
    """The Cloud Run state of the fake project; every call is made under FakeGoogle's lock."""

    google: FakeGoogle
    services: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # full revision name -> revision
    operations: dict[str, Operation] = field(default_factory=dict)
    regions: tuple[str, ...] = ("europe-west1", "us-central1")

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_service(self, region: str, name: str, image: str, labels: dict[str, str], min_instances: int) -> None:
        parent = f"projects/{self.google.project}/locations/{region}"
        service: dict[str, Any] = {
            "name": f"{parent}/services/{name}",
            "uid": str(uuid.uuid4()),
            "generation": "0",
            "labels": dict(labels),
            "annotations": {},
            "createTime": _now(),
            "updateTime": _now(),
            "creator": f"deployer@{self.google.project}.iam.gserviceaccount.com",
            "ingress": "INGRESS_TRAFFIC_ALL",
            "launchStage": "GA",
            "template": {
                "labels": {},
                "annotations": {},
                "scaling": {"maxInstanceCount": 100},
                "containers": [{"image": image, "ports": [{"name": "http1", "containerPort": 8080}]}],
                "serviceAccount": f"{name}@{self.google.project}.iam.gserviceaccount.com",
                "timeout": "300s",
                "maxInstanceRequestConcurrency": 80,
            },
            "traffic": [{"type": LATEST, "percent": 100}],
            "scaling": {"minInstanceCount": min_instances},
            "uri": f"https://{name}-{secrets.token_hex(5)}-ew.a.run.app",
            "reconciling": False,
            "etag": "",
        }
        self.services[(region, name)] = service
        # A first revision that came up, then (for a crashing image) the one that did not.
        if "crash" in image:
            first = copy.deepcopy(service["template"])
            first["containers"][0]["image"] = image.replace("crash", "stable")
            self._new_revision(service, first)
        self._new_revision(service, service["template"])
        self._resolve_traffic(service)

    # --- the API ----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], principal: str, body: bytes) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if parts == ["v1", "projects", self.google.project, "locations"] and method == "GET":
            self.google.allow(principal, "run.locations.list", f"projects/{self.google.project}")
            return {
                "locations": [
                    {"name": f"projects/{self.google.project}/locations/{r}", "locationId": r} for r in self.regions
                ]
            }
        # v2/projects/P/locations/R/(services[/S[/revisions[/REV]]] | operations/ID)
        region, rest = located(method, path, "v2", self.google.project)
        parent = f"projects/{self.google.project}/locations/{region}"
        if rest[:1] == ["operations"] and len(rest) == 2:
            self.google.allow(principal, "run.operations.get", parent)
            operation = self.operations.get(f"{parent}/operations/{rest[1]}")
            if operation is None:
                raise not_found(f"{parent}/operations/{rest[1]}")
            operation.finish()
            return operation.document
        if rest[:1] != ["services"]:
            raise unknown_path(method, path)
        if len(rest) == 1 and method == "GET":
            self.google.allow(principal, "run.services.list", parent)
            found = [s for (r, _), s in sorted(self.services.items()) if r == region]
            return _token_page("services", found, query)
        service = self.services.get((region, rest[1]))
        if service is None:
            raise GoogleError(404, "NOT_FOUND", "notFound", f"Resource '{parent}/services/{rest[1]}' was not found")
        if len(rest) == 2 and method == "GET":
            self.google.allow(principal, "run.services.get", service["name"])
            return service
        if len(rest) == 2 and method == "PATCH":
            self.google.allow(principal, "run.services.update", service["name"])
            return self._patch(service, json_body(body), query, principal)
        if rest[2:3] == ["revisions"]:
            self.google.allow(principal, "run.revisions.list" if len(rest) == 3 else "run.revisions.get", parent)
            if len(rest) == 3:
                mine = [r for r in self.revisions.values() if r["service"] == service["name"]]
                mine.sort(key=lambda r: r["createTime"], reverse=True)
                return _token_page("revisions", mine, query)
            revision = self.revisions.get(f"{service['name']}/revisions/{rest[3]}")
            if revision is None:
                raise not_found(f"{service['name']}/revisions/{rest[3]}")
            return revision
        raise GoogleError(405, "METHOD_NOT_ALLOWED", "httpMethodNotAllowed", f"{method} is not allowed here")

    def _patch(
        self, service: dict[str, Any], update: dict[str, Any], query: dict[str, str], principal: str
    ) -> dict[str, Any]:
        mask = [m for m in query.get("updateMask", "").split(",") if m]
        fields = [m.split(".", 1)[0] for m in mask] or [k for k in _MUTABLE if k in update]
        unknown = [f for f in fields if f not in _MUTABLE]
        if unknown:
            raise invalid(f"Invalid field mask: {', '.join(unknown)} cannot be updated")
        changed = copy.deepcopy(service)
        for name in fields:
            if name in update:
                changed[name] = copy.deepcopy(update[name])
        if "traffic" in fields:
            self._check_traffic(changed)
        if query.get("validateOnly") == "true":
            return self._operation(service, lambda: None, done=True)

        def apply() -> None:
            template_changed = json.dumps(changed["template"], sort_keys=True) != json.dumps(
                service["template"], sort_keys=True
            )
            for name in fields:
                service[name] = changed[name]
            service["generation"] = str(int(service["generation"]) + 1)
            service["updateTime"] = _now()
            service["lastModifier"] = principal
            if template_changed:
                self._new_revision(service, service["template"])
            self._resolve_traffic(service)

        self.google.add_log_entry(
            "activity",
            "google.cloud.run.v2.Services.UpdateService",
            service["name"],
            principal,
            time.time(),
            service="run.googleapis.com",
            resource_type="cloud_run_revision",
        )
        return self._operation(service, apply)

    def _check_traffic(self, service: dict[str, Any]) -> None:
        targets = service.get("traffic") or []
        total = sum(int(t.get("percent") or 0) for t in targets)
        if targets and total != 100:
            raise invalid(f"Traffic percentages must sum to 100, got {total}")
        for target in targets:
            if target.get("type") == REVISION:
                name = f"{service['name']}/revisions/{target.get('revision')}"
                if name not in self.revisions:
                    raise invalid(f"Revision named '{target.get('revision')}' does not exist")
                if not self._ready(self.revisions[name]):
                    raise invalid(f"Revision '{target.get('revision')}' is not ready and cannot serve traffic")
            elif target.get("type") != LATEST:
                raise invalid(f"Invalid traffic target type {target.get('type')!r}")

    def _new_revision(self, service: dict[str, Any], template: dict[str, Any]) -> None:
        number = sum(1 for r in self.revisions.values() if r["service"] == service["name"]) + 1
        short = f"{service['name'].rsplit('/', 1)[-1]}-{number:05d}-{secrets.token_hex(2)[:3]}"
        image = template["containers"][0]["image"]
        ready = "crash" not in image
        conditions = [
            _condition(
                "Ready",
                ready,
                "HealthCheckContainerError",
                "The user-provided container failed the configured startup probe checks.",
            ),
            _condition("ContainerHealthy", ready, "HealthCheckContainerError", "startup probe failed"),
            _condition("ResourcesAvailable", True),
        ]
        revision = {
            "name": f"{service['name']}/revisions/{short}",
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "createTime": _now(),
            "service": service["name"],
            "scaling": copy.deepcopy(template.get("scaling") or {}),
            "containers": copy.deepcopy(template["containers"]),
            "serviceAccount": template.get("serviceAccount"),
            "conditions": conditions,
            "observedGeneration": "1",
            "reconciling": False,
            "logUri": "https://console.cloud.google.com/logs/viewer",
        }
        self.revisions[revision["name"]] = revision
        service["latestCreatedRevision"] = revision["name"]
        if ready:
            service["latestReadyRevision"] = revision["name"]
        service["terminalCondition"] = _condition(
            "Ready",
            ready,
            "RevisionFailed",
            f"Revision '{short}' is not ready and cannot serve traffic. The user-provided container failed the "
            "configured startup probe checks.",
        )
        service["conditions"] = [_condition("RoutesReady", True), _condition("ConfigurationsReady", ready)]
        service["observedGeneration"] = service["generation"]

    def _ready(self, revision: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["state"] == "CONDITION_SUCCEEDED" for c in revision["conditions"])

    def _resolve_traffic(self, service: dict[str, Any]) -> None:
        statuses = []
        for target in service.get("traffic") or []:
            if target.get("type") == LATEST:
                revision = service.get("latestReadyRevision", "").rsplit("/", 1)[-1]
            else:
                revision = target.get("revision")
            status = {"type": target.get("type"), "revision": revision, "percent": target.get("percent", 0)}
            if target.get("tag"):
                status["tag"] = target["tag"]
            statuses.append(status)
        service["trafficStatuses"] = statuses

    def _operation(self, service: dict[str, Any], apply: Callable[[], None], done: bool = False) -> dict[str, Any]:
        region = service["name"].split("/")[3]
        name = f"projects/{self.google.project}/locations/{region}/operations/{uuid.uuid4()}"
        document: dict[str, Any] = {
            "name": name,
            "metadata": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", "name": service["name"]},
            "done": False,
        }

        def done_fields() -> dict[str, Any]:
            return {
                "done": True,
                "response": dict(service, **{"@type": "type.googleapis.com/google.cloud.run.v2.Service"}),
            }

        operation = Operation(document, apply, done_fields)
        if done:  # validateOnly: answered at once
            operation.finish()
            return document
        self.operations[name] = operation
        return dict(document)


def _token_page(key: str, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    size = min(int(query.get("pageSize") or 100), 1000)
    offset = offset_of(query.get("pageToken"))
    page: dict[str, Any] = {key: items[offset : offset + size]} if items[offset : offset + size] else {}
    if offset + size < len(items):
        page["nextPageToken"] = page_token(offset + size)
    return page
