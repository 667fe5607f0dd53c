"""From what a playbook run answered to what the facade returns or raises: models, errors and cleaned messages.

Every playbook publishes ``{"ok": true, "value": ...}`` or ``{"ok": false, "error": {"kind", "message"}}``; an
engine run that produced neither is ``BackendUnavailable``. Messages come from providers and hosts we do not
control, so each one is cleaned (``clean_output``) before it reaches an agent, a result or a log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .engines.base import RunResult
from .errors import BackendUnavailable, ShieldOpsError, error_for_kind
from .models import ActionResult, RollbackResult
from .validation import clean_output

__all__ = [
    "RAISED_FROM_ACTIONS",
    "action_error",
    "action_result",
    "as_list",
    "as_model",
    "describe_error",
    "error_of",
    "failed_action_result",
    "outcome_of",
    "rollback_result",
    "value_of",
]

# Failures the provider reports about the request itself are raised even from execute_action; any other failure
# of an action that ran is returned as ActionResult(success=False).
RAISED_FROM_ACTIONS = frozenset(
    {
        "policy_denied",
        "invalid_request",
        "not_found",
        "permission_denied",
        "authentication",
        "not_supported",
        "snapshot_not_found",
        "backend_unavailable",
    }
)

M = TypeVar("M", bound=BaseModel)


def as_model(model: type[M], value: Any) -> M:
    """A playbook's value as ``model``; a value that does not fit is the backend's fault, not the agent's."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BackendUnavailable(f"the playbook returned an invalid {model.__name__}: {exc.errors()[0]}") from None


def as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BackendUnavailable("the playbook returned no list")
    return value


def outcome_of(run: RunResult, *, operation: str, environment: str, started: float) -> Mapping[str, Any]:
    """The published outcome of an engine run; a run that published none (timed out, crashed, a missing role) is
    BackendUnavailable with the last few failures. ``started`` is the run's ``time.monotonic()`` start."""
    if run.result is not None:
        return run.result
    if run.status == "timeout":
        raise BackendUnavailable(f"{operation} on {environment} timed out after {time.monotonic() - started:.0f} s")
    detail = "; ".join(clean_output(f) for f in run.failures[-3:]) or f"status {run.status}, rc {run.rc}"
    raise BackendUnavailable(
        f"{operation} on {environment} produced no result after {time.monotonic() - started:.1f} s: {detail}"
    )


def error_of(outcome: Mapping[str, Any]) -> tuple[str, str]:
    """A failed outcome's error kind and cleaned message."""
    error = outcome.get("error") or {}
    return str(error.get("kind", "failed")), clean_output(error.get("message", ""))


def value_of(outcome: Mapping[str, Any]) -> Any:
    """The value of an outcome of any operation but execute_action; a failure is raised as its error kind."""
    if not outcome.get("ok"):
        raise error_for_kind(*error_of(outcome))
    return outcome.get("value")


def action_error(kind: str, message: str, *, during_snapshot: bool) -> ShieldOpsError | None:
    """The error an action's failure raises, or None when it is returned as a failed ActionResult. A failure of
    the snapshot taken first is always raised: the action did not run."""
    if kind in RAISED_FROM_ACTIONS or during_snapshot:
        return error_for_kind(kind, message)
    return None


def describe_error(exc: BaseException) -> str:
    """An exception for a transaction step's outcome: its type and cleaned message."""
    return f"{type(exc).__name__}: {clean_output(str(exc))}"


def failed_action_result(
    *,
    action_id: str,
    kind: str,
    message: str,
    snapshot_id: str | None,
    started: datetime,
    transaction: list[dict[str, Any]],
) -> ActionResult:
    """An action that ran and failed (the provider's message, already cleaned)."""
    return ActionResult(
        action_id=action_id,
        success=False,
        changed=False,
        status="failed",
        message=message,
        snapshot_id=snapshot_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        details={"error_kind": kind, "transaction": transaction},
    )


def action_result(
    *,
    action_id: str,
    value: Mapping[str, Any],
    success: bool,
    message: str,
    dry_run: bool,
    snapshot_id: str | None,
    started: datetime,
    details: dict[str, Any],
) -> ActionResult:
    """An action that ran to its end: ``success`` and ``message`` are the transaction's verdict (the run's, or
    worse when health got worse after it); ``changed`` and ``diff`` are the run's."""
    return ActionResult(
        action_id=action_id,
        success=success,
        changed=bool(value.get("changed", False)),
        status="dry_run" if dry_run else ("succeeded" if success else "failed"),
        message=message,
        snapshot_id=snapshot_id,
        diff=value.get("diff"),
        started_at=started,
        finished_at=datetime.now(UTC),
        details=details,
    )


def rollback_result(value: Mapping[str, Any], snapshot_id: str) -> RollbackResult:
    """The rollback playbook's value, bound to the snapshot that was asked for."""
    data = dict(value)
    data.setdefault("finished_at", datetime.now(UTC).isoformat())
    data["snapshot_id"] = snapshot_id
    data["message"] = clean_output(data.get("message", ""))
    return as_model(RollbackResult, data)
