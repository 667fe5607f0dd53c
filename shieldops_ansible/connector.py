"""The facade: six async operations that validate untrusted input, run one playbook each and return models.

Nothing here branches on the provider: the provider's vocabulary comes from its role (``Capabilities``), its
credentials from its ``Provider`` object, and everything else from the playbooks. The other concerns live beside
it: an action's transaction in ``transaction.py``, the audit record in ``audit.py``, and how a run's answer
becomes a model or an error in ``results.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

from pydantic import ValidationError

from . import audit
from .config import Config, Environment, load_config
from .engines.base import Engine, EventCallback, RunRequest, RunResult
from .engines.runner import RunnerEngine
from .engines.warm import WarmEngine
from .errors import InvalidRequest, PolicyDenied, quote_untrusted
from .models import (
    Action,
    ActionResult,
    Event,
    HealthStatus,
    Resource,
    ResourceState,
    RollbackResult,
    Snapshot,
    TimeRange,
)
from .results import as_list, as_model, outcome_of, rollback_result, value_of
from .snapshots import SnapshotStore
from .transaction import Approver, Transaction
from .validation import check_json_data, check_mapping, check_name, check_text, field_of

__all__ = ["Approver", "InfraConnector", "connect"]

_STATES = frozenset(get_args(ResourceState))


def connect(
    name: str,
    *,
    config: str | Path | None = None,
    approver: Approver | None = None,
    engine: Engine | None = None,
    on_event: EventCallback | None = None,
) -> InfraConnector:
    """An ``InfraConnector`` for environment ``name`` of the config file; use it as an async context manager."""
    cfg = load_config(config)
    return InfraConnector(
        cfg,
        cfg.environment(check_text(name, "environment name", kind="environment")),
        engine=engine,
        approver=approver,
        on_event=on_event,
    )


class InfraConnector:
    def __init__(
        self,
        config: Config,
        environment: Environment,
        *,
        engine: Engine | None = None,
        approver: Approver | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.config = config
        self.environment = environment
        self.approver = approver
        self._engine: Engine = engine or _engine_named(environment.settings.engine)
        self._owns_engine = engine is None
        self._on_event = on_event
        self._snapshots = SnapshotStore(config.state_dir, config.snapshot_key_file)
        self._caps = environment.provider.capabilities
        self._caller: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def provider(self) -> str:
        return self.environment.provider.name

    def acting_for(self, caller: Mapping[str, str]) -> InfraConnector:
        """This connector (its engine, shared, not owned), its audit records naming ``caller``: who a server (the
        MCP server) runs the operation for."""
        return self._twin(_caller={str(k): str(v) for k, v in caller.items()})

    def observed(self, on_event: EventCallback) -> InfraConnector:
        """This connector (its engine shared, not owned), with ``on_event`` also called for each event of its runs:
        how a server in front of the facade reports one call's progress (the MCP server's notifications)."""
        return self._twin(_on_event=_chained(on_event, self._on_event))

    def _twin(self, **changed: Any) -> InfraConnector:
        """A copy sharing this connector's engine (never closing it), with ``changed`` attributes."""
        twin = copy.copy(self)
        twin._owns_engine = False
        vars(twin).update(changed)
        return twin

    async def record_call(self, operation: str, request: Mapping[str, Any]) -> None:
        """Audit a call a server in front of the facade answered without a run (the MCP server's
        describe_environment, and the later pages of a listing it keeps): one record, outcome ``succeeded``."""
        async with self._audit(operation, request.get("resource_id"), request):
            pass

    async def record_refusal(self, operation: str, request: Mapping[str, Any], reason: str) -> None:
        """Audit an operation a server in front of the facade refused before running it (the MCP server's
        read-only mode and confirmations): one record, outcome ``denied``, the reason as a PolicyDenied."""
        with contextlib.suppress(PolicyDenied):
            async with self._audit(operation, request.get("resource_id"), request):
                raise PolicyDenied(reason)

    async def __aenter__(self) -> InfraConnector:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.aclose()

    # -- the six operations --------------------------------------------------------------------------------------

    async def get_health(self, resource_id: str) -> HealthStatus:
        async with self._audit("get_health", resource_id, {"resource_id": resource_id}):
            return await self._get_health(resource_id)

    async def list_resources(self, resource_type: str, filters: dict[str, Any]) -> list[Resource]:
        async with self._audit("list_resources", None, {"resource_type": resource_type, "filters": filters}):
            self._caps.native_types_for(resource_type)
            clean = self._check_filters(filters)
            value = await self._run("list_resources", {"resource_type": resource_type, "filters": clean})
            return [as_model(Resource, item) for item in as_list(value)]

    async def execute_action(self, action: Action) -> ActionResult:
        action = _coerce_action(action)
        async with self._audit("execute_action", action.resource_id, action.model_dump(mode="json")) as record:
            transaction = Transaction(
                environment=self.environment,
                state_dir=self.config.state_dir,
                snapshots=self._snapshots,
                approver=self.approver,
                health=self._get_health,
                restore=self._rollback,
                execute=self._execute,
            )
            result = await transaction.run(action, record)
            record.outcome = result.status if result.success else "failed"
            record.snapshot_id = result.snapshot_id
            return result

    async def get_events(self, resource_id: str, time_range: TimeRange) -> list[Event]:
        # Anything else is recorded by its type only: its repr could be anything, even raise.
        window = (
            time_range.model_dump(mode="json", warnings=False)
            if isinstance(time_range, TimeRange)
            else type(time_range).__name__
        )
        request: dict[str, Any] = {"resource_id": resource_id, "time_range": window}
        async with self._audit("get_events", resource_id, request):
            self._caps.native_type_of(resource_id)
            window_checked = _coerce_time_range(time_range)
            value = await self._run(
                "get_events",
                {
                    "resource_id": resource_id,
                    "start": window_checked.start.isoformat(),
                    "end": window_checked.end.isoformat(),
                },
            )
            return [as_model(Event, item) for item in as_list(value)]

    async def create_snapshot(self, resource_id: str) -> Snapshot:
        async with self._audit("create_snapshot", resource_id, {"resource_id": resource_id}) as record:
            snapshot = await self._create_snapshot(resource_id)
            record.snapshot_id = snapshot.id
            return snapshot

    async def rollback(self, snapshot_id: str) -> RollbackResult:
        async with self._audit("rollback", None, {"snapshot_id": snapshot_id}) as record:
            record.snapshot_id = snapshot_id
            result = await self._rollback(snapshot_id, record)
            record.outcome = "succeeded" if result.success else "failed"
            return result

    def snapshots(self) -> list[Snapshot]:
        """Snapshots of this environment in the state directory, oldest first."""
        return [s for s in self._snapshots.list() if s.environment == self.name]

    # -- the operations' insides (also the steps of a transaction, which are audited as part of it) -------------

    async def _get_health(self, resource_id: str) -> HealthStatus:
        self._caps.native_type_of(resource_id)
        value = await self._run("get_health", {"resource_id": resource_id})
        return as_model(HealthStatus, value)

    async def _create_snapshot(self, resource_id: str) -> Snapshot:
        self._caps.native_type_of(resource_id)
        snapshot_id = self._snapshots.new_id()
        value = await self._run("create_snapshot", {"resource_id": resource_id, "snapshot_id": snapshot_id})
        return as_model(Snapshot, value)

    async def _rollback(self, snapshot_id: str, record: audit.AuditRecord | None = None) -> RollbackResult:
        # Reading and verifying the signed document is file work: in a worker thread, off the event loop.
        snapshot = await asyncio.to_thread(self._snapshots.load, snapshot_id)
        if record is not None:
            record.resource_id = snapshot.resource_id
        if snapshot.environment != self.name or snapshot.provider != self.provider:
            raise InvalidRequest(
                f"snapshot {snapshot.id} belongs to environment {snapshot.environment!r}, not {self.name!r}"
            )
        return rollback_result(await self._run("rollback", {"snapshot_id": snapshot.id}), snapshot.id)

    def _audit(
        self, operation: str, resource_id: str | None, request: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[audit.AuditRecord]:
        """One audit record per operation, written whatever happens (when the config names an audit_log)."""
        return audit.recorded(
            self.config.audit_log,
            environment=self.name,
            provider=self.provider,
            engine=self.environment.settings.engine,
            operation=operation,
            resource_id=resource_id,
            request=request,
            caller=self._caller,
        )

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _check_filters(self, filters: Any) -> dict[str, Any]:
        clean = check_mapping(filters, "filters")
        for key in clean:
            check_name(key, "filter key")
            if key not in self._caps.filters:
                raise InvalidRequest(
                    f"unknown filter key {quote_untrusted(key)}; allowed: {', '.join(sorted(self._caps.filters))}"
                )
        if "name" in clean:
            check_text(clean["name"], "filters.name", kind="value")
        if "state" in clean and check_text(clean["state"], "filters.state", kind="name") not in _STATES:
            raise InvalidRequest(f"filters.state must be one of {', '.join(sorted(_STATES))}")
        if "tags" in clean:
            tags = check_mapping(clean["tags"], "filters.tags")
            for key, val in tags.items():
                check_text(val, field_of("filters.tags", key), kind="value")
        return clean

    async def _run(self, operation: str, request: Mapping[str, Any]) -> Any:
        return value_of(await self._execute(operation, request))

    async def _execute(
        self,
        operation: str,
        request: Mapping[str, Any],
        *,
        check_mode: bool = False,
        extra_vars: Mapping[str, Any] | None = None,
        on_progress: EventCallback | None = None,
    ) -> Mapping[str, Any]:
        extra_vars = extra_vars or {}
        settings = self.environment.settings
        variables = {
            "shieldops_request": {
                "provider": self.provider,
                "environment": self.name,
                **check_json_data(dict(request), "request"),
            },
            "shieldops_settings": settings.role_settings(),
            "shieldops_provider_role": self.environment.provider.role(),
            "shieldops_state_dir": str(self.config.state_dir),
            "shieldops_snapshot_key_file": str(self.config.snapshot_key_file),  # where, never the key
            # The playbooks' policy pre-check reads the policy from this file (never from variables).
            "shieldops_config": str(self.config.path),
            **extra_vars,
        }
        secret_env = await self.environment.provider.credentials_env(settings)
        record = audit.current_record()
        on_event = _chained(on_progress, self._on_event)
        if record is not None:
            on_event = audit.recording_request_ids(record, on_event, self.environment.provider.request_ids)
        started = time.monotonic()
        run: RunResult = await self._engine.run(
            RunRequest(
                operation=operation,
                variables=variables,
                secret_env=secret_env,
                check_mode=check_mode,
                inventories=tuple(settings.inventory_sources()),
                on_event=on_event,
                config=str(self.config.path),
                environment=self.name,
            )
        )
        return outcome_of(run, operation=operation, environment=self.name, started=started)


def _chained(first: EventCallback | None, then: EventCallback | None) -> EventCallback | None:
    if first is None or then is None:
        return first or then

    def on_event(event: Mapping[str, Any]) -> None:
        first(event)
        then(event)

    return on_event


def _engine_named(name: str) -> Engine:
    return RunnerEngine() if name == "runner" else WarmEngine()


def _coerce_action(action: Any) -> Action:
    """Re-validate: an Action can be built without validation (model_construct) or mutated after it."""
    if isinstance(action, Action):
        raw: Any = {name: getattr(action, name, None) for name in Action.model_fields}
    elif isinstance(action, Mapping):
        raw = dict(action)
    else:
        raise InvalidRequest("action must be an Action")
    try:
        return Action.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(f"invalid action: {_location(first['loc'])}: {first['msg']}") from None


def _location(loc: tuple[int | str, ...]) -> str:
    """Where pydantic found a problem, for a message: our field names as they are, the agent's keys quoted."""
    if not loc:
        return "action"
    head, *rest = loc
    where = str(head) if head in Action.model_fields else field_of("action", head)
    for part in rest:
        where = f"{where}[{part}]" if isinstance(part, int) else field_of(where, part)
    return where


def _coerce_time_range(time_range: Any) -> TimeRange:
    """Re-validate, as for actions: a TimeRange can be mutated after it was built."""
    if not isinstance(time_range, TimeRange):
        raise InvalidRequest("time_range must be a TimeRange")
    try:
        return TimeRange.model_validate({"start": time_range.start, "end": time_range.end})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p in TimeRange.model_fields) or "time_range"
        raise InvalidRequest(f"invalid time_range: {where}: {first['msg']}") from None
