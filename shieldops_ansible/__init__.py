"""shieldops-ansible: one async interface for AI SRE agents, over Ansible playbooks, on every environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connector import InfraConnector, connect
    from .errors import (
        ActionNotSupported,
        AuthenticationError,
        BackendUnavailable,
        ConfigError,
        InvalidRequest,
        PermissionDenied,
        PolicyDenied,
        ResourceNotFound,
        ShieldOpsError,
        SnapshotNotFound,
    )
    from .models import (
        Action,
        ActionResult,
        Check,
        Event,
        HealthStatus,
        Resource,
        RollbackResult,
        Snapshot,
        TimeRange,
    )

# The public names are imported on first use (PEP 562): a CLI command relayed to the per-user warm server imports
# none of pydantic or the facade, which is most of its start-up. Looked for in this order: cheapest first.
_HOMES = ("errors", "models", "connector")


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        for home in _HOMES:
            value = getattr(importlib.import_module(f".{home}", __name__), name, None)
            if value is not None:
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "ActionNotSupported",
    "ActionResult",
    "AuthenticationError",
    "BackendUnavailable",
    "Check",
    "ConfigError",
    "Event",
    "HealthStatus",
    "InfraConnector",
    "InvalidRequest",
    "PermissionDenied",
    "PolicyDenied",
    "Resource",
    "ResourceNotFound",
    "RollbackResult",
    "ShieldOpsError",
    "Snapshot",
    "SnapshotNotFound",
    "TimeRange",
    "connect",
]
__version__ = "0.1.0"
