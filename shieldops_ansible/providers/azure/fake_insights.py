"""The observing part of the fake ARM: Azure Monitor metrics, the Activity Log and Resource Health.

As their references describe them:

- Metrics (``{resource id}/providers/Microsoft.Insights/metrics``, api-version 2018-01-01 and later):
  ``metricnames``, ``timespan`` (``START/END``), ``interval`` (``PT1M``, ``PT5M``, ``PT1H``...) and ``aggregation``;
  the answer's ``value[]`` has ``name.value``, ``unit`` and ``timeseries[].data[]`` points with ``timeStamp`` and the
  asked aggregations. A VM has ``Percentage CPU`` (unit ``Percent``) only while it runs: the other points carry a
  ``timeStamp`` alone, as Azure shows a gap. An unknown metric is a 400.
- The Activity Log (``/subscriptions/S/providers/Microsoft.Insights/eventtypes/management/values``): a ``$filter``
  of ``eventTimestamp ge '...'`` (required), ``eventTimestamp le '...'`` and one of ``resourceUri``,
  ``resourceGroupName``, ``resourceProvider`` or ``correlationId eq '...'``, clauses joined by ``and``; newest first,
  paged with ``nextLink``. Events carry the documented EventData fields.
- Resource Health (``{resource id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current`` and the list
  ``.../availabilityStatuses``, newest first): ``availabilityState`` Available/Unavailable/Degraded/Unknown,
  ``summary``, ``reasonType``, ``occuredTime`` (Azure's spelling). A VM's health follows its power state.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .fake_wire import (
    ArmError,
    ArmPath,
    ArmRequest,
    Principal,
    Response,
    invalid_parameter,
    iso8601,
    not_found,
    parse_time,
)

if TYPE_CHECKING:
    from .fake_arm import FakeAzure

__all__ = ["Insights"]

_HEALTH_TYPE = "Microsoft.ResourceHealth/AvailabilityStatuses"
_MAX_POINTS = 1440
# How the portal names an operation; other operations show their action.
_LOCALIZED = {
    "microsoft.compute/virtualmachines/write": "Create or Update Virtual Machine",
    "microsoft.compute/virtualmachines/start/action": "Start Virtual Machine",
    "microsoft.compute/virtualmachines/poweroff/action": "Power Off Virtual Machine",
    "microsoft.compute/virtualmachines/deallocate/action": "Deallocate Virtual Machine",
    "microsoft.compute/virtualmachines/restart/action": "Restart Virtual Machine",
    "microsoft.compute/disks/write": "Create or Update Disk",
    "microsoft.compute/disks/delete": "Delete Disk",
    "microsoft.compute/snapshots/write": "Create or Update Snapshot",
    "microsoft.web/sites/write": "Create or Update Web App",
    "microsoft.web/sites/start/action": "Start Web App",
    "microsoft.web/sites/stop/action": "Stop Web App",
    "microsoft.web/sites/restart/action": "Restart Web App",
    "microsoft.web/sites/slotsswap/action": "Swap Web App Slots",
    "microsoft.web/sites/config/write": "Update Web App Configuration",
    "microsoft.containerservice/managedclusters/write": "Create or Update Managed Cluster",
    "microsoft.containerservice/managedclusters/agentpools/write": "Create or Update Agent Pool",
}
_INTERVALS = {
    "PT1M": 60,
    "PT5M": 300,
    "PT15M": 900,
    "PT30M": 1800,
    "PT1H": 3600,
    "PT6H": 21600,
    "PT12H": 43200,
    "P1D": 86400,
}
_AGGREGATIONS = {"average": "average", "minimum": "minimum", "maximum": "maximum", "total": "total", "count": "count"}


@dataclass
class Insights:
    """Metrics, events and health over the fake subscription; every call is made under FakeAzure's lock."""

    fake: FakeAzure
    # Lowercased resource id -> its availability statuses, oldest first (the last is current).
    health: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    # --- Activity Log -----------------------------------------------------------------------------------------

    def event(
        self,
        principal: Principal | None,
        action: str,
        resource_id: str,
        status: str,
        correlation: str,
        at: float,
        sub_status: str = "",
        caller: str | None = None,
    ) -> dict[str, Any]:
        parts = resource_id.split("/")
        provider = parts[6] if len(parts) > 6 else "Microsoft.Resources"
        resource_type = "/".join([provider, *parts[7::2]]) if len(parts) > 7 else provider
        event_id = str(uuid.uuid4())
        ticks = int(at * 10_000_000) + 621_355_968_000_000_000  # .NET ticks, as the event id carries them
        phase = "BeginRequest" if status == "Started" else "EndRequest"
        claims = {}
        if principal is not None:
            claims = {
                "appid": principal.client_id,
                "http://schemas.microsoft.com/identity/claims/objectidentifier": principal.object_id,
                "http://schemas.microsoft.com/identity/claims/tenantid": self.fake.tenant,
                "idtyp": "app",
            }
        return {
            "authorization": {"action": action, "scope": resource_id},
            "caller": caller or (principal.object_id if principal is not None else "Microsoft.Compute"),
            "channels": "Operation",
            "claims": claims,
            "correlationId": correlation,
            "description": "",
            "eventDataId": event_id,
            "eventName": {
                "value": phase,
                "localizedValue": "Begin request" if phase == "BeginRequest" else "End request",
            },
            "category": {"value": "Administrative", "localizedValue": "Administrative"},
            "eventTimestamp": iso8601(at),
            "id": f"{resource_id}/events/{event_id}/ticks/{ticks}",
            "level": "Error" if status == "Failed" else "Informational",
            "operationId": correlation,
            "operationName": {"value": action, "localizedValue": _LOCALIZED.get(action.lower(), action)},
            "resourceGroupName": parts[4] if len(parts) > 4 else "",
            "resourceProviderName": {"value": provider, "localizedValue": provider},
            "resourceType": {"value": resource_type, "localizedValue": resource_type},
            "resourceId": resource_id,
            "status": {"value": status, "localizedValue": status},
            "subStatus": {"value": sub_status, "localizedValue": sub_status},
            "submissionTimestamp": iso8601(at + 12.5),
            "subscriptionId": self.fake.subscription,
            "tenantId": self.fake.tenant,
            "properties": {"eventCategory": "Administrative", "entity": resource_id, "hierarchy": self.fake.tenant},
            "relatedEvents": [],
        }

    def handle(self, request: ArmRequest, path: ArmPath) -> Response:
        """Microsoft.Insights at the subscription: the Activity Log."""
        if (
            request.method == "GET"
            and [t.lower() for t in path.types] == ["eventtypes"]
            and [n.lower() for n in path.names] == ["management"]
            and (path.action or "").lower() == "values"
            and path.resource_group is None
        ):
            self.fake.authorize(request, "Microsoft.Insights/eventtypes/values/read", path.resource_id())
            clauses = _activity_filter(request.param("$filter") or "")
            found = [e for e in reversed(self.fake.events) if all(c(e) for c in clauses)]
            select = [s.strip() for s in (request.param("$select") or "").split(",") if s.strip()]
            if select:
                found = [{k: v for k, v in e.items() if k in select} for e in found]
            return Response(200, self.fake.page(found, request))
        raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for '{request.path}'.")

    # --- scope extensions: metrics and health -----------------------------------------------------------------

    def scoped(self, request: ArmRequest, path: ArmPath) -> Response:
        assert path.scope is not None
        target = self.fake.resource(path.scope.resource_id())
        if target is None:
            raise not_found(path.scope)
        namespace = (path.namespace or "").lower()
        types = [t.lower() for t in path.types]
        if request.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}.")
        if namespace == "microsoft.insights" and types == ["metrics"] and not path.names:
            self.fake.authorize(request, "Microsoft.Insights/metrics/read", target["id"])
            return Response(200, self._metrics(request, target))
        if namespace == "microsoft.resourcehealth" and types == ["availabilitystatuses"]:
            self.fake.authorize(request, "Microsoft.ResourceHealth/availabilityStatuses/read", target["id"])
            if not path.names:
                history = [self._status(target, s, current=False) for s in reversed(self._history(target))]
                history[0] = self.current_health(target)
                return Response(200, self.fake.page(history, request))
            if path.names[0].lower() == "current":
                return Response(200, self.current_health(target))
        raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for '{request.path}'.")

    def _metrics(self, request: ArmRequest, target: dict[str, Any]) -> dict[str, Any]:
        end = time.time()
        start = end - 3600
        timespan = request.param("timespan")
        if timespan:
            if "/" not in timespan:
                raise invalid_parameter(f"Invalid timespan '{timespan}': expected START/END.", "BadRequest")
            left, right = timespan.split("/", 1)
            start, end = parse_time(left), parse_time(right)
            if end <= start:
                raise invalid_parameter("The timespan's end must be after its start.", "BadRequest")
        interval = (request.param("interval") or "PT1M").upper()
        if interval not in _INTERVALS:
            raise invalid_parameter(f"Invalid interval '{interval}'.", "BadRequest")
        step = _INTERVALS[interval]
        aggregations = [a.strip().lower() for a in (request.param("aggregation") or "Average").split(",")]
        if any(a not in _AGGREGATIONS for a in aggregations):
            raise invalid_parameter(f"Invalid aggregation '{request.param('aggregation')}'.", "BadRequest")
        names = [n.strip() for n in (request.param("metricnames") or "Percentage CPU").split(",") if n.strip()]
        key = target["id"].lower()
        known = {"percentage cpu": ("Percentage CPU", "Percent")} if target["type"].endswith("virtualMachines") else {}
        value = []
        for name in names:
            if name.lower() not in known:
                raise invalid_parameter(
                    f"Failed to find metric configuration for provider: {target['type'].split('/')[0]}, resource "
                    f"Type: {target['type'].split('/', 1)[1]}, metric: {name}, Valid metrics: "
                    f"{', '.join(v[0] for v in known.values())}",
                    "BadRequest",
                )
            canonical, unit = known[name.lower()]
            running = self.fake.compute.power.get(key) == "running"
            level = self.fake.compute.cpu.get(key, 2.0)
            points: list[dict[str, Any]] = []
            moment = start - start % step
            while moment < end and len(points) < _MAX_POINTS:
                point: dict[str, Any] = {"timeStamp": iso8601(moment).replace(".000000", "")}
                if running:
                    sample = round(level + 1.5 * math.sin(moment / 300.0), 2)
                    stats = {
                        "average": sample,
                        "minimum": sample - 2,
                        "maximum": sample + 4,
                        "total": sample,
                        "count": 1.0,
                    }
                    for aggregation in aggregations:
                        point[aggregation] = stats[aggregation]
                points.append(point)
                moment += step
            value.append(
                {
                    "id": f"{target['id']}/providers/Microsoft.Insights/metrics/{canonical}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": canonical, "localizedValue": canonical},
                    "displayDescription": "The percentage of allocated compute units that are currently in use by "
                    "the Virtual Machine(s)",
                    "unit": unit,
                    "timeseries": [{"metadatavalues": [], "data": points}],
                    "errorCode": "Success",
                }
            )
        return {
            "cost": len(names) * 60,
            "timespan": f"{iso8601(start)}/{iso8601(end)}",
            "interval": interval,
            "value": value,
            "namespace": target["type"],
            "resourceregion": target.get("location", self.fake.location),
        }

    # --- health -----------------------------------------------------------------------------------------------

    def set_health(
        self, resource_id: str, availability: str, summary: str, reason_type: str, at: float | None = None
    ) -> None:
        if availability not in {"Available", "Unavailable", "Degraded", "Unknown"}:
            raise invalid_parameter(f"Unknown availabilityState '{availability}'.")
        moment = at if at is not None else time.time()
        target = self.fake.resource(resource_id)
        if target is not None:
            self._history(target)  # the resource was Available from its creation until now
        self.health.setdefault(resource_id.lower(), []).append(
            {"availabilityState": availability, "summary": summary, "reasonType": reason_type, "at": moment}
        )

    def _history(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        history = self.health.get(target["id"].lower())
        if not history:
            created = target.get("properties", {}).get("timeCreated")
            at = parse_time(created) if isinstance(created, str) else time.time() - 86400
            history = [
                {
                    "availabilityState": "Available",
                    "summary": "There aren't any known Azure platform problems affecting this resource.",
                    "reasonType": "",
                    "at": at,
                }
            ]
            self.health[target["id"].lower()] = history
        return history

    def current_health(self, target: dict[str, Any]) -> dict[str, Any]:
        return self._status(target, self._history(target)[-1], current=True)

    def _status(self, target: dict[str, Any], status: dict[str, Any], current: bool) -> dict[str, Any]:
        name = "current" if current else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{target['id']}{status['at']}"))
        properties: dict[str, Any] = {
            "availabilityState": status["availabilityState"],
            "title": status["availabilityState"],
            "summary": status["summary"],
            "reasonType": status["reasonType"],
            "reasonChronicity": "Persistent",
            "detailedStatus": "",
            "occuredTime": iso8601(status["at"]),
            "reportedTime": iso8601(time.time() if current else status["at"] + 60),
        }
        if status["availabilityState"] != "Available":
            properties["rootCauseAttributionTime"] = iso8601(status["at"])
            properties["healthEventType"] = "Downtime"
            properties["healthEventCause"] = (
                "UserInitiated" if status["reasonType"] == "Customer Initiated" else ("PlatformInitiated")
            )
        return {
            "id": f"{target['id']}/providers/Microsoft.ResourceHealth/availabilityStatuses/{name}",
            "name": name,
            "type": _HEALTH_TYPE,
            "location": target.get("location", self.fake.location),
            "properties": properties,
        }


_CLAUSE = re.compile(r"\s*(\w+)\s+(eq|ge|le|gt|lt)\s+'([^']*)'\s*", re.IGNORECASE)
_FIELDS = {
    "resourceuri": lambda e: str(e["resourceId"]).lower(),
    "resourceid": lambda e: str(e["resourceId"]).lower(),
    "resourcegroupname": lambda e: str(e["resourceGroupName"]).lower(),
    "resourceprovider": lambda e: str(e["resourceProviderName"]["value"]).lower(),
    "correlationid": lambda e: str(e["correlationId"]).lower(),
    "status": lambda e: str(e["status"]["value"]).lower(),
    "levels": lambda e: str(e["level"]).lower(),
    "caller": lambda e: str(e["caller"]).lower(),
}


def _activity_filter(expression: str) -> list[Any]:
    """The Activity Log's ``$filter``: ``eventTimestamp ge`` is required and the window is at most 90 days."""
    clauses: list[Any] = []
    start: float | None = None
    end = time.time()
    for text in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.fullmatch(text) if text else None
        if match is None:
            raise invalid_parameter(f"The $filter '{expression}' is not valid.", "BadRequest")
        name, op, value = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if name == "eventtimestamp":
            moment = parse_time(value)
            if op in {"ge", "gt"}:
                start = moment
            else:
                end = moment
            clauses.append(_time_clause(op, moment))
        elif name in _FIELDS and op == "eq":
            getter, wanted = _FIELDS[name], value.lower()
            clauses.append(lambda e, g=getter, w=wanted: g(e) == w)
        else:
            raise invalid_parameter(f"The filter field '{match.group(1)} {op}' is not supported.", "BadRequest")
    if start is None:
        raise invalid_parameter(
            "The $filter must include 'eventTimestamp ge' with the start of the time window.", "BadRequest"
        )
    if end - start > timedelta(days=90).total_seconds():
        raise invalid_parameter("The time window of the $filter may be at most 90 days.", "BadRequest")
    return clauses


def _time_clause(op: str, moment: float) -> Any:
    def check(event: dict[str, Any]) -> bool:
        at = parse_time(event["eventTimestamp"])
        return {"ge": at >= moment, "gt": at > moment, "le": at <= moment, "lt": at < moment}[op]

    return check
