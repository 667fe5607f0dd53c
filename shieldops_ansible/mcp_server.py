"""The MCP server: the facade's operations as MCP tools, one long-lived process keeping the warm engine warm.

Over stdio or streamable HTTP (``mcp_http``). The tools are ``list_environments``, ``describe_environment``,
``list_resources``, ``get_health``, ``get_events``, ``create_snapshot``, ``execute_action`` and, with writes
allowed, ``rollback``; every tool that names an environment takes ``environment`` as an enum of the served ones;
listings and events come in pages under a byte cap (``mcp_output``). Read-only by default: ``execute_action`` runs
dry runs only (a real action is refused as a tool error). With writes allowed, a real action needs one of two
confirmations: the token its dry run returned (``details.confirmation``: bound to that action and environment,
single use, valid for ``CONFIRMATION_TTL_S``), or the user's, asked through elicitation with the dry run's diff;
else it is refused (fail closed). Either answers the facade's approver when the environment's policy asks for
approval. Real actions and rollbacks report progress as their tasks start. The server is a client of the facade,
not a second path: validation, policy, audit and errors are the facade's; a refusal or a provider failure is a
tool error with the facade's message (which quotes agent text only through ``quote_untrusted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from . import audit
from .config import Config, load_config
from .connector import InfraConnector, connect
from .engines.base import Engine
from .errors import InvalidRequest, ShieldOpsError
from .mcp_http import TOKEN_ENV, BearerToken, HttpOptions, auth_settings, is_loopback, load_token, transport_security
from .mcp_output import CursorRefused, Listings, bounded, query_digest
from .models import Action, ActionResult, Event, HealthStatus, Resource, RollbackResult, Snapshot, TimeRange
from .snapshots import signing
from .validation import clean_output

__all__ = ["CONFIRMATION_TTL_S", "build_server", "serve"]

# How long a dry run's confirmation stays good: long enough for an agent to show the diff and decide.
CONFIRMATION_TTL_S = 300.0

# What a tool's text rendering may say at most; the structured content carries the whole answer.
_TEXT_LIMIT = 4000
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)


class EnvironmentSummary(BaseModel):
    name: str
    provider: str


class EnvironmentList(BaseModel):
    environments: list[EnvironmentSummary]


class ActionDescription(BaseModel):
    name: str
    destructive: bool
    parameters: list[dict[str, Any]] = Field(description="name, type, required and bounds of each parameter")


class TypeDescription(BaseModel):
    native_type: str
    common_type: str | None
    actions: list[ActionDescription]


class EnvironmentDescription(BaseModel):
    name: str
    provider: str
    filters: list[str]
    types: list[TypeDescription]
    writes: bool = Field(description="whether this server runs real actions (false: dry runs only)")


_NEXT = "the cursor of the next page (pass it as cursor with the same arguments), or null on the last page"


class ResourceList(BaseModel):
    resources: list[Resource] = Field(description="one page: raw only where include_raw was asked for")
    total: int = Field(description="how many the whole listing holds")
    next_cursor: str | None = Field(default=None, description=_NEXT)


class EventList(BaseModel):
    events: list[Event] = Field(description="one page, oldest first as the provider reported them")
    total: int = Field(description="how many events the window holds")
    next_cursor: str | None = Field(default=None, description=_NEXT)


# Per answer model: the fields emptied (largest first) when an answer is over the byte cap, and what stays of them.
_OMITTABLE: dict[type[BaseModel], tuple[str, ...]] = {
    Snapshot: ("state", "handles"),
    ActionResult: ("diff", "details"),
    HealthStatus: ("checks", "metrics"),
    RollbackResult: ("restored",),
}
_KEEP = {"details": ("confirmation", "confirmation_ttl_s")}


class _Server(MCPServer):
    """The SDK's server, but arguments it rejects are reported by field and rule only: its own message repeats
    the rejected value (``input_value='...'``), which is the agent's text, maybe an LLM's instruction."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if not isinstance(error.__cause__, ValidationError):
                raise
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                for problem in error.__cause__.errors(include_input=False, include_url=False)
            )
            raise ToolError(f"InvalidRequest: {problems}") from None


