"""The facade: six async operations that validate untrusted input, run one playbook each and return models.

Nothing here branches on the provider: the provider's vocabulary comes from its role (``Capabilities``), its
credentials from its ``Provider`` object, and everything else from the playbooks.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .config import Config, Environment, load_config
from .engines.base import Engine, EventCallback, RunRequest, RunResult
from .engines.runner import RunnerEngine
from .engines.warm import WarmEngine
from .errors import BackendUnavailable, InvalidRequest, error_for_kind, quote_untrusted
from .models import Action, ActionResult, Event, HealthStatus, Resource, RollbackResult, Snapshot, TimeRange
from .snapshots import SnapshotStore
from .validation import check_json_data, check_mapping, check_name, check_text

__all__ = ["Approver", "InfraConnector", "connect"]

Approver = Callable[[Action], Awaitable[bool] | bool]
_STATES = {"running", "stopped", "pending", "failed", "unknown"}
# Failures the provider reports about the request itself are raised even from execute_action; any other failure
# of an action that ran is returned as ActionResult(success=False).
_RAISED_FROM_ACTIONS = {
    "invalid_request",
    "not_found",
    "permission_denied",
    "authentication",
    "not_supported",
    "snapshot_not_found",
    "backend_unavailable",
}
_MAX_MESSAGE = 1000


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
        cfg.environment(check_text(name, "environment name", max_len=128)),
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
        self._snapshots = SnapshotStore(config.state_dir)
        self._caps = environment.provider.capabilities

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def provider(self) -> str:
        return self.environment.provider.name

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
        self._caps.native_type_of(resource_id)
        value = await self._run("get_health", {"resource_id": resource_id})
        return _model(HealthStatus, value)

    async def list_resources(self, resource_type: str, filters: dict[str, Any]) -> list[Resource]:
        self._caps.native_types_for(resource_type)
        clean = self._check_filters(filters)
        value = await self._run("list_resources", {"resource_type": resource_type, "filters": clean})
        return [_model(Resource, item) for item in _as_list(value)]

    async def execute_action(self, action: Action) -> ActionResult:
        action = _coerce_action(action)
        native = self._caps.native_type_of(action.resource_id)
        spec = self._caps.action(native, action.type)
        params = spec.check_parameters(check_mapping(action.parameters, "action.parameters"))
        if action.reason is not None:
            check_text(action.reason, "action.reason", max_len=2000, multiline=True)
        action_id = f"act-{uuid.uuid4().hex[:16]}"
        started = datetime.now(UTC)
        snapshot_id: str | None = None
        if spec.destructive and not action.dry_run:
            # Destructive actions snapshot first; a failed action never deletes the snapshot.
            snapshot_id = (await self.create_snapshot(action.resource_id)).id
        request = {
            "action": {
                "type": action.type,
                "resource_id": action.resource_id,
                "parameters": params,
                "dry_run": action.dry_run,
                "reason": action.reason or "",
            },
            "action_id": action_id,
        }
        result = await self._execute("execute_action", request, check_mode=action.dry_run)
        finished = datetime.now(UTC)
        if not result.get("ok"):
            error = result.get("error") or {}
            kind, message = str(error.get("kind", "failed")), _clean(error.get("message", ""))
            if kind in _RAISED_FROM_ACTIONS:
                raise error_for_kind(kind, message)
            return ActionResult(
                action_id=action_id,
                success=False,
                changed=False,
                status="failed",
                message=message,
                snapshot_id=snapshot_id,
                started_at=started,
                finished_at=finished,
                details={"error_kind": kind},
            )
        value = dict(result.get("value") or {})
        return ActionResult(
            action_id=action_id,
            success=bool(value.get("success", True)),
            changed=bool(value.get("changed", False)),
            status="dry_run" if action.dry_run else "succeeded",
            message=_clean(value.get("message", "")),
            snapshot_id=snapshot_id,
            diff=value.get("diff"),
            started_at=started,
            finished_at=finished,
            details=dict(value.get("details") or {}),
        )

    async def get_events(self, resource_id: str, time_range: TimeRange) -> list[Event]:
        self._caps.native_type_of(resource_id)
        if not isinstance(time_range, TimeRange):
            raise InvalidRequest("time_range must be a TimeRange")
        value = await self._run(
            "get_events",
            {"resource_id": resource_id, "start": time_range.start.isoformat(), "end": time_range.end.isoformat()},
        )
        return [_model(Event, item) for item in _as_list(value)]

    async def create_snapshot(self, resource_id: str) -> Snapshot:
        self._caps.native_type_of(resource_id)
        snapshot_id = f"snap-{uuid.uuid4().hex[:20]}"
        value = await self._run("create_snapshot", {"resource_id": resource_id, "snapshot_id": snapshot_id})
        return _model(Snapshot, value)

    async def rollback(self, snapshot_id: str) -> RollbackResult:
        snapshot = self._snapshots.load(snapshot_id)
        if snapshot.environment != self.name or snapshot.provider != self.provider:
            raise InvalidRequest(
                f"snapshot {snapshot.id} belongs to environment {snapshot.environment!r}, not {self.name!r}"
            )
        value = dict(await self._run("rollback", {"snapshot_id": snapshot.id}))
        value.setdefault("finished_at", datetime.now(UTC).isoformat())
        value["snapshot_id"] = snapshot.id
        value["message"] = _clean(value.get("message", ""))
        return _model(RollbackResult, value)

    def snapshots(self) -> list[Snapshot]:
        """Snapshots of this environment in the state directory, oldest first."""
        return [s for s in self._snapshots.list() if s.environment == self.name]

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
            check_text(clean["name"], "filters.name", max_len=256)
        if "state" in clean and clean["state"] not in _STATES:
            raise InvalidRequest(f"filters.state must be one of {', '.join(sorted(_STATES))}")
        if "tags" in clean:
            tags = check_mapping(clean["tags"], "filters.tags")
            for key, val in tags.items():
                check_text(val, f"filters.tags.{key}", max_len=256)
        return clean

    async def _run(self, operation: str, request: Mapping[str, Any]) -> Any:
        result = await self._execute(operation, request)
        if not result.get("ok"):
            error = result.get("error") or {}
            raise error_for_kind(str(error.get("kind", "failed")), _clean(error.get("message", "")))
        return result.get("value")

    async def _execute(
        self, operation: str, request: Mapping[str, Any], *, check_mode: bool = False
    ) -> Mapping[str, Any]:
        settings = self.environment.settings
        variables = {
            "shieldops_request": {
                "provider": self.provider,
                "environment": self.name,
                **check_json_data(dict(request), "request"),
            },
            "shieldops_settings": settings.role_settings(),
            "shieldops_state_dir": str(self.config.state_dir),
        }
        secret_env = await self.environment.provider.credentials_env(settings)
        started = time.monotonic()
        run: RunResult = await self._engine.run(
            RunRequest(
                operation=operation,
                variables=variables,
                secret_env=secret_env,
                check_mode=check_mode,
                inventories=tuple(settings.inventory_sources()),
                on_event=self._on_event,
            )
        )
        if run.result is None:
            if run.status == "timeout":
                raise BackendUnavailable(
                    f"{operation} on {self.name} timed out after {time.monotonic() - started:.0f} s"
                )
            detail = "; ".join(_clean(f) for f in run.failures[-3:]) or f"status {run.status}, rc {run.rc}"
            raise BackendUnavailable(
                f"{operation} on {self.name} produced no result after {time.monotonic() - started:.1f} s: {detail}"
            )
        return run.result


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
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"invalid action: {where}: {first['msg']}") from None


M = TypeVar("M", bound=BaseModel)


def _model(model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BackendUnavailable(f"the playbook returned an invalid {model.__name__}: {exc.errors()[0]}") from None


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BackendUnavailable("the playbook returned no list")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(message: Any) -> str:
    """Playbook messages may quote agent input: strip control characters and bound the length."""
    text = _CONTROL.sub("?", str(message))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
