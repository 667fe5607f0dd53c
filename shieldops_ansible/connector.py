"""The facade: six async operations that validate untrusted input, run one playbook each and return models.

Nothing here branches on the provider: the provider's vocabulary comes from its role (``Capabilities``), its
credentials from its ``Provider`` object, and everything else from the playbooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import audit
from .config import Config, Environment, load_config
from .engines.base import Engine, EventCallback, RunRequest, RunResult
from .engines.runner import RunnerEngine
from .engines.warm import WarmEngine
from .errors import (
    BackendUnavailable,
    InvalidRequest,
    PolicyDenied,
    ShieldOpsError,
    error_for_kind,
    quote_untrusted,
)
from .models import Action, ActionResult, Event, HealthStatus, Resource, RollbackResult, Snapshot, TimeRange
from .policy import decide
from .rate_limit import RateLimiter
from .snapshots import SnapshotStore
from .validation import check_json_data, check_mapping, check_name, check_text, clean_output, field_of

__all__ = ["Approver", "InfraConnector", "connect"]

Approver = Callable[[Action], Awaitable[bool] | bool]
_STATES = {"running", "stopped", "pending", "failed", "unknown"}
# Failures the provider reports about the request itself are raised even from execute_action; any other failure
# of an action that ran is returned as ActionResult(success=False).
_RAISED_FROM_ACTIONS = {
    "policy_denied",
    "invalid_request",
    "not_found",
    "permission_denied",
    "authentication",
    "not_supported",
    "snapshot_not_found",
    "backend_unavailable",
}
_MAX_REQUEST_IDS = 100
# The audit record of the operation in progress in this task (operations on one connector may run concurrently).
_CURRENT_RECORD: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "shieldops_audit_record", default=None
)


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
        async with self._audit("get_health", resource_id, {"resource_id": resource_id}):
            return await self._get_health(resource_id)

    async def list_resources(self, resource_type: str, filters: dict[str, Any]) -> list[Resource]:
        async with self._audit("list_resources", None, {"resource_type": resource_type, "filters": filters}):
            self._caps.native_types_for(resource_type)
            clean = self._check_filters(filters)
            value = await self._run("list_resources", {"resource_type": resource_type, "filters": clean})
            return [_model(Resource, item) for item in _as_list(value)]

    async def execute_action(self, action: Action) -> ActionResult:
        action = _coerce_action(action)
        async with self._audit("execute_action", action.resource_id, action.model_dump(mode="json")) as record:
            result = await self._transaction(action, record)
            record["outcome"] = result.status if result.success else "failed"
            record["snapshot_id"] = result.snapshot_id
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
            return [_model(Event, item) for item in _as_list(value)]

    async def create_snapshot(self, resource_id: str) -> Snapshot:
        async with self._audit("create_snapshot", resource_id, {"resource_id": resource_id}) as record:
            snapshot = await self._create_snapshot(resource_id)
            record["snapshot_id"] = snapshot.id
            return snapshot

    async def rollback(self, snapshot_id: str) -> RollbackResult:
        async with self._audit("rollback", None, {"snapshot_id": snapshot_id}) as record:
            record["snapshot_id"] = snapshot_id
            result = await self._rollback(snapshot_id, record)
            record["outcome"] = "succeeded" if result.success else "failed"
            return result

    def snapshots(self) -> list[Snapshot]:
        """Snapshots of this environment in the state directory, oldest first."""
        return [s for s in self._snapshots.list() if s.environment == self.name]

    # -- the operations' insides (also the steps of a transaction, which are audited as part of it) -------------

    async def _get_health(self, resource_id: str) -> HealthStatus:
        self._caps.native_type_of(resource_id)
        value = await self._run("get_health", {"resource_id": resource_id})
        return _model(HealthStatus, value)

    async def _create_snapshot(self, resource_id: str) -> Snapshot:
        self._caps.native_type_of(resource_id)
        snapshot_id = f"snap-{uuid.uuid4().hex[:20]}"
        value = await self._run("create_snapshot", {"resource_id": resource_id, "snapshot_id": snapshot_id})
        return _model(Snapshot, value)

    async def _rollback(self, snapshot_id: str, record: dict[str, Any] | None = None) -> RollbackResult:
        snapshot = self._snapshots.load(snapshot_id)
        if record is not None:
            record["resource_id"] = snapshot.resource_id
        if snapshot.environment != self.name or snapshot.provider != self.provider:
            raise InvalidRequest(
                f"snapshot {snapshot.id} belongs to environment {snapshot.environment!r}, not {self.name!r}"
            )
        value = dict(await self._run("rollback", {"snapshot_id": snapshot.id}))
        value.setdefault("finished_at", datetime.now(UTC).isoformat())
        value["snapshot_id"] = snapshot.id
        value["message"] = clean_output(value.get("message", ""))
        return _model(RollbackResult, value)

    async def _transaction(self, action: Action, record: dict[str, Any]) -> ActionResult:
        """Policy -> approval -> rate limit -> snapshot -> act -> verify -> automatic rollback when it got worse.
        Every step, its time and its outcome land in ``details["transaction"]``; the snapshot survives any
        failure."""
        native = self._caps.native_type_of(action.resource_id)
        spec = self._caps.action(native, action.type)
        params = spec.check_parameters(check_mapping(action.parameters, "action.parameters"))
        if action.reason is not None:
            check_text(action.reason, "action.reason", kind="reason", multiline=True)
        policy = self.environment.settings.policy
        decision = decide(policy, action.type, params, dry_run=action.dry_run)
        record["policy"] = decision.as_dict()
        if not decision.allowed:
            raise PolicyDenied(f"policy rule {decision.rule}: {decision.reason}")
        if decision.needs_approval:
            await self._approve(action, record)
        if policy.rate_limit is not None and not action.dry_run:
            granted, recent = RateLimiter(self.config.state_dir).reserve(
                self.name,
                action.resource_id,
                max_actions=policy.rate_limit.max_actions,
                per_seconds=policy.rate_limit.per_seconds,
            )
            if not granted:
                refused = decide(policy, action.type, params, dry_run=False, recent_actions=recent)
                record["policy"] = refused.as_dict()
                raise PolicyDenied(f"policy rule {refused.rule}: {refused.reason}")
        action_id = f"act-{uuid.uuid4().hex[:16]}"
        started = datetime.now(UTC)
        steps: list[dict[str, Any]] = []
        live = not action.dry_run
        before: HealthStatus | None = None
        if policy.verify_and_rollback and live:
            before = await _step(steps, "health_before", self._get_health(action.resource_id), optional=True)
        request: dict[str, Any] = {
            "action": {
                "type": action.type,
                "resource_id": action.resource_id,
                "parameters": params,
                "dry_run": action.dry_run,
                "reason": action.reason or "",
            },
            "action_id": action_id,
        }
        snapshot_id: str | None = None
        if spec.destructive and live and policy.require_snapshot:
            # The playbook snapshots first, in the action's own run and before any write; a failed snapshot
            # fails the run before the action (nothing changes without a way back).
            snapshot_id = request["snapshot_id"] = f"snap-{uuid.uuid4().hex[:20]}"
        extra: dict[str, Any] = {}
        if decision.needs_approval:
            extra["shieldops_approved_by"] = "the approver given to connect()"
        if policy.rate_limit is not None and live:
            extra["shieldops_rate_limit_reserved"] = True  # counted above; the playbook must not count it twice
        result = await self._snapshot_and_act(steps, request, snapshot_id, check_mode=action.dry_run, extra=extra)
        if snapshot_id is not None and not self._snapshots.exists(snapshot_id):
            snapshot_id = None
        if not result.get("ok"):
            error = result.get("error") or {}
            kind, message = str(error.get("kind", "failed")), clean_output(error.get("message", ""))
            steps[-1]["outcome"] = f"failed: {kind}"
            if kind in _RAISED_FROM_ACTIONS or steps[-1]["step"] == "snapshot":
                raise error_for_kind(kind, message)
            return ActionResult(
                action_id=action_id,
                success=False,
                changed=False,
                status="failed",
                message=message,
                snapshot_id=snapshot_id,
                started_at=started,
                finished_at=datetime.now(UTC),
                details={"error_kind": kind, "transaction": steps},
            )
        value = dict(result.get("value") or {})
        details = dict(value.get("details") or {})
        success = bool(value.get("success", True))
        message = clean_output(value.get("message", ""))
        if policy.verify_and_rollback and live and success:
            after = await _step(
                steps, "verify", self._verify(action.resource_id, policy.verify_timeout_seconds), optional=True
            )
            if after is not None and before is not None and _worse(after.status, before.status):
                steps[-1]["outcome"] = f"worse: {before.status} -> {after.status}"
                if snapshot_id is None:
                    message += f"; health got worse ({before.status} -> {after.status}) and no snapshot exists"
                else:
                    restored = await _step(steps, "rollback", self._rollback(snapshot_id), optional=True)
                    message += f"; health got worse ({before.status} -> {after.status}): rolled back to {snapshot_id}"
                    if restored is None or not restored.success:
                        message += " (the rollback did not succeed)"
                success = False
        details["transaction"] = steps
        return ActionResult(
            action_id=action_id,
            success=success,
            changed=bool(value.get("changed", False)),
            status="dry_run" if action.dry_run else ("succeeded" if success else "failed"),
            message=message,
            snapshot_id=snapshot_id,
            diff=value.get("diff"),
            started_at=started,
            finished_at=datetime.now(UTC),
            details=details,
        )

    async def _snapshot_and_act(
        self,
        steps: list[dict[str, Any]],
        request: Mapping[str, Any],
        snapshot_id: str | None,
        *,
        check_mode: bool,
        extra: Mapping[str, Any],
    ) -> Mapping[str, Any]:
        """The execute_action run, reported as the transaction's steps: "snapshot" (when the run takes one) up to
        the moment the playbook stored it, then "act". A run that fails before the snapshot is stored ends on the
        snapshot step."""
        if snapshot_id is None:
            result: Mapping[str, Any] = await _step(
                steps, "act", self._execute("execute_action", request, check_mode=check_mode, extra_vars=extra)
            )
            return result
        snapshot_step: dict[str, Any] = {"step": "snapshot", "started_at": datetime.now(UTC).isoformat()}
        steps.append(snapshot_step)
        started = time.monotonic()
        act_step: dict[str, Any] = {}

        def on_stored(event: Mapping[str, Any]) -> None:
            data = event.get("event_data") or {}
            if event.get("event") == "runner_on_ok" and str(data.get("task_action", "")).endswith("snapshot_store"):
                snapshot_step.update(outcome="ok", ms=round((time.monotonic() - started) * 1000, 1))
                act_step.update(step="act", started_at=datetime.now(UTC).isoformat(), at=time.monotonic())
                steps.append(act_step)

        try:
            result = await self._execute(
                "execute_action", request, check_mode=check_mode, extra_vars=extra, on_progress=on_stored
            )
        except ShieldOpsError as exc:
            (act_step or snapshot_step)["outcome"] = f"error: {type(exc).__name__}: {clean_output(str(exc))}"
            raise
        finally:
            ended = time.monotonic()
            if act_step:
                act_step["ms"] = round((ended - act_step.pop("at")) * 1000, 1)
            else:
                snapshot_step["ms"] = round((ended - started) * 1000, 1)
        (act_step or snapshot_step).setdefault("outcome", "ok")
        return result

    async def _verify(self, resource_id: str, timeout_s: float) -> HealthStatus:
        """Health after the action: polled until healthy or the timeout, then the last reading."""
        deadline = time.monotonic() + timeout_s
        while True:
            health = await self._get_health(resource_id)
            if health.status == "healthy" or time.monotonic() >= deadline:
                return health
            await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    async def _approve(self, action: Action, record: dict[str, Any]) -> None:
        if self.approver is None:
            record["approval"] = "no approver"
            raise PolicyDenied(f"policy rule require_approval: {action.type} needs approval and no approver is set")
        answer = self.approver(action)
        approved = bool(await answer) if inspect.isawaitable(answer) else bool(answer)
        record["approval"] = "approved" if approved else "refused"
        if not approved:
            raise PolicyDenied(f"policy rule require_approval: the approver refused {action.type}")

    @contextlib.asynccontextmanager
    async def _audit(
        self, operation: str, resource_id: str | None, request: Mapping[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """One audit record per operation, written whatever happens (when the config names an audit_log)."""
        record: dict[str, Any] = {
            "job_id": f"job-{uuid.uuid4().hex[:16]}",
            "environment": self.name,
            "provider": self.provider,
            "engine": self.environment.settings.engine,
            "operation": operation,
            "resource_id": resource_id,
            "request_digest": audit.digest(dict(request)),
            "request": audit.redact(dict(request)),
            "snapshot_id": None,
        }
        started = time.monotonic()
        record["timestamp"] = datetime.now(UTC).isoformat()
        token = _CURRENT_RECORD.set(record)
        try:
            yield record
            record.setdefault("outcome", "succeeded")
        except ShieldOpsError as exc:
            record["outcome"] = "denied" if isinstance(exc, PolicyDenied) else "error"
            record["error"] = {"type": type(exc).__name__, "message": clean_output(str(exc))}
            raise
        except BaseException as exc:
            record["outcome"] = "error"
            record["error"] = {"type": type(exc).__name__, "message": ""}
            raise
        finally:
            _CURRENT_RECORD.reset(token)
            record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            if self.config.audit_log is not None:
                audit.AuditLog(self.config.audit_log).append(record)

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
        result = await self._execute(operation, request)
        if not result.get("ok"):
            error = result.get("error") or {}
            raise error_for_kind(str(error.get("kind", "failed")), clean_output(error.get("message", "")))
        return result.get("value")

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
            "shieldops_state_dir": str(self.config.state_dir),
            "shieldops_snapshot_key_file": str(self.config.snapshot_key_file),  # where, never the key
            # The playbooks' policy pre-check reads the policy from this file (never from variables).
            "shieldops_config": str(self.config.path),
            **extra_vars,
        }
        secret_env = await self.environment.provider.credentials_env(settings)
        record = _CURRENT_RECORD.get()
        on_event = _chained(on_progress, self._on_event)
        if record is not None:
            on_event = _recording_request_ids(record, on_event)
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
        if run.result is None:
            if run.status == "timeout":
                raise BackendUnavailable(
                    f"{operation} on {self.name} timed out after {time.monotonic() - started:.0f} s"
                )
            detail = "; ".join(clean_output(f) for f in run.failures[-3:]) or f"status {run.status}, rc {run.rc}"
            raise BackendUnavailable(
                f"{operation} on {self.name} produced no result after {time.monotonic() - started:.1f} s: {detail}"
            )
        return run.result


def _chained(first: EventCallback | None, then: EventCallback | None) -> EventCallback | None:
    if first is None or then is None:
        return first or then

    def on_event(event: Mapping[str, Any]) -> None:
        first(event)
        then(event)

    return on_event


def _recording_request_ids(record: dict[str, Any], then: EventCallback | None) -> EventCallback:
    """An event callback that keeps the provider request ids modules report (``request_ids`` in a task result) in
    the audit record, then passes the event on."""

    def on_event(event: Mapping[str, Any]) -> None:
        if event.get("event") in {"runner_on_ok", "runner_on_failed"}:
            res = (event.get("event_data") or {}).get("res") or {}
            ids = res.get("request_ids")
            ids = list(ids) if isinstance(ids, list) else []
            # amazon.aws modules drop ResponseMetadata from results, but keep it when a call fails.
            failed_call = res.get("response_metadata")
            if isinstance(failed_call, Mapping) and failed_call.get("request_id"):
                ids.append(failed_call["request_id"])
            if ids:
                kept: list[str] = record.setdefault("provider_request_ids", [])
                kept.extend(str(i)[:128] for i in ids[: max(0, _MAX_REQUEST_IDS - len(kept))])
        if then is not None:
            then(event)

    return on_event


_HEALTH_RANK = {"healthy": 0, "unknown": 1, "degraded": 2, "unhealthy": 3}
T = TypeVar("T")


def _worse(after: str, before: str) -> bool:
    return _HEALTH_RANK.get(after, 1) > _HEALTH_RANK.get(before, 1)


async def _step(steps: list[dict[str, Any]], name: str, work: Awaitable[T], *, optional: bool = False) -> Any:
    """Run one step of a transaction, recording its time and outcome. An optional step's failure is recorded
    and yields None; any other failure propagates."""
    entry: dict[str, Any] = {"step": name, "started_at": datetime.now(UTC).isoformat()}
    steps.append(entry)
    started = time.monotonic()
    try:
        value = await work
    except ShieldOpsError as exc:
        entry["outcome"] = f"error: {type(exc).__name__}: {clean_output(str(exc))}"
        if not optional:
            raise
        return None
    finally:
        entry["ms"] = round((time.monotonic() - started) * 1000, 1)
    entry.setdefault("outcome", "ok")
    return value


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
