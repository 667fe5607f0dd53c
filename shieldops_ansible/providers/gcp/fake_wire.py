"""What every part of the fake Google APIs (fake_api.py, fake_cloud_run.py) speaks alike: Google's JSON error
document, RFC 3339 times, JSON request bodies and opaque page tokens."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "SETTLES_S",
    "GoogleError",
    "OAuthError",
    "Operation",
    "invalid",
    "json_body",
    "located",
    "not_found",
    "offset_of",
    "page",
    "page_token",
    "parse_time",
    "rfc3339",
    "settle",
    "unknown_path",
]

# How long an operation runs when nobody polls it: polling (get or wait) finishes it at once.
SETTLES_S = 1.0


@dataclass
class Operation:
    """A long-running operation: its document as the API shows it, the change it makes when it is done, and the
    fields that say "done" in that API (Compute: status DONE; Cloud Run: done true and a response)."""

    document: dict[str, Any]
    apply: Callable[[], None]
    done_fields: Callable[[], dict[str, Any]]
    settles_at: float = field(default_factory=lambda: time.time() + SETTLES_S)
    done: bool = False

    def finish(self) -> None:
        if not self.done:
            self.apply()
            self.document.update(self.done_fields())
            self.done = True


def settle(operations: Iterable[Operation], now: float) -> None:
    """Finish the operations whose time has come."""
    for operation in list(operations):
        if not operation.done and operation.settles_at <= now:
            operation.finish()


class GoogleError(Exception):
    """An error answered in Google's JSON error format."""

    def __init__(self, code: int, status: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.reason, self.message = code, status, reason, message

    def document(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": self.status,
            }
        }


def not_found(what: str) -> GoogleError:
    return GoogleError(404, "NOT_FOUND", "notFound", f"The resource '{what}' was not found")


def unknown_path(method: str, path: str) -> GoogleError:
    return GoogleError(404, "NOT_FOUND", "notFound", f"Unknown API path {method} {path}")


def located(method: str, path: str, version: str, project: str) -> tuple[str, list[str]]:
    """The location and the rest of a ``VERSION/projects/P/locations/L/...`` path (Cloud Run v2, GKE v1): another
    project is refused as Google refuses it, anything else is an unknown path."""
    parts = path.strip("/").split("/")
    if len(parts) < 6 or parts[:2] != [version, "projects"] or parts[3] != "locations":
        raise unknown_path(method, path)
    if parts[2] != project:
        raise GoogleError(403, "PERMISSION_DENIED", "forbidden", f"Permission denied on project {parts[2]}")
    return parts[4], parts[5:]


def invalid(message: str, reason: str = "invalid") -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", reason, message)


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid(f"Invalid timestamp: {text!r}") from None


class OAuthError(GoogleError):
    """STS answers RFC 6749 errors, not Google's JSON error document."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(400, "INVALID_ARGUMENT", error, description)

    def document(self) -> dict[str, Any]:
        return {"error": self.reason, "error_description": self.message}


def json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise invalid("Invalid JSON payload received.") from None
    if not isinstance(document, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    return document


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def offset_of(token: Any) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(str(token)).decode().removeprefix("o:"))
    except ValueError:
        raise invalid("Invalid value for field 'pageToken'") from None


def page(kind: str, items: list[Any], query: dict[str, str]) -> dict[str, Any]:
    size = min(int(query.get("maxResults") or 500), 500)
    offset = offset_of(query.get("pageToken"))
    out: dict[str, Any] = {"kind": kind, "items": items[offset : offset + size]}
    if offset + size < len(items):
        out["nextPageToken"] = page_token(offset + size)
    return out
