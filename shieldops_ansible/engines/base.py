"""The engine seam: the facade hands an engine one playbook run and gets back one result.

An engine knows nothing of providers. It receives the operation, the request variables (untrusted, tagged
``!unsafe`` on their way into Ansible), secret environment variables (delivered to the run without touching
disk), and returns the ``shieldops_result`` the playbook published with ``set_stats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Engine", "EventCallback", "RunRequest", "RunResult"]

EventCallback = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class RunRequest:
    operation: str
    variables: Mapping[str, Any]
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    check_mode: bool = False
    inventories: tuple[str, ...] = ()
    timeout_s: float | None = 600.0
    on_event: EventCallback | None = None
    # Another playbook than the operation's (tests and tools; the facade always runs playbooks/<operation>.yml).
    playbook: str | None = None


@dataclass(frozen=True)
class RunResult:
    status: str  # successful | failed | timeout | canceled
    rc: int
    result: Mapping[str, Any] | None
    failures: list[str] = field(default_factory=list)


class Engine(Protocol):
    async def run(self, request: RunRequest) -> RunResult: ...

    async def aclose(self) -> None: ...
