"""The error hierarchy of the public contract.

Every error raised through the facade derives from :class:`ShieldOpsError`. Messages never carry secrets and
quote agent-supplied values only through :func:`quote_untrusted`, so an error can be logged or shown to an LLM.
"""

from __future__ import annotations

__all__ = [
    "ActionNotSupported",
    "AuthenticationError",
    "BackendUnavailable",
    "ConfigError",
    "InvalidRequest",
    "PermissionDenied",
    "PolicyDenied",
    "ResourceNotFound",
    "ShieldOpsError",
    "SnapshotNotFound",
    "error_for_kind",
    "quote_untrusted",
]

_MAX_QUOTED = 80


def quote_untrusted(value: object) -> str:
    """Render an untrusted value for an error message: repr-escaped and shortened."""
    text = repr(value) if isinstance(value, str) else repr(type(value).__name__)
    if len(text) > _MAX_QUOTED:
        text = text[: _MAX_QUOTED - 5] + "...'"
    return text


class ShieldOpsError(Exception):
    """Base class of every error this package raises."""

    kind = "error"


class InvalidRequest(ShieldOpsError):
    kind = "invalid_request"


class ConfigError(InvalidRequest):
    """The configuration file is missing, malformed or names an unknown key."""

    kind = "config_error"


class ResourceNotFound(ShieldOpsError):
    kind = "not_found"


class PermissionDenied(ShieldOpsError):
    kind = "permission_denied"


class AuthenticationError(ShieldOpsError):
    kind = "authentication"


class ActionNotSupported(ShieldOpsError):
    kind = "not_supported"


class PolicyDenied(ShieldOpsError):
    kind = "policy_denied"


class SnapshotNotFound(ShieldOpsError):
    kind = "snapshot_not_found"


class BackendUnavailable(ShieldOpsError):
    kind = "backend_unavailable"


_BY_KIND: dict[str, type[ShieldOpsError]] = {
    cls.kind: cls
    for cls in (
        InvalidRequest,
        ConfigError,
        ResourceNotFound,
        PermissionDenied,
        AuthenticationError,
        ActionNotSupported,
        PolicyDenied,
        SnapshotNotFound,
        BackendUnavailable,
    )
}


def error_for_kind(kind: str, message: str) -> ShieldOpsError:
    """Map the error kind a playbook reports (see the `classify_error` filter) to an exception."""
    return _BY_KIND.get(kind, BackendUnavailable)(message)
