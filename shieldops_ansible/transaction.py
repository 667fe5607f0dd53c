"""An action as a transaction: policy -> approval -> rate limit -> health before -> snapshot -> act -> verify ->
automatic rollback when health got worse.

Each step, its start, its duration and its outcome is a ``Step`` and lands in ``ActionResult.details["transaction"]``;
the snapshot survives any failure. The transaction runs playbooks only through the callables the facade gives it
(``health``, ``restore``, ``execute``): those are the facade's unaudited insides, so one execute_action is one audit
record however many runs it takes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .audit import AuditRecord
from .config import Environment
from .engines.base import EventCallback
from .errors import PolicyDenied, ShieldOpsError
from .models import Action, ActionResult, HealthStatus, RollbackResult, vocabulary
from .policy import decide
from .rate_limit import RateLimiter
from .results import action_error, action_result, describe_error, error_of, failed_action_result
from .snapshots import SnapshotStore
from .validation import check_mapping, check_text, clean_output

__all__ = ["Approver", "Execute", "Step", "Transaction"]

Approver = Callable[[Action], Awaitable[bool] | bool]
T = TypeVar("T")


class Execute(Protocol):
    """The facade's one playbook run: the published outcome, ok or not (BackendUnavailable when there is none)."""

    def __call__(
        self,
        operation: str,
        request: Mapping[str, Any],
        *,
        check_mode: bool = False,
        extra_vars: Mapping[str, Any] | None = None,
        on_progress: EventCallback | None = None,
    ) -> Awaitable[Mapping[str, Any]]: ...


@dataclass(slots=True)
class Step:
    """One step of a transaction. ``ms`` and ``outcome`` stay None until the step ends; a step still open is
    serialised without them, as the dicts this replaces were."""

    name: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ms: float | None = None
    outcome: str | None = None
    # Durations come from the monotonic clock (wall-clock jumps must not make a step negative).
    _t0: float = field(default_factory=time.monotonic, repr=False, compare=False)
    # Whether the outcome was known before the step ended (an error, the snapshot stored): the dicts this replaces
    # then held "outcome" before "ms", and the serialised key order stays as it was.
    _outcome_first: bool = field(default=False, repr=False, compare=False)

    def end(self) -> None:
        self.ms = round((time.monotonic() - self._t0) * 1000, 1)
        self._outcome_first = self.outcome is not None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"step": self.name, "started_at": self.started_at.isoformat()}
        timing = {"ms": self.ms, "outcome": self.outcome}
        for key in ("outcome", "ms") if self._outcome_first else ("ms", "outcome"):
            if timing[key] is not None:
                data[key] = timing[key]
        return data


def _worse(after: str, before: str) -> bool:
    """Whether health got worse: the collection's ranking (plugin_utils/vocabulary.py), the filters' too."""
    rank = vocabulary().health_rank
    worse: bool = rank(after) > rank(before)
    return worse


async def _step(steps: list[Step], name: str, work: Awaitable[T], *, optional: bool = False) -> T | None:
    """Run one step, recording its time and outcome. An optional step's failure is recorded and yields None; any
    other failure propagates (recorded, when it is a ShieldOpsError)."""
    step = Step(name)
    steps.append(step)
    try:
        value = await work
    except ShieldOpsError as exc:
        step.outcome = f"error: {describe_error(exc)}"
        if not optional:
            raise
        return None
    finally:
        step.end()
    if step.outcome is None:
        step.outcome = "ok"
    return value


