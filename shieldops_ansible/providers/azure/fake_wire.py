"""What every part of the fake Azure Resource Manager speaks alike (fake_arm.py and the service parts it routes
to): parsed ARM requests, ARM's error document, resource ids compared without case, ``nextLink`` paging and
long-running operations polled through ``Azure-AsyncOperation`` / ``Location``.

ARM semantics kept here because the unmodified SDK clients depend on them:

- Resource ids are case-insensitive on Azure's side; a stored resource keeps its canonical spelling and every
  answer uses it, whatever case the request had.
- Errors are ``{"error": {"code", "message"}}`` with the real status codes (404 ``ResourceNotFound`` /
  ``ResourceGroupNotFound``, 403 ``AuthorizationFailed``, 400 ``InvalidParameter``, 409 ``Conflict``...).
- A write that takes time answers 202 (or 200/201 with ``provisioningState: Updating``) with an
  ``Azure-AsyncOperation`` header naming an operation-status URL and a ``Location`` header; the status document
  is ``{"status": "InProgress"}`` until the operation settles, then ``Succeeded`` (or ``Failed`` with an error).
  ``Retry-After: 1`` (whole seconds, as ARM writes it) sets the SDK poller's wait: azure-core treats 0 as "no
  header" and waits its default 30 s instead, so every long-running operation here costs one second.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ARM_HOST",
    "SETTLES_S",
    "ArmError",
    "ArmPath",
    "ArmRequest",
    "AsyncOperation",
    "AsyncOperations",
    "Principal",
    "Response",
    "authorization_failed",
    "invalid_parameter",
    "iso8601",
    "json_object",
    "not_found",
    "page",
    "parse_arm_path",
    "parse_time",
]

ARM_HOST = "management.azure.com"
# How long an operation runs when nobody polls it; a poll after this (or the second poll) finishes it.
SETTLES_S = 0.5
RETRY_AFTER_S = "1"


@dataclass(frozen=True)
class Principal:
    """Who a bearer token stands for: a managed identity or an app registration (workload identity)."""

    object_id: str
    client_id: str
    writer: bool  # Contributor on the subscription; otherwise Reader


@dataclass(frozen=True)
class ArmPath:
    """``/subscriptions/S[/resourceGroups/RG][/providers/NS/type/name[/type/name...]][/action]`` taken apart.

    ``types`` and ``names`` pair up (``virtualMachines``/``web-1``, then ``extensions``/``x``...); a trailing odd
    segment is ``action`` (``start``, ``instanceView``, ``listKeys``...) or a collection being listed, which is
    told apart by the handler that knows its types. Comparisons use ``key()``, never the raw spelling.
    """

    subscription: str
    resource_group: str | None
    namespace: str | None
    types: tuple[str, ...]
    names: tuple[str, ...]
    action: str | None
    # A scope-extension path (``{resource id}/providers/Microsoft.Insights/metrics``): the resource it extends.
    scope: ArmPath | None = None

    def key(self) -> str:
        """The case-folded id of the named resource (what stores are keyed by)."""
        return self.resource_id().lower()

    def resource_id(self, upto: int | None = None) -> str:
        parts = [f"/subscriptions/{self.subscription}"]
        if self.resource_group is not None:
            parts.append(f"/resourceGroups/{self.resource_group}")
        if self.namespace is not None:
            parts.append(f"/providers/{self.namespace}")
            for typ, name in list(zip(self.types, self.names, strict=False))[:upto]:
                parts.append(f"/{typ}/{name}")
        return "".join(parts)

    def is_type(self, *types: str) -> bool:
        """True when the path's types are exactly ``types`` (case-insensitive) and every one is named."""
        return len(self.names) == len(types) and [t.lower() for t in self.types] == [t.lower() for t in types]


def parse_arm_path(path: str) -> ArmPath | None:
    """The ARM path of ``path`` (no query string), or None when it is not under ``/subscriptions/``."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        return None
    # A scope extension: the first /providers/ names the resource, a second one the extension's namespace.
    lowered = [p.lower() for p in parts]
    provider_at = [i for i, p in enumerate(lowered) if p == "providers" and i >= 2]
    if len(provider_at) >= 2:
        inner = parse_arm_path("/" + "/".join(parts[: provider_at[-1]]))
        outer = _parse_segments(parts[:2] + parts[provider_at[-1] :])
        if inner is not None and outer is not None:
            return ArmPath(
                outer.subscription, inner.resource_group, outer.namespace, outer.types, outer.names, outer.action, inner
            )
    return _parse_segments(parts)


def _parse_segments(parts: list[str]) -> ArmPath | None:
    subscription, rest = parts[1], parts[2:]
    resource_group = None
    if len(rest) >= 2 and rest[0].lower() == "resourcegroups":
        resource_group, rest = rest[1], rest[2:]
    elif len(rest) == 1 and rest[0].lower() == "resourcegroups":
        return ArmPath(subscription, None, None, ("resourceGroups",), (), None)
    namespace = None
    if len(rest) >= 2 and rest[0].lower() == "providers":
        namespace, rest = rest[1], rest[2:]
    elif rest:
        # /subscriptions/S/resourceGroups/RG/resources and the like: a collection without a namespace.
        return ArmPath(subscription, resource_group, None, tuple(rest[0::2]), tuple(rest[1::2]), None)
    types = tuple(rest[0::2])
    names = tuple(rest[1::2])
    action = rest[-1] if len(rest) % 2 == 1 and len(rest) > 1 else None
    if action is not None:
        types = types[:-1]
    return ArmPath(subscription, resource_group, namespace, types, names, action)


@dataclass
class ArmRequest:
    method: str
    host: str
    path: str
    query: dict[str, str]  # first value of each key, keys as sent
    body: Any
    headers: dict[str, str]  # names lower-cased
    principal: Principal | None = None

    def param(self, name: str) -> str | None:
        """A query parameter by case-insensitive name (``$filter``, ``api-version``...)."""
        for key, value in self.query.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ArmError(Exception):
    """An error answered in ARM's error document."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return Response(
            self.status,
            {"error": {"code": self.code, "message": self.message}},
            {"x-ms-failure-cause": "gateway" if self.status == 404 else "service"},
        )


