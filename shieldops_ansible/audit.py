"""The audit trail: one JSON object per operation, appended to the configured ``audit_log``.

Each record is written with a single ``write`` on a file opened with ``O_APPEND``, under an exclusive ``flock``,
then fsynced: concurrent writers (processes or threads) never interleave or lose records, and a record that was
reported written survives a crash. Requests are recorded redacted: secret-looking keys dropped, long strings
cut, and a SHA-256 digest of the full canonical request kept instead, so two records can be compared without
storing what they carried.

``AuditRecord`` is the record's one typed shape and ``recorded`` the one place a record is opened, completed and
written (off the event loop: the flock and the fsync block); the record of the operation in progress is reachable
from deeper code through ``current_record`` (one connector may run several operations concurrently, so it is per
task, not per connector).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import json
import math
import os
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import PolicyDenied, ShieldOpsError
from .validation import clean_output

__all__ = [
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "current_record",
    "digest",
    "recorded",
    "recording_request_ids",
    "redact",
]

_SECRET_KEY = re.compile(r"(secret|token|password|passwd|private|credential|api_?key|session)", re.I)
_MAX_TEXT = 200


def _encodable(value: Any, depth: int = 0) -> Any:
    """What JSON can carry of a request we may not have validated yet (the record of a refusal): an integer too
    long to format and a NaN or infinity become descriptions, anything deeper than JSON needs is cut."""
    if depth > 32:
        return "…"
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: no file or log can hold it as it is
            return value.encode(errors="backslashreplace").decode()
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        # Never formatted when long: str() of an integer of more than 4,300 digits raises.
        return value if value.bit_length() <= 64 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(_encodable(k, depth + 1)): _encodable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v, depth + 1) for v in value]
    return f"<{type(value).__name__}>"


def digest(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(_encodable(request), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def redact(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return "…"
    if isinstance(value, Mapping):
        return {
            str(k): ("[redacted]" if _SECRET_KEY.search(str(k)) else redact(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "…"
    return value


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        line = (json.dumps(_encodable(record), sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def tail(self, n: int) -> list[dict[str, Any]]:
        return list(deque(self.records(), maxlen=max(0, n)))


class AuditError(BaseModel):
    """What failed an operation: the exception's type and its cleaned message (empty for a non-ShieldOps error,
    whose text could carry anything)."""

    model_config = ConfigDict(extra="forbid")

    type: str
    message: str


# Written whether or not they hold a value (None included): a reader can rely on them.
_ALWAYS = (
    "timestamp",
    "job_id",
    "environment",
    "provider",
    "engine",
    "operation",
    "resource_id",
    "snapshot_id",
    "request_digest",
    "request",
)
_MAX_REQUEST_IDS = 100


class AuditRecord(BaseModel):
    """One operation's audit record. The fields outside ``_ALWAYS`` appear in the JSON only once set, as they
    always have: a record without ``policy`` is an operation no policy was asked about."""

    model_config = ConfigDict(extra="forbid")

    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    job_id: str = Field(default_factory=lambda: f"job-{uuid.uuid4().hex[:16]}")
    environment: str
    provider: str
    engine: str
    operation: str
    # As the agent passed it: a refusal is audited too, so this is not validated yet (a huge integer, say).
    resource_id: Any = None
    outcome: str | None = None
    duration_ms: float | None = None
    snapshot_id: str | None = None
    policy: dict[str, Any] | None = None
    approval: Literal["approved", "refused", "no approver"] | None = None
    request_digest: str
    request: dict[str, Any]
    error: AuditError | None = None
    provider_request_ids: list[str] | None = None
    # Who asked, when a server asked on someone's behalf: an MCP client's name, version, transport and session.
    caller: dict[str, str] | None = None

    @classmethod
    def opened(cls, *, request: Mapping[str, Any], **fields: Any) -> AuditRecord:
        """A record for ``request``, kept redacted with a digest of the whole."""
        return cls(request_digest=digest(dict(request)), request=redact(dict(request)), **fields)

    def keep_request_ids(self, ids: list[Any]) -> None:
        """Keep provider request ids, bounded (a chatty run cannot grow the record without limit)."""
        kept = self.provider_request_ids if self.provider_request_ids is not None else []
        kept.extend(str(i)[:128] for i in ids[: max(0, _MAX_REQUEST_IDS - len(kept))])
        self.provider_request_ids = kept

    def as_json(self) -> dict[str, Any]:
        """The JSON object written to the log. Built by hand, not by model_dump: ``request`` may hold what pydantic
        would serialise differently (NaN as null); ``AuditLog.append`` makes it encodable, as it always did."""
        data: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None and name not in _ALWAYS:
                continue
            data[name] = value
        data["timestamp"] = self.timestamp.isoformat()
        if self.error is not None:
            data["error"] = self.error.model_dump()
        if self.provider_request_ids is not None:
            data["provider_request_ids"] = list(self.provider_request_ids)
        return data


_CURRENT_RECORD: contextvars.ContextVar[AuditRecord | None] = contextvars.ContextVar(
    "shieldops_audit_record", default=None
)


def current_record() -> AuditRecord | None:
    """The record of the operation this task is running, if any."""
    return _CURRENT_RECORD.get()


@contextlib.asynccontextmanager
async def recorded(log: Path | None, **fields: Any) -> AsyncIterator[AuditRecord]:
    """One audit record per operation, completed and written whatever happens (when ``log`` is set).

    ``fields`` are ``AuditRecord.opened``'s. The outcome is ``succeeded`` unless the body set one; a ShieldOpsError
    makes it ``denied`` (PolicyDenied) or ``error``, anything else ``error`` with no message."""
    record = AuditRecord.opened(**fields)
    started = time.monotonic()
    token = _CURRENT_RECORD.set(record)
    try:
        yield record
        if record.outcome is None:
            record.outcome = "succeeded"
    except ShieldOpsError as exc:
        record.outcome = "denied" if isinstance(exc, PolicyDenied) else "error"
        record.error = AuditError(type=type(exc).__name__, message=clean_output(str(exc)))
        raise
    except BaseException as exc:
        record.outcome = "error"
        record.error = AuditError(type=type(exc).__name__, message="")
        raise
    finally:
        _CURRENT_RECORD.reset(token)
        record.duration_ms = round((time.monotonic() - started) * 1000, 1)
        if log is not None:
            # flock and fsync block: in a worker thread, the loop keeps serving other operations meanwhile. The
            # write is still one write under the lock, and it completes even if this task is cancelled again
            # while it waits (a thread cannot be interrupted), so the operation returns only once it is logged.
            await asyncio.to_thread(AuditLog(log).append, record.as_json())


def recording_request_ids(
    record: AuditRecord,
    then: Callable[[Mapping[str, Any]], None] | None,
    request_ids: Callable[[Mapping[str, Any]], list[str]],
) -> Callable[[Mapping[str, Any]], None]:
    """An event callback that keeps the provider request ids of each task result (``request_ids``: the
    provider's reading of a result, ``Provider.request_ids``) in the audit record, then passes the event on."""

    def on_event(event: Mapping[str, Any]) -> None:
        if event.get("event") in {"runner_on_ok", "runner_on_failed"}:
            res = (event.get("event_data") or {}).get("res") or {}
            ids = request_ids(res) if isinstance(res, Mapping) else []
            if ids:
                record.keep_request_ids(ids)
        if then is not None:
            then(event)

    return on_event