@dataclass(frozen=True)
class Transaction:
    environment: Environment
    state_dir: Path
    snapshots: SnapshotStore
    approver: Approver | None
    health: Callable[[str], Awaitable[HealthStatus]]
    restore: Callable[[str], Awaitable[RollbackResult]]
    execute: Execute

    async def run(self, action: Action, record: AuditRecord) -> ActionResult:
        """The action, validated (``action`` itself is), decided and done; ``record`` gets the policy decision
        and the approval."""
        caps = self.environment.provider.capabilities
        native = caps.native_type_of(action.resource_id)
        spec = caps.action(native, action.type)
        params = spec.check_parameters(check_mapping(action.parameters, "action.parameters"))
        if action.reason is not None:
            check_text(action.reason, "action.reason", kind="reason", multiline=True)
        policy = self.environment.settings.policy
        decision = decide(policy, action.type, params, dry_run=action.dry_run)
        record.policy = decision.as_dict()
        if not decision.allowed:
            raise PolicyDenied(f"policy rule {decision.rule}: {decision.reason}")
        if decision.needs_approval:
            await self._approve(action, record)
        if policy.rate_limit is not None and not action.dry_run:
            # The reservation blocks on a file lock shared with other processes: in a worker thread.
            granted, recent = await asyncio.to_thread(
                RateLimiter(self.state_dir).reserve,
                self.environment.name,
                action.resource_id,
                max_actions=policy.rate_limit.max_actions,
                per_seconds=policy.rate_limit.per_seconds,
            )
            if not granted:
                refused = decide(policy, action.type, params, dry_run=False, recent_actions=recent)
                record.policy = refused.as_dict()
                raise PolicyDenied(f"policy rule {refused.rule}: {refused.reason}")
        action_id = f"act-{uuid.uuid4().hex[:16]}"
        started = datetime.now(UTC)
        steps: list[Step] = []
        live = not action.dry_run
        before: HealthStatus | None = None
        if policy.verify_and_rollback and live:
            before = await _step(steps, "health_before", self.health(action.resource_id), optional=True)
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
            snapshot_id = request["snapshot_id"] = self.snapshots.new_id()
        extra: dict[str, Any] = {}
        reserved = policy.rate_limit is not None and live  # counted above; the playbook must not count it twice
        if decision.needs_approval or reserved:
            # Signed: the playbooks' policy check takes an approval or a reservation from nothing else.
            extra["shieldops_facade_grant"] = await asyncio.to_thread(
                self.snapshots.grant,
                self.environment.name,
                request["action"],
                approved_by="the approver given to connect()" if decision.needs_approval else None,
                rate_limit_reserved=reserved,
            )
        result = await self._snapshot_and_act(steps, request, snapshot_id, check_mode=action.dry_run, extra=extra)
        if snapshot_id is not None and not await asyncio.to_thread(self.snapshots.exists, snapshot_id):
            snapshot_id = None
        if not result.get("ok"):
            kind, message = error_of(result)
            steps[-1].outcome = f"failed: {kind}"
            error = action_error(kind, message, during_snapshot=steps[-1].name == "snapshot")
            if error is not None:
                raise error
            return failed_action_result(
                action_id=action_id,
                kind=kind,
                message=message,
                snapshot_id=snapshot_id,
                started=started,
                transaction=[s.as_dict() for s in steps],
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
                steps[-1].outcome = f"worse: {before.status} -> {after.status}"
                if snapshot_id is None:
                    message += f"; health got worse ({before.status} -> {after.status}) and no snapshot exists"
                else:
                    restored = await _step(steps, "rollback", self.restore(snapshot_id), optional=True)
                    message += f"; health got worse ({before.status} -> {after.status}): rolled back to {snapshot_id}"
                    if restored is None or not restored.success:
                        message += " (the rollback did not succeed)"
                success = False
        details["transaction"] = [s.as_dict() for s in steps]
        return action_result(
            action_id=action_id,
            value=value,
            success=success,
            message=message,
            dry_run=action.dry_run,
            snapshot_id=snapshot_id,
            started=started,
            details=details,
        )

    async def _snapshot_and_act(
        self,
        steps: list[Step],
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
            result = await _step(
                steps, "act", self.execute("execute_action", request, check_mode=check_mode, extra_vars=extra)
            )
            assert result is not None  # a required step returns its value or raises
            return result
        snapshot_step = Step("snapshot")
        steps.append(snapshot_step)
        act_step: Step | None = None

        def on_stored(event: Mapping[str, Any]) -> None:
            # The snapshot_store task's result is the moment the way back exists: the snapshot step ends there.
            nonlocal act_step
            data = event.get("event_data") or {}
            if event.get("event") == "runner_on_ok" and str(data.get("task_action", "")).endswith("snapshot_store"):
                snapshot_step.outcome = "ok"
                snapshot_step.end()
                act_step = Step("act")
                steps.append(act_step)

        try:
            result = await self.execute(
                "execute_action", request, check_mode=check_mode, extra_vars=extra, on_progress=on_stored
            )
        except ShieldOpsError as exc:
            (act_step or snapshot_step).outcome = f"error: {describe_error(exc)}"
            raise
        finally:
            (act_step or snapshot_step).end()
        last = act_step or snapshot_step
        if last.outcome is None:
            last.outcome = "ok"
        return result

    async def _verify(self, resource_id: str, timeout_s: float) -> HealthStatus:
        """Health after the action: polled until healthy or the timeout, then the last reading."""
        deadline = time.monotonic() + timeout_s
        while True:
            health = await self.health(resource_id)
            if health.status == "healthy" or time.monotonic() >= deadline:
                return health
            await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    async def _approve(self, action: Action, record: AuditRecord) -> None:
        if self.approver is None:
            record.approval = "no approver"
            raise PolicyDenied(f"policy rule require_approval: {action.type} needs approval and no approver is set")
        answer = self.approver(action)
        approved = bool(await answer) if inspect.isawaitable(answer) else bool(answer)
        record.approval = "approved" if approved else "refused"
        if not approved:
            raise PolicyDenied(f"policy rule require_approval: the approver refused {action.type}")