def not_found(path: ArmPath) -> ArmError:
    if path.namespace is None and path.resource_group is not None:
        return ArmError(404, "ResourceGroupNotFound", f"Resource group '{path.resource_group}' could not be found.")
    kind = "/".join([path.namespace or "", *path.types])
    name = "/".join(path.names)
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{kind}/{name}' under resource group '{path.resource_group}' was not found. For more details "
        "please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def authorization_failed(principal: Principal, action: str, scope: str) -> ArmError:
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{principal.client_id}' with object id '{principal.object_id}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
        "please refresh your credentials.",
    )


def invalid_parameter(message: str, code: str = "InvalidParameter") -> ArmError:
    return ArmError(400, code, message)


def json_object(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from None


def iso8601(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.strip().strip("'").replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_parameter(f"The time '{text}' is not a valid ISO 8601 time.") from None


def page(items: list[Any], request: ArmRequest, base_url: str, size: int = 100) -> dict[str, Any]:
    """One page of ``items`` and, when more remain, a ``nextLink`` back to the same URL with a ``$skiptoken``."""
    top = request.param("$top")
    if top is not None:
        try:
            size = max(1, min(size, int(top)))
        except ValueError:
            raise invalid_parameter(f"The value '{top}' of $top is not valid.") from None
    token = request.param("$skiptoken")
    offset = 0
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except ValueError:
            raise invalid_parameter("The $skiptoken is not valid.") from None
    out: dict[str, Any] = {"value": items[offset : offset + size]}
    if offset + size < len(items):
        skip = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode()
        query = "&".join(f"{k}={v}" for k, v in request.query.items() if k.lower() != "$skiptoken")
        out["nextLink"] = f"{base_url}{request.path}?{query}&$skiptoken={skip}"
    return out


@dataclass
class AsyncOperation:
    """A long-running operation: its change is applied when it settles (``apply`` may raise ArmError to fail)."""

    id: str
    apply: Callable[[], None]
    started: float = field(default_factory=time.time)
    polls: int = 0
    status: str = "InProgress"
    error: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.id, "status": self.status, "startTime": iso8601(self.started)}
        if self.status != "InProgress":
            doc["endTime"] = iso8601(time.time())
        if self.error:
            doc["error"] = self.error
        return doc


class AsyncOperations:
    """The operations of one fake, by id; thread-safe."""

    def __init__(self) -> None:
        self._ops: dict[str, AsyncOperation] = {}
        self._lock = threading.Lock()

    def start(self, subscription: str, namespace: str, location: str, apply: Callable[[], None]) -> dict[str, str]:
        """Register an operation; return the headers that announce it (``Azure-AsyncOperation``, ``Location``)."""
        op = AsyncOperation(str(uuid.uuid4()), apply)
        with self._lock:
            self._ops[op.id] = op
        url = (
            f"https://{ARM_HOST}/subscriptions/{subscription}/providers/{namespace}/locations/{location}"
            f"/operations/{op.id}?api-version=2024-03-01"
        )
        return {
            "Azure-AsyncOperation": url,
            "Location": url.replace("/operations/", "/operationResults/"),
            "Retry-After": RETRY_AFTER_S,
        }

    def poll(self, op_id: str) -> AsyncOperation | None:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None:
            return None
        op.polls += 1
        if op.status == "InProgress" and (op.polls >= 2 or time.time() - op.started >= SETTLES_S):
            self.finish(op)
        return op

    def finish(self, op: AsyncOperation) -> None:
        if op.status != "InProgress":
            return
        try:
            op.apply()
            op.status = "Succeeded"
        except ArmError as exc:
            op.status, op.error = "Failed", {"code": exc.code, "message": exc.message}

    def settle_all(self) -> None:
        """Finish every operation whose time has come, polled or not (a later GET sees its effect)."""
        now = time.time()
        with self._lock:
            pending = [op for op in self._ops.values() if op.status == "InProgress" and now - op.started >= SETTLES_S]
        for op in pending:
            self.finish(op)
