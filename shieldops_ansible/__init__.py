"""shieldops-ansible: one async interface for AI SRE agents, over Ansible playbooks, on every environment."""

from __future__ import annotations

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
