"""A wire-level fake of Azure Resource Manager and of the identity endpoints in front of it, for the sandbox and
the tests.

azure.azcollection's ARM base URL comes from azure-cli-core's built-in cloud objects and cannot be re-pointed, so
this server speaks the documented REST shapes over plain HTTP on loopback, and the sandbox's intercepting proxy
(sandbox/intercepting_proxy.py) terminates TLS for ``management.azure.com`` and ``login.microsoftonline.com`` and
relays here; requests route on the Host header, as at Azure's front doors.

What it serves:

- Azure IMDS' managed identity token endpoint (``GET /metadata/identity/oauth2/token``, ``Metadata: true``,
  ``client_id``/``object_id``/``msi_res_id`` to pick a user-assigned identity, none for the system-assigned one),
  reached by azure-identity with ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` pointing at this server. Neither
  azure-identity 1.19 nor msal 1.33 probes first when that variable is set (imds.py: ``_endpoint_available``).
- Entra ID (``login.microsoftonline.com``): instance discovery, the tenant's OpenID configuration and the v2.0
  token endpoint's ``client_credentials`` grant with a federated ``client_assertion`` (what WorkloadIdentityCredential
  sends; azure-identity's own AadClient posts to ``/{tenant}/oauth2/v2.0/token`` directly, no discovery). Errors are
  AADSTS documents (``error``, ``error_description``, ``error_codes``) with 400, or 401 for a client that failed to
  authenticate.
- ARM: subscriptions, resource groups, provider metadata, operation status (``Azure-AsyncOperation``) and
  operation results (``Location``) documents; Compute and Network (fake_compute.py), Web (fake_web.py), AKS
  (fake_aks.py), Monitor metrics, the Activity Log and Resource Health (fake_insights.py).

Access tokens are opaque (no client in this stack decodes an ARM token) and expire after an hour; ARM answers 401
``InvalidAuthenticationToken`` with a ``WWW-Authenticate`` challenge for a missing, unknown or expired one. Every
principal reads; only writers (Contributor) write, others get 403 ``AuthorizationFailed`` naming the action. Every
write appends Activity Log events (Started, then Succeeded or Failed), as ARM does. Any api-version is accepted (the
SDKs pin theirs), but one is required, as on ARM.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from ...sandbox.loopback_server import LoopbackServer
from .fake_aks import Aks
from .fake_compute import Compute
from .fake_insights import Insights
from .fake_web import Web
from .fake_wire import (
    ARM_HOST,
    ArmError,
    ArmPath,
    ArmRequest,
    AsyncOperations,
    Principal,
    Response,
    authorization_failed,
    iso8601,
    json_object,
    not_found,
    page,
    parse_arm_path,
)

__all__ = [
    "LOCATION",
    "LOGIN_HOST",
    "OPERATOR_CLIENT_ID",
    "READER_CLIENT_ID",
    "SUBSCRIPTION_ID",
    "TENANT_ID",
    "WORKLOAD_CLIENT_ID",
    "FakeAzure",
    "FakeAzureServer",
    "sandbox_state",
    "seed_sandbox",
]

TENANT_ID = "5f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
SUBSCRIPTION_ID = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
OPERATOR_CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000a001"
READER_CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000a002"
WORKLOAD_CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000a003"
LOCATION = "westeurope"
LOGIN_HOST = "login.microsoftonline.com"
_IMDS_HOSTS = frozenset({"127.0.0.1", "localhost", "169.254.169.254"})
_TOKEN_LIFETIME_S = 3600
# The audiences an ARM token may be asked for: the resource (IMDS) or the scope (Entra v2.0) of ARM.
_ARM_AUDIENCES = frozenset({"https://management.azure.com", "https://management.core.windows.net"})
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class _Token:
    principal: Principal
    expires_at: float


class _OAuthError(Exception):
    """An Entra ID (or IMDS) error: the OAuth2 error document, AADSTS-coded when ``aadsts`` is given."""

    def __init__(self, status: int, error: str, description: str, aadsts: int | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.aadsts = status, error, description, aadsts

    def response(self) -> Response:
        if self.aadsts is None:  # IMDS: no AADSTS code, no trace
            return Response(self.status, {"error": self.error, "error_description": self.description})
        trace, correlation, now = str(uuid.uuid4()), str(uuid.uuid4()), iso8601(time.time())
        return Response(
            self.status,
            {
                "error": self.error,
                "error_description": f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace} Correlation ID: "
                f"{correlation} Timestamp: {now}",
                "error_codes": [self.aadsts],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://{LOGIN_HOST}/error?code={self.aadsts}",
            },
        )


@dataclass
class FakeAzure:
    """The state of one tenant and subscription and ARM's semantics over it (thread-safe: one lock for all)."""

    tenant: str = TENANT_ID
    subscription: str = SUBSCRIPTION_ID
    location: str = LOCATION
    # User-assigned managed identities by name (IMDS hands out their tokens), the system-assigned one, and the app
    # registrations that accept a federated credential (Entra hands out theirs).
    managed_identities: dict[str, Principal] = field(default_factory=dict)
    system_identity: Principal | None = None
    applications: dict[str, Principal] = field(default_factory=dict)  # client id -> principal
    # Client id -> the one subject token its federated credential accepts.
    federated_tokens: dict[str, str] = field(default_factory=dict)
    resource_groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # lowercased name -> document
    # Every ARM resource document the services hold, by lowercased id (canonical spelling inside the document).
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What a disk or snapshot holds, which ARM never shows (lowercased id -> marker): tests write one, snapshot,
    # restore, and read it back through /_fake/content to see that a rollback brought the data back.
    content: dict[str, str] = field(default_factory=dict)
    # Activity Log events, in the order they happened (fake_insights.py answers them newest first).
    events: list[dict[str, Any]] = field(default_factory=list)
    # How many items one page of a list holds; tests make it small to see nextLink paging.
    page_size: int = 100
    operations: AsyncOperations = field(default_factory=AsyncOperations)
    _results: dict[str, Callable[[], Any]] = field(default_factory=dict)  # operation id -> its Location result
    _tokens: dict[str, _Token] = field(default_factory=dict)
    # Told every access token minted (the sandbox records them, so that the secrets tests can look for them).
    on_token: Callable[[str], None] | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    compute: Compute = field(init=False)
    web: Web = field(init=False)
    aks: Aks = field(init=False)
    insights: Insights = field(init=False)

    def __post_init__(self) -> None:
        self.compute = Compute(self)
        self.web = Web(self)
        self.aks = Aks(self)
        self.insights = Insights(self)

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_resource_group(self, name: str, location: str | None = None, tags: dict[str, str] | None = None) -> None:
        self.resource_groups[name.lower()] = {
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{name}",
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location or self.location,
            "tags": dict(tags or {}),
            "properties": {"provisioningState": "Succeeded"},
        }

    def add_vm(
        self,
        resource_group: str,
        name: str,
        power_state: str,
        tags: dict[str, str],
        size: str = "Standard_B2s",
        data_disks: int = 1,
    ) -> dict[str, Any]:
        """A Linux VM with its NIC, public IP, OS disk and ``data_disks`` data disks; ``power_state`` is
        ``running``, ``stopped`` or ``deallocated`` (``PowerState/`` prefix optional)."""
        with self._lock:
            return self.compute.add_vm(resource_group, name, power_state, tags, size, data_disks)

    def add_function_app(
        self, resource_group: str, name: str, state: str = "Running", slots: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any]:
        with self._lock:
            return self.web.add_function_app(resource_group, name, state, slots, **kwargs)

    def add_aks_cluster(
        self, resource_group: str, name: str, pools: dict[str, dict[str, Any]], kubernetes_version: str = "1.30.6"
    ) -> dict[str, Any]:
        with self._lock:
            return self.aks.add_cluster(resource_group, name, pools, kubernetes_version)

    def add_identity(self, name: str, client_id: str, writer: bool) -> Principal:
        principal = Principal(
            object_id=str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), client_id=client_id, writer=writer
        )
        self.managed_identities[name] = principal
        return principal

    def add_application(self, client_id: str, writer: bool, federated_token: str | None = None) -> Principal:
        principal = Principal(
            object_id=str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), client_id=client_id, writer=writer
        )
        self.applications[client_id] = principal
        if federated_token is not None:
            self.federated_tokens[client_id] = federated_token
        return principal

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(resource_id.lower())

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(
        self, method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """One request as it arrived (``query`` holds the decoded first value of each parameter)."""
        host = host.split(":")[0].lower()
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.operations.settle_all()
            try:
                if host == LOGIN_HOST:
                    response = self._entra(method, path, query, body)
                elif host in _IMDS_HOSTS and path == "/metadata/identity/oauth2/token":
                    response = self._imds(method, query, headers)
                elif host == ARM_HOST:
                    response = self._arm(ArmRequest(method, host, path, query, None, headers), body)
                else:
                    response = Response(404, {"error": {"code": "NotFound", "message": f"No such host {host}."}})
            except ArmError as exc:
                response = exc.response()
            except _OAuthError as exc:
                response = exc.response()
            return response.status, response.headers, response.body

    def backdoor(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        """What tests arrange and observe beside the API: disk markers, outside power changes, stored documents."""
        with self._lock:
            self.operations.settle_all()
            doc = json_object(body) if body else {}
            if path == "/_fake/ready":
                return 200, {"ready": True}
            if path == "/_fake/content":
                key = query.get("id", "").lower()
                if key not in self.content:
                    return 404, {"error": f"no disk or snapshot {query.get('id')}"}
                if method == "PUT":
                    self.content[key] = str(doc.get("content", ""))
                return 200, {"id": self.resources[key]["id"], "content": self.content[key]}
            if path == "/_fake/vm" and method == "GET":
                vm = self.compute.vm(query.get("id", ""))
                if vm is None:
                    return 404, {"error": "no such VM"}
                return 200, {"id": vm["id"], "power_state": self.compute.power[vm["id"].lower()]}
            if path == "/_fake/vm" and method == "POST":
                vm = self.compute.vm(str(doc.get("id", "")))
                if vm is None:
                    return 404, {"error": "no such VM"}
                self.compute.set_power(vm, str(doc["power_state"]).removeprefix("PowerState/"), outside=True)
                return 200, {"id": vm["id"], "power_state": self.compute.power[vm["id"].lower()]}
            if path == "/_fake/resource":
                found = self.resource(query.get("id", ""))
                return (200, found) if found is not None else (404, {"error": "no such resource"})
            if path == "/_fake/health" and method == "POST":
                found = self.resource(str(doc.get("id", "")))
                if found is None:
                    return 404, {"error": "no such resource"}
                self.insights.set_health(
                    found["id"],
                    str(doc["availabilityState"]),
                    str(doc.get("summary", "")),
                    str(doc.get("reasonType", "")),
                )
                return 200, self.insights.current_health(found)
            if path == "/_fake/host-status" and method == "POST":
                return self.web.set_host_error(str(doc.get("id", "")), doc.get("error"))
            if path == "/_fake/app-settings":
                found = self.web.settings.get(query.get("id", "").lower())
                return (200, {"properties": dict(found)}) if found is not None else (404, {"error": "no such site"})
            if path == "/_fake/events":
                return 200, {"value": self.events}
            return 404, {"error": f"no backdoor {path}"}

    # --- ARM --------------------------------------------------------------------------------------------------

    def _arm(self, request: ArmRequest, raw: bytes) -> Response:
        request.principal = self._authenticate(request.headers)
        if request.param("api-version") is None:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        request.body = json_object(raw) if request.method in {"PUT", "PATCH", "POST"} else None
        path = parse_arm_path(request.path)
        if path is None:
            raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for '{request.path}'.")
        if path.subscription.lower() != self.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{path.subscription}' could not be found.")
        if path.scope is not None:
            return self.insights.scoped(request, path)
        if path.namespace is None:
            return self._resource_manager(request, path)
        namespace = path.namespace.lower()
        if path.is_type("locations", "operations") or path.is_type("locations", "operationResults"):
            return self._operation(path)
        if not path.types:
            return self._provider(path)
        if path.resource_group is not None and path.resource_group.lower() not in self.resource_groups:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{path.resource_group}' could not be found.")
        if namespace in {"microsoft.compute", "microsoft.network"}:
            return self.compute.handle(request, path)
        if namespace == "microsoft.web":
            return self.web.handle(request, path)
        if namespace == "microsoft.containerservice":
            return self.aks.handle(request, path)
        if namespace == "microsoft.insights":
            return self.insights.handle(request, path)
        raise ArmError(
            400,
            "MissingSubscriptionRegistration",
            f"The subscription is not registered to use namespace '{path.namespace}'.",
        )

    def _resource_manager(self, request: ArmRequest, path: ArmPath) -> Response:
        """Microsoft.Resources: the subscription, its resource groups."""
        if request.method != "GET":
            self.authorize(request, "Microsoft.Resources/subscriptions/resourceGroups/write", path.resource_id())
            raise ArmError(405, "MethodNotAllowed", f"The fake does not {request.method} {request.path}.")
        if path.resource_group is None and path.types == ("resourceGroups",):
            groups = [self.resource_groups[k] for k in sorted(self.resource_groups)]
            return Response(200, self.page(groups, request))
        if path.resource_group is None and not path.types:
            return Response(
                200,
                {
                    "id": f"/subscriptions/{self.subscription}",
                    "subscriptionId": self.subscription,
                    "tenantId": self.tenant,
                    "displayName": "shieldops-sandbox",
                    "state": "Enabled",
                    "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "spendingLimit": "Off"},
                    "authorizationSource": "RoleBased",
                },
            )
        if path.resource_group is not None and not path.types:
            group = self.resource_groups.get(path.resource_group.lower())
            if group is None:
                raise not_found(path)
            return Response(200, group)
        if path.resource_group is not None and path.types == ("resources",):
            prefix = f"/subscriptions/{self.subscription}/resourcegroups/{path.resource_group}/".lower()
            found = [
                {k: v for k, v in doc.items() if k in {"id", "name", "type", "location", "tags", "kind"}}
                for key, doc in sorted(self.resources.items())
                if key.startswith(prefix) and key.count("/providers/") == 1 and key.count("/") == 8
            ]
            return Response(200, self.page(found, request))
        raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for '{request.path}'.")

    def _provider(self, path: ArmPath) -> Response:
        """``GET /subscriptions/S/providers/NS``: what azure_rm_resource asks when no api_version is given."""
        types = _PROVIDER_TYPES.get((path.namespace or "").lower())
        if types is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{path.namespace}' is invalid.")
        return Response(
            200,
            {
                "id": f"/subscriptions/{self.subscription}/providers/{path.namespace}",
                "namespace": path.namespace,
                "registrationState": "Registered",
                "registrationPolicy": "RegistrationRequired",
                "resourceTypes": [
                    {"resourceType": name, "locations": ["West Europe"], "apiVersions": list(versions)}
                    for name, versions in types.items()
                ],
            },
        )

    def _operation(self, path: ArmPath) -> Response:
        op_id = path.names[1]
        operation = self.operations.poll(op_id)
        if operation is None:
            raise ArmError(404, "NotFound", f"The operation '{op_id}' could not be found.")
        # A Retry-After while it runs: without one (or with 0, which is falsy there) azure-core's poller sleeps
        # its default 30 s between polls (azure/core/polling/base_polling.py, _extract_delay).
        running = {"Retry-After": "1"} if operation.status == "InProgress" else {}
        if path.types[1].lower() == "operations":
            return Response(200, operation.document(), running)
        # The Location URL: 202 while it runs, then the action's result (or 204 for an action without one).
        if operation.status == "InProgress":
            location = f"https://{ARM_HOST}{path.resource_id()}?api-version=2024-03-01"
            return Response(202, None, {"Location": location, **running})
        if operation.status == "Failed":
            return Response(400, {"error": operation.error})
        result = self._results.get(op_id)
        return Response(200, result()) if result is not None else Response(204)

    # --- for the service parts --------------------------------------------------------------------------------

    def page(self, items: list[Any], request: ArmRequest) -> dict[str, Any]:
        return page(items, request, f"https://{ARM_HOST}", self.page_size)

    def list_page(
        self, request: ArmRequest, path: ArmPath, type_: str, view: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """One page of the resources of ``type_`` in the path's scope (the subscription, or its resource group),
        each as ``view`` shows it, after the caller's read permission."""
        self.authorize(request, f"{type_}/read", path.resource_id())
        prefix = f"/subscriptions/{self.subscription}/".lower()
        if path.resource_group is not None:
            prefix += f"resourcegroups/{path.resource_group.lower()}/"
        found = [
            view(doc) for key, doc in sorted(self.resources.items()) if key.startswith(prefix) and doc["type"] == type_
        ]
        return self.page(found, request)

    def authorize(self, request: ArmRequest, action: str, scope: str) -> None:
        """Readers read; a write by one is refused (and logged, as ARM logs a refused write)."""
        principal = request.principal
        assert principal is not None
        if principal.writer or action.endswith("/read"):
            return
        self.record(principal, action, scope, "Failed", str(uuid.uuid4()), sub_status="Forbidden")
        raise authorization_failed(principal, action, scope)

    def write(self, request: ArmRequest, action: str, resource_id: str, change: Callable[[], None]) -> None:
        """A write that completes in the request: Started, the change, Succeeded."""
        self.authorize(request, action, resource_id)
        assert request.principal is not None
        correlation = str(uuid.uuid4())
        self.record(request.principal, action, resource_id, "Started", correlation)
        change()
        self.record(request.principal, action, resource_id, "Succeeded", correlation)

    def long_running(
        self,
        request: ArmRequest,
        action: str,
        resource_id: str,
        apply: Callable[[], None],
        *,
        status: int = 202,
        body: Any = None,
        result: Callable[[], Any] | None = None,
    ) -> Response:
        """Start an operation that ``apply`` settles; answer ``status`` with the polling headers (and ``body``)."""
        self.authorize(request, action, resource_id)
        principal = request.principal
        assert principal is not None
        correlation = str(uuid.uuid4())
        self.record(principal, action, resource_id, "Started", correlation)

        def settle() -> None:
            try:
                apply()
            except ArmError:
                self.record(principal, action, resource_id, "Failed", correlation)
                raise
            self.record(principal, action, resource_id, "Succeeded", correlation)

        namespace = action.split("/", 1)[0]
        headers = self.operations.start(self.subscription, namespace, self.location, settle)
        headers["Retry-After"] = "1"  # 0 is falsy to azure-core's poller, which then sleeps its 30 s default
        if result is not None:
            self._results[headers["Azure-AsyncOperation"].split("/operations/")[1].split("?")[0]] = result
        return Response(status, body, headers)

    def record(
        self,
        principal: Principal | None,
        action: str,
        resource_id: str,
        status: str,
        correlation: str,
        *,
        at: float | None = None,
        sub_status: str = "",
        caller: str | None = None,
    ) -> None:
        self.events.append(
            self.insights.event(
                principal, action, resource_id, status, correlation, at or time.time(), sub_status, caller
            )
        )

    # --- identity ---------------------------------------------------------------------------------------------

    def _mint(self, principal: Principal) -> tuple[str, float]:
        token = secrets.token_urlsafe(48)
        expires = time.time() + _TOKEN_LIFETIME_S
        self._tokens[token] = _Token(principal, expires)
        if self.on_token is not None:
            self.on_token(token)
        return token, expires

    def _authenticate(self, headers: dict[str, str]) -> Principal:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not token:
            message = "Authentication failed. The 'Authorization' header is missing."
        else:
            known = self._tokens.get(token) if scheme.lower() == "bearer" else None
            if known is not None and known.expires_at > time.time():
                return known.principal
            message = "The access token is invalid." if known is None else "The access token has expired."
        error = ArmError(401, "InvalidAuthenticationToken", message)
        response = error.response()
        challenge = (
            f'Bearer authorization_uri="https://{LOGIN_HOST}/{self.tenant}", error="invalid_token", '
            f'error_description="{message}"'
        )
        raise _Challenge(error, {**response.headers, "WWW-Authenticate": challenge})

    def _imds(self, method: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        """The VM's identity endpoint, as documented for ``api-version=2018-02-01``."""
        if method != "GET":
            raise _OAuthError(405, "invalid_request", "Only GET is supported.")
        if headers.get("metadata", "").lower() != "true":
            raise _OAuthError(400, "invalid_request", "Required metadata header not specified")
        resource = query.get("resource", "")
        if not resource:
            raise _OAuthError(400, "invalid_request", "Required audience parameter not specified")
        if resource.rstrip("/") not in _ARM_AUDIENCES:
            raise _OAuthError(
                400, "invalid_resource", f"AADSTS500011: The resource principal named {resource} was not found"
            )
        principal = self._managed_identity(query)
        token, expires = self._mint(principal)
        now = int(time.time())
        return Response(
            200,
            {
                "access_token": token,
                "client_id": principal.client_id,
                "expires_in": str(_TOKEN_LIFETIME_S),
                "expires_on": str(int(expires)),
                "ext_expires_in": str(_TOKEN_LIFETIME_S),
                "not_before": str(now),
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    def _managed_identity(self, query: dict[str, str]) -> Principal:
        client_id, object_id, res_id = query.get("client_id"), query.get("object_id"), query.get("msi_res_id")
        if not (client_id or object_id or res_id):
            if self.system_identity is None:
                raise _OAuthError(400, "invalid_request", "Identity not found")
            return self.system_identity
        for name, principal in self.managed_identities.items():
            resource_id = (
                f"/subscriptions/{self.subscription}/resourcegroups/rg-identity/providers/"
                f"microsoft.managedidentity/userassignedidentities/{name}"
            )
            if (
                (client_id and client_id.lower() == principal.client_id)
                or (object_id and object_id.lower() == principal.object_id)
                or (res_id and res_id.lower() == resource_id)
            ):
                return principal
        raise _OAuthError(400, "invalid_request", "Identity not found")

    def _entra(self, method: str, path: str, query: dict[str, str], body: bytes) -> Response:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["common", "discovery", "instance"]:
            return Response(200, self._instance_discovery())
        if len(parts) >= 2 and parts[0].lower() not in {self.tenant, "organizations", "common"}:
            raise _OAuthError(
                400,
                "invalid_request",
                f"Tenant '{parts[0]}' not found. Check to make sure you have the correct "
                "tenant ID and are signing into the correct cloud.",
                90002,
            )
        if method == "GET" and parts[1:] in (
            ["v2.0", ".well-known", "openid-configuration"],
            [".well-known", "openid-configuration"],
        ):
            return Response(200, self._openid_configuration())
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return Response(200, self._token(body))
        raise _OAuthError(404, "invalid_request", f"The endpoint {path} does not exist.", 900561)

    def _instance_discovery(self) -> dict[str, Any]:
        aliases = [LOGIN_HOST, "login.windows.net", "login.microsoft.com", "sts.windows.net"]
        return {
            "tenant_discovery_endpoint": f"https://{LOGIN_HOST}/{self.tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": LOGIN_HOST, "preferred_cache": "login.windows.net", "aliases": aliases}],
        }

    def _openid_configuration(self) -> dict[str, Any]:
        base = f"https://{LOGIN_HOST}/{self.tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"https://{LOGIN_HOST}/{self.tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"https://{LOGIN_HOST}/{self.tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def _token(self, body: bytes) -> dict[str, Any]:
        """The v2.0 token endpoint's client credentials grant, the client authenticating with a federated assertion."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise _OAuthError(
                400,
                "unsupported_grant_type",
                "The provided value for the input parameter 'grant_type' is not valid.",
                70003,
            )
        client_id = form.get("client_id", "")
        principal = self.applications.get(client_id.lower())
        if principal is None:
            raise _OAuthError(
                400,
                "unauthorized_client",
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant}'.",
                700016,
            )
        if form.get("client_assertion_type") != _JWT_BEARER or not form.get("client_assertion"):
            raise _OAuthError(
                401,
                "invalid_client",
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                7000218,
            )
        expected = self.federated_tokens.get(principal.client_id)
        # A token file is read as written; a trailing newline is not part of the token.
        if expected is None or form["client_assertion"].strip() != expected.strip():
            raise _OAuthError(
                401,
                "invalid_client",
                "No matching federated identity record found for presented assertion. Please check your federated "
                "identity credential Subject, Audience and Issuer against the presented assertion.",
                700213,
            )
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or scopes[0].removesuffix(".default").rstrip("/") not in _ARM_AUDIENCES:
            raise _OAuthError(
                400, "invalid_scope", "The provided value for the input parameter 'scope' is not valid.", 70011
            )
        token, _ = self._mint(principal)
        return {
            "token_type": "Bearer",
            "expires_in": _TOKEN_LIFETIME_S - 1,
            "ext_expires_in": _TOKEN_LIFETIME_S - 1,
            "access_token": token,
        }


class _Challenge(ArmError):
    """A 401 with ARM's ``WWW-Authenticate`` challenge."""

    def __init__(self, error: ArmError, headers: dict[str, str]) -> None:
        super().__init__(error.status, error.code, error.message)
        self.headers = headers

    def response(self) -> Response:
        response = super().response()
        response.headers = self.headers
        return response


# What ``GET /subscriptions/S/providers/NS`` lists (newest api-version first, as ARM lists them).
_PROVIDER_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "microsoft.compute": {
        "virtualMachines": ("2024-07-01", "2024-03-01", "2023-09-01"),
        "disks": ("2024-03-02", "2023-10-02", "2023-04-02"),
        "snapshots": ("2024-03-02", "2023-10-02", "2023-04-02"),
        "locations/operations": ("2024-07-01", "2024-03-01"),
    },
    "microsoft.network": {
        "networkInterfaces": ("2024-05-01", "2024-03-01"),
        "publicIPAddresses": ("2024-05-01", "2024-03-01"),
    },
    "microsoft.web": {"sites": ("2024-04-01", "2023-12-01", "2022-09-01"), "sites/slots": ("2024-04-01", "2023-12-01")},
    "microsoft.containerservice": {
        "managedClusters": ("2024-09-01", "2024-08-01", "2024-05-01"),
        "managedClusters/agentPools": ("2024-09-01", "2024-08-01", "2024-05-01"),
    },
    "microsoft.insights": {
        "metrics": ("2024-02-01", "2023-10-01", "2018-01-01"),
        "eventtypes": ("2017-03-01-preview", "2015-04-01"),
    },
    "microsoft.resourcehealth": {"availabilityStatuses": ("2025-05-01", "2024-02-01", "2020-05-01")},
}


def seed_sandbox(fake: FakeAzure) -> None:
    """The sandbox's estate: VMs in rg-web, function apps in rg-functions, an AKS cluster in rg-aks, with a day of
    Activity Log history (each created a day ago; web-2 deallocated by an operator an hour ago)."""
    now = time.time()
    fake.add_identity("operator", OPERATOR_CLIENT_ID, writer=True)
    fake.add_identity("reader", READER_CLIENT_ID, writer=False)
    # The host's own identity reads only: least privilege unless a run names its identity.
    fake.system_identity = Principal(str(uuid.uuid5(uuid.NAMESPACE_URL, "system")), "system-assigned", writer=False)
    fake.add_application(WORKLOAD_CLIENT_ID, writer=True)
    for group in ("rg-web", "rg-functions", "rg-aks"):
        fake.add_resource_group(group, fake.location)
    tags = {"app": "web", "tier": "frontend"}
    web_1 = fake.add_vm("rg-web", "web-1", "running", tags)
    web_2 = fake.add_vm("rg-web", "web-2", "deallocated", tags)
    fake.compute.cpu[web_1["id"].lower()] = 23.0
    thumbnailer = fake.add_function_app("rg-functions", "thumbnailer", "Running", slots=("staging",))
    ingest = fake.add_function_app("rg-functions", "ingest", "Stopped")
    cluster = fake.add_aks_cluster(
        "rg-aks",
        "sandbox",
        {
            "system": {"count": 3, "mode": "System"},
            "user": {"count": 2, "mode": "User", "enableAutoScaling": False, "scaleDownMode": "Deallocate"},
        },
    )
    operator = fake.managed_identities["operator"]
    for doc, action in (
        (web_1, "Microsoft.Compute/virtualMachines/write"),
        (web_2, "Microsoft.Compute/virtualMachines/write"),
        (thumbnailer, "Microsoft.Web/sites/write"),
        (ingest, "Microsoft.Web/sites/write"),
        (cluster, "Microsoft.ContainerService/managedClusters/write"),
    ):
        correlation = str(uuid.uuid4())
        for offset, status in ((0.0, "Started"), (95.0, "Succeeded")):
            fake.record(operator, action, doc["id"], status, correlation, at=now - 86400 + offset)
    correlation = str(uuid.uuid4())
    for offset, status in ((0.0, "Started"), (40.0, "Succeeded")):
        fake.record(
            operator,
            "Microsoft.Compute/virtualMachines/deallocate/action",
            web_2["id"],
            status,
            correlation,
            at=now - 3600 + offset,
        )
    fake.events.sort(key=lambda e: e["eventTimestamp"])


def sandbox_state(federated_token: str) -> FakeAzure:
    """A seeded fake whose workload identity app accepts ``federated_token``."""
    fake = FakeAzure()
    seed_sandbox(fake)
    fake.federated_tokens[WORKLOAD_CLIENT_ID] = federated_token
    return fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeAzureServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        headers: dict[str, str] = {}
        if host in {"127.0.0.1", "localhost"} and url.path.startswith("/_fake/"):
            # The fake's own door for tests, on its loopback port only: the proxy routes only the Azure host names.
            status, document = self.server.fake.backdoor(self.command, url.path, query, body)
        else:
            status, headers, document = self.server.fake.handle(
                self.command, host, url.path, query, dict(self.headers.items()), body
            )
        payload = b"" if document is None or status == 204 else json.dumps(document).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request: no query (a filter may name what a run looks at, never a secret, but keep it
        # short), no headers or bodies (tokens, assertions).
        self.server.log(f"{self.command} {self.headers.get('Host', '')}{urlparse(self.path).path} {args[1]}")


class FakeAzureServer(LoopbackServer):
    def __init__(self, fake: FakeAzure, log: Callable[[str], None] = lambda line: None) -> None:
        super().__init__(_Handler, "fake-azure", log)
        self.fake = fake
