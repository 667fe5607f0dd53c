"""Pydantic models of the public contract (CONTRACT.md): requests and results of the six operations.

The contract's words that the playbooks judge by too (the resource states, the health statuses and their order)
are defined once, in the collection's ``plugins/plugin_utils/vocabulary.py``, which :func:`vocabulary` loads; the
``Literal`` types below spell them again for pydantic and mypy, and a unit test holds the two equal.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from functools import cache
from types import ModuleType
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .paths import project_dir

__all__ = [
    "Action",
    "ActionResult",
    "Check",
    "Event",
    "HealthStatus",
    "Resource",
    "ResourceState",
    "RollbackResult",
    "Severity",
    "Snapshot",
    "TimeRange",
    "plugin_utils",
    "vocabulary",
]

_PLUGIN_UTILS = "collections/ansible_collections/shieldops/connectors/plugins/plugin_utils"


@cache
def plugin_utils(name: str) -> ModuleType:
    """A module of the collection's ``plugins/plugin_utils`` (standard library only, so it loads outside Ansible),
    loaded by path from the project whose playbooks the engines run: what the playbooks and this package share is
    defined there once. Looked up at use, not at import: importing the package must not depend on the project
    folder."""
    module_name = f"shieldops_ansible._{name}"
    path = project_dir() / _PLUGIN_UTILS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not path.is_file():
        # SHIELDOPS_PROJECT_DIR naming a project older than this package, for example.
        raise ImportError(f"cannot load {path}: the project's playbooks do not match this package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def vocabulary() -> ModuleType:
    """The collection's vocabulary module: ``RESOURCE_STATES``, ``HEALTH_STATUSES`` (best first), ``health_rank``."""
    return plugin_utils("vocabulary")


# The words of plugin_utils/vocabulary.py, as types (tests/unit/test_single_sources.py holds them equal).
ResourceState = Literal["running", "stopped", "pending", "failed", "unknown"]
HealthState = Literal["healthy", "degraded", "unhealthy", "unknown"]
Severity = Literal["info", "warning", "error", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Resource(_Model):
    id: str
    type: str
    native_type: str
    name: str
    environment: str
    provider: str
    region: str | None = None
    state: ResourceState = "unknown"
    capacity: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)


class Check(_Model):
    name: str
    status: HealthState
    message: str = ""


class HealthStatus(_Model):
    resource_id: str
    status: HealthState
    checks: list[Check] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    observed_at: AwareDatetime


class Action(BaseModel):
    """An action an agent asks for. Every field is untrusted input."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: str
    resource_id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = False
    reason: str | None = None


class ActionResult(_Model):
    action_id: str
    success: bool
    changed: bool
    status: Literal["succeeded", "failed", "dry_run"]
    message: str = ""
    snapshot_id: str | None = None
    diff: dict[str, Any] | list[Any] | str | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime
    details: dict[str, Any] = Field(default_factory=dict)


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    @classmethod
    def last(cls, *, minutes: float = 60) -> TimeRange:
        end = datetime.now(UTC)
        return cls(start=end - timedelta(minutes=minutes), end=end)


class Event(_Model):
    id: str
    resource_id: str
    timestamp: AwareDatetime
    type: str
    severity: Severity = "info"
    message: str = ""
    source: str


class Snapshot(_Model):
    id: str
    resource_id: str
    environment: str
    provider: str
    created_at: AwareDatetime
    kind: str
    handles: dict[str, Any] = Field(default_factory=dict)
    state: dict[str, Any] = Field(default_factory=dict)


class RollbackResult(_Model):
    snapshot_id: str
    success: bool
    restored: list[str] = Field(default_factory=list)
    message: str = ""
    finished_at: AwareDatetime
