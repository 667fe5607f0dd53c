"""The audit trail: one JSON object per operation, appended to the configured ``audit_log``.

Each record is written with a single ``write`` on a file opened with ``O_APPEND``, under an exclusive ``flock``,
then fsynced: concurrent writers (processes or threads) never interleave or lose records, and a record that was
reported written survives a crash. Requests are recorded redacted: secret-looking keys dropped, long strings
cut, and a SHA-256 digest of the full canonical request kept instead, so two records can be compared without
storing what they carried.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["AuditLog", "digest", "redact"]

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