def action_digest(environment: str, action: Mapping[str, Any]) -> str:
    """What a confirmation is bound to: the environment and what the action does (its reason is not). The same
    digest binds the facade's grants to an action (snapshot_signing.action_digest)."""
    digest: str = signing().action_digest(environment, action)
    return digest


class _Confirmations:
    """The tokens dry runs hand out, each good for one real action of the same digest, until it expires."""

    def __init__(self, ttl_s: float = CONFIRMATION_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._pending: dict[str, tuple[str, float]] = {}

    def issue(self, digest: str) -> tuple[str, float]:
        now = time.monotonic()
        self._pending = {t: (d, until) for t, (d, until) in self._pending.items() if until > now}
        token = "confirm-" + secrets.token_urlsafe(24)
        self._pending[token] = (digest, now + self._ttl_s)
        return token, self._ttl_s

    def redeem(self, token: str, digest: str) -> str | None:
        """None when ``token`` confirms ``digest`` (it is used up then); else why not. A token is used up by any
        attempt, so that it cannot be tried against action after action."""
        entry = self._pending.pop(token, None)
        if entry is None:
            return "the confirmation is unknown or already used"
        if entry[1] <= time.monotonic():
            return "the confirmation has expired: run the dry run again"
        if not secrets.compare_digest(entry[0], digest):
            return "the confirmation is for another action or environment: run this action's dry run"
        return None


# The digest the current tool call confirmed; the facade's approver asks it (contextvars: per tool call).
_confirmed: contextvars.ContextVar[str | None] = contextvars.ContextVar("shieldops_mcp_confirmed", default=None)


class ConfirmAction(BaseModel):
    """What the user is asked to confirm a real action with (MCP elicitation)."""

    confirm: bool = Field(description="true: run this action now, as its dry run showed")


_NOT_ASKED = "not asked"
_QUESTION_DIFF_CHARS = 2000


def _can_elicit(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _confirmation_question(environment: str, action: Mapping[str, Any], preview: ActionResult) -> str:
    """What the user sees: the action (agent text, quoted as JSON) and what its dry run says it would change.
    Nothing that changes between two dry runs of the same action (ids, times), so the question is the same when
    the client answers it and the call is retried."""
    diff = json.dumps(preview.diff, sort_keys=True, default=str)
    if len(diff) > _QUESTION_DIFF_CHARS:
        diff = diff[:_QUESTION_DIFF_CHARS] + " ...(truncated)"
    what = json.dumps({k: action[k] for k in ("type", "resource_id", "parameters")}, sort_keys=True)
    return (
        f"Run this action for real in environment {json.dumps(environment)}? {what}\n"
        f"Its dry run says: {clean_output(preview.message)[:500]}\nDiff: {diff}"
    )


class _Progress:
    """One tool call's progress notifications, from its runs' events: one per task that starts, numbered, with the
    task's name (our roles' names; cleaned and bounded all the same). Nothing is sent unless the client asked
    (a progress token); ``flush`` before answering, so every notification precedes the result."""

    def __init__(self, ctx: Context[Any, Any] | None) -> None:
        self._ctx = ctx
        self._count = 0
        self._sending: list[asyncio.Task[None]] = []

    def on_event(self, event: Mapping[str, Any]) -> None:
        if self._ctx is None or event.get("event") != "playbook_on_task_start":
            return
        task = clean_output(str((event.get("event_data") or {}).get("task") or "a task"))[:200]
        self._count += 1
        # The engines call back on the event loop's thread (the runner engine hands its events over to it).
        report = self._ctx.report_progress(self._count, None, f"task {self._count}: {task}")
        self._sending.append(asyncio.get_running_loop().create_task(report))

    async def flush(self) -> None:
        await asyncio.gather(*self._sending, return_exceptions=True)  # a lost notification never fails the call


def _approve_confirmed(environment: str) -> Callable[[Action], bool]:
    def approve(action: Action) -> bool:
        return _confirmed.get() == action_digest(environment, action.model_dump(mode="json"))

    return approve


def _caller(ctx: Context[Any, Any] | None, transport: str) -> dict[str, str]:
    """Who is asking, for the audit record: the client's own name and version (its words: cleaned and bounded),
    the transport, the session id where the transport has one, and the bearer token's subject over HTTP."""
    info = None
    with contextlib.suppress(AttributeError):
        params = ctx.session.client_params if ctx is not None else None
        info = params.client_info if params is not None else None
    caller = {"via": "mcp", "transport": transport}
    token = get_access_token()
    if token is not None and token.subject:
        caller["subject"] = clean_output(token.subject)[:128]
    if info is not None:
        caller["client"] = clean_output(info.name)[:128]
        if getattr(info, "version", None):
            caller["client_version"] = clean_output(info.version)[:64]
    session = (getattr(ctx, "headers", None) or {}).get("mcp-session-id") if ctx is not None else None
    if session:
        caller["session"] = clean_output(session)[:128]
    return caller


class _Connections:
    """One connector per served environment, opened on first use and closed with the server."""

    def __init__(self, config: Config, engine: Engine | None, transport: str) -> None:
        self._config = config
        self._engine = engine
        self.transport = transport
        self._open: dict[str, InfraConnector] = {}

    def get(self, name: str, ctx: Context[Any, Any] | None = None) -> InfraConnector:
        """The environment's connector, acting for the tool call's client (its audit records name it)."""
        if name not in self._open:
            self._open[name] = connect(
                name, config=self._config.path, approver=_approve_confirmed(name), engine=self._engine
            )
        return self._open[name].acting_for(_caller(ctx, self.transport))

    async def aclose(self) -> None:
        for connector in self._open.values():
            with contextlib.suppress(Exception):  # closing the others matters more than one close's failure
                await connector.aclose()
        self._open.clear()


def _answer(value: BaseModel) -> CallToolResult:
    content = bounded(value.model_dump(mode="json"), _OMITTABLE.get(type(value), ()), keep=_KEEP)
    return _content(content)


def _content(content: dict[str, Any]) -> CallToolResult:
    text = json.dumps(content, separators=(",", ":"), default=str)
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + " ...(truncated; the structured content is whole)"
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=content)


def _refusal(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


async def _call(work: Callable[[], Awaitable[BaseModel | dict[str, Any]]]) -> CallToolResult:
    try:
        answer = await work()
    except ShieldOpsError as error:
        return _refusal(f"{type(error).__name__}: {error}")
    except CursorRefused as error:
        return _refusal(f"InvalidRequest: {error}")
    return _content(answer) if isinstance(answer, dict) else _answer(answer)


_LIMIT = Field(ge=1, le=500, description="at most this many per page (fewer where the answer's byte cap is reached)")
_CURSOR = Field(description="next_cursor of the previous page; leave out for the first page", max_length=64)


def build_server(
    config: str | Path | None = None,
    environments: list[str] | None = None,
    *,
    allow_writes: bool = False,
    engine: Engine | None = None,
    http: HttpOptions | None = None,
    bearer_token: str | None = None,
) -> MCPServer:
    """The server for the config file's environments (or the named ones); read-only unless ``allow_writes``.
    ``engine``: the one every environment's connector runs on (default: each its configured engine; tests plug
    the seam's test double in here). ``http``: served over streamable HTTP there (see mcp_http), requiring
    ``bearer_token`` when it is given."""
    cfg = load_config(config)
    names = list(environments or sorted(cfg.environments))
    for name in names:
        cfg.environment(name)  # an unknown name fails here, with the names the file defines
    connections = _Connections(cfg, engine, "stdio" if http is None else "http")
    confirmations = _Confirmations()
    listings = Listings()

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await connections.aclose()

    server = _Server(
        "shieldops-ansible",
        version="0.1.0",
        instructions=(
            "Infrastructure operations across the configured environments, one vocabulary for every provider. "
            + (
                "A real execute_action needs the confirmation its dry run returns (details.confirmation)."
                if allow_writes
                else "Read-only: execute_action runs dry runs only."
            )
            + " Call describe_environment for the types and actions."
        ),
        lifespan=lifespan,
        token_verifier=BearerToken(bearer_token) if http is not None and bearer_token else None,
        auth=auth_settings(http) if http is not None and bearer_token else None,
    )
    # `environment` is an enum of the served names in every tool's schema, checked by the SDK before a tool runs.
    served_names: Any = Literal[tuple(names)]

    async def list_environments(ctx: Context[Any, Any] | None = None) -> Annotated[CallToolResult, EnvironmentList]:
        """The environments this server serves, with their providers."""
        served = [EnvironmentSummary(name=n, provider=cfg.environment(n).provider.name) for n in names]
        # Not one environment's call: its record names none (environment and provider "*").
        async with audit.recorded(
            cfg.audit_log,
            environment="*",
            provider="*",
            engine="-",
            operation="list_environments",
            request={},
            caller=_caller(ctx, connections.transport),
        ):
            return _answer(EnvironmentList(environments=served))

    async def describe_environment(
        environment: str, ctx: Context[Any, Any] | None = None
    ) -> Annotated[CallToolResult, EnvironmentDescription]:
        """The environment's native types (with their common type), actions, their parameters and which are
        destructive, and the filters list_resources takes."""
        await connections.get(environment, ctx).record_call("describe_environment", {})
        env = cfg.environment(environment)
        caps = env.provider.capabilities
        types = [
            TypeDescription(
                native_type=native.name,
                common_type=native.common,
                actions=[
                    ActionDescription(
                        name=spec.name,
                        destructive=spec.destructive,
                        parameters=[{k: v for k, v in vars(p).items() if v is not None} for p in spec.parameters],
                    )
                    for spec in native.actions.values()
                ],
            )
            for native in caps.native_types.values()
        ]
        return _answer(
            EnvironmentDescription(
                name=environment,
                provider=env.provider.name,
                filters=sorted(caps.filters),
                types=types,
                writes=allow_writes,
            )
        )

    async def list_resources(
        environment: str,
        resource_type: Annotated[str, Field(description="a common type (instance, service, ...) or a native type")],
        filters: Annotated[dict[str, Any] | None, Field(description="name, tags, state and provider filters")] = None,
        limit: Annotated[int, _LIMIT] = 50,
        cursor: Annotated[str | None, _CURSOR] = None,
        include_raw: Annotated[bool, Field(description="include each provider's own description (large)")] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, ResourceList]:
        """The resources of a type in the environment, filtered, a page at a time."""
        query = {"environment": environment, "resource_type": resource_type, "filters": filters or {}}
        digest = query_digest("list_resources", {**query, "include_raw": include_raw})

        async def work() -> dict[str, Any]:
            items = None
            if cursor is not None:
                page_request = {"resource_type": resource_type, "filters": filters or {}, "cursor": cursor}
                await connections.get(environment, ctx).record_call("list_resources_page", page_request)
            else:
                found = await connections.get(environment, ctx).list_resources(resource_type, dict(filters or {}))
                items = [r.model_dump(mode="json", exclude=None if include_raw else {"raw"}) for r in found]
            page, total, next_cursor = listings.page(
                digest, items, cursor=cursor, limit=limit, omittable=("raw", "tags")
            )
            return {"resources": page, "total": total, "next_cursor": next_cursor}

        return await _call(work)

    async def get_health(
        environment: str, resource_id: str, ctx: Context[Any, Any] | None = None
    ) -> Annotated[CallToolResult, HealthStatus]:
        """A resource's health: status, the checks behind it and metrics."""
        return await _call(lambda: connections.get(environment, ctx).get_health(resource_id))

    async def get_events(
        environment: str,
        resource_id: str,
        minutes: Annotated[int, Field(ge=1, le=10080, description="the window: the last N minutes")] = 60,
        limit: Annotated[int, _LIMIT] = 100,
        cursor: Annotated[str | None, _CURSOR] = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, EventList]:
        """A resource's events in the last ``minutes`` minutes, a page at a time (a cursor pages through the
        window its first page read)."""
        query = {"environment": environment, "resource_id": resource_id, "minutes": minutes}
        digest = query_digest("get_events", query)

        async def work() -> dict[str, Any]:
            items = None
            if cursor is not None:
                page_request = {"resource_id": resource_id, "minutes": minutes, "cursor": cursor}
                await connections.get(environment, ctx).record_call("get_events_page", page_request)
            else:
                end = datetime.now(UTC)
                window = TimeRange(start=end - timedelta(minutes=minutes), end=end)
                found = await connections.get(environment, ctx).get_events(resource_id, window)
                items = [event.model_dump(mode="json") for event in found]
            page, total, next_cursor = listings.page(digest, items, cursor=cursor, limit=limit, omittable=("message",))
            return {"events": page, "total": total, "next_cursor": next_cursor}

        return await _call(work)

    async def create_snapshot(
        environment: str, resource_id: str, ctx: Context[Any, Any] | None = None
    ) -> Annotated[CallToolResult, Snapshot]:
        """Record a resource's restorable state (the snapshot store's, no change to the resource)."""
        return await _call(lambda: connections.get(environment, ctx).create_snapshot(resource_id))

    async def ask_the_user(
        ctx: Context[Any, Any],
        environment: str,
        type: str,
        resource_id: str,
        parameters: dict[str, Any] | None,
        dry_run: bool,
        confirmation: str | None,
    ) -> Elicit[ConfirmAction] | str:
        """The second way to confirm a real action: the client asks its user, showing the dry run's diff. Only
        where this server runs real actions, the call has no token, and the client can ask (elicitation)."""
        if dry_run or not allow_writes or confirmation or not _can_elicit(ctx):
            return _NOT_ASKED
        preview = {"type": type, "resource_id": resource_id, "parameters": dict(parameters or {}), "dry_run": True}
        try:
            result = await connections.get(environment, ctx).execute_action(preview)  # type: ignore[arg-type]
        except ShieldOpsError as error:
            return f"its dry run failed: {error.__class__.__name__}: {error}"
        if result.status != "dry_run":
            return f"its dry run did not run ({result.status}): {result.message}"
        return Elicit(_confirmation_question(environment, preview, result), ConfirmAction)

    async def execute_action(
        environment: str,
        type: Annotated[str, Field(description="the action, as describe_environment lists it")],
        resource_id: str,
        asked: ElicitationResult[ConfirmAction],  # filled by ask_the_user (below), never by the agent
        parameters: dict[str, Any] | None = None,
        dry_run: Annotated[bool, Field(description="true: the diff only, nothing changes")] = True,
        reason: str = "",
        confirmation: Annotated[
            str | None, Field(description="a real action: the details.confirmation of this action's dry run")
        ] = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, ActionResult]:
        """An action on a resource. A dry run returns the diff it would make (and, where this server runs real
        actions, the confirmation a real run of the same action needs)."""
        # A mapping: the facade validates it as it validates every action (an InvalidRequest naming the field).
        action = {
            "type": type,
            "resource_id": resource_id,
            "parameters": dict(parameters or {}),
            "dry_run": dry_run,
            "reason": reason,
        }
        digest = action_digest(environment, action)
        connector = connections.get(environment, ctx)
        if dry_run:

            async def dry() -> BaseModel:
                result = await connector.execute_action(action)  # type: ignore[arg-type]
                if not allow_writes or result.status != "dry_run":
                    return result
                token, ttl_s = confirmations.issue(digest)
                return result.model_copy(
                    update={"details": {**result.details, "confirmation": token, "confirmation_ttl_s": ttl_s}}
                )

            return await _call(dry)
        why_not = None
        if not allow_writes:
            why_not = (
                "this MCP server is read-only and runs dry runs only (dry_run: true); its operator starts it with "
                "--allow-writes to serve real actions"
            )
        elif confirmation:
            why_not = confirmations.redeem(confirmation, digest)
        elif isinstance(asked, AcceptedElicitation) and isinstance(asked.data, ConfirmAction):
            why_not = None if asked.data.confirm else "the user did not confirm it"
        elif isinstance(asked, AcceptedElicitation) and asked.data != _NOT_ASKED:
            why_not = str(asked.data)  # the resolver's reason for not asking
        elif isinstance(asked, AcceptedElicitation):
            why_not = (
                "a real action needs the confirmation its dry run returns (run it with dry_run: true and pass "
                "details.confirmation as confirmation), or a client that asks its user (elicitation)"
            )
        else:
            why_not = f"the user was asked and answered {asked.action}"
        if why_not is not None:
            await connector.record_refusal("execute_action", action, f"mcp: {why_not}")
            return _refusal(f"refused: {why_not}")
        confirmed = _confirmed.set(digest)
        progress = _Progress(ctx)
        try:
            return await _call(lambda: connector.observed(progress.on_event).execute_action(action))  # type: ignore[arg-type]
        finally:
            _confirmed.reset(confirmed)
            await progress.flush()

    async def rollback(
        environment: str,
        snapshot_id: Annotated[str, Field(description="the snapshot an action took (its snapshot_id)")],
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, RollbackResult]:
        """Put a resource back as its snapshot recorded it (progress notifications as its tasks start)."""
        progress = _Progress(ctx)
        try:
            return await _call(
                lambda: connections.get(environment, ctx).observed(progress.on_event).rollback(snapshot_id)
            )
        finally:
            await progress.flush()

    read_tools: Mapping[str, Callable[..., Any]] = {
        "list_environments": list_environments,
        "describe_environment": describe_environment,
        "list_resources": list_resources,
        "get_health": get_health,
        "get_events": get_events,
    }
    writes: tuple[Callable[..., Any], ...] = (rollback,) if allow_writes else ()
    for tool in (*read_tools.values(), create_snapshot, execute_action, *writes):
        if "environment" in tool.__annotations__:
            tool.__annotations__["environment"] = served_names
    # Set here: the SDK evaluates annotations in the module's namespace, where the resolver (a closure) is not.
    execute_action.__annotations__["asked"] = Annotated[ElicitationResult[ConfirmAction], Resolve(ask_the_user)]
    for name, tool in read_tools.items():
        server.add_tool(tool, name=name, annotations=_READ, structured_output=True)
    server.add_tool(
        create_snapshot,
        name="create_snapshot",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
        structured_output=True,
    )
    server.add_tool(
        execute_action,
        name="execute_action",
        annotations=ToolAnnotations(
            read_only_hint=not allow_writes, destructive_hint=allow_writes, idempotent_hint=not allow_writes
        ),
        structured_output=True,
    )
    if allow_writes:
        server.add_tool(
            rollback,
            name="rollback",
            annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
            structured_output=True,
        )
    return server


def serve(
    config: str | Path | None = None,
    environments: list[str] | None = None,
    *,
    allow_writes: bool = False,
    http: HttpOptions | None = None,
) -> None:
    """Serve over stdio until the client goes, or over streamable HTTP (``http``) until interrupted. Raises
    InvalidRequest before serving anything when the HTTP options are unsafe (see mcp_http)."""
    if http is None:
        build_server(config, environments, allow_writes=allow_writes).run()
        return
    token = load_token(http.token_file)
    if token is None and not is_loopback(http.host):
        raise InvalidRequest(
            f"serving MCP on {http.host} (not loopback) needs a bearer token: --token-file FILE (mode 0600) or "
            f"${TOKEN_ENV}"
        )
    security = transport_security(http)
    server = build_server(config, environments, allow_writes=allow_writes, http=http, bearer_token=token)
    server.run("streamable-http", host=http.host, port=http.port, transport_security=security)
