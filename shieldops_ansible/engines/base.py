"""The engine seam: the facade hands an engine one playbook run and gets back one result.

An engine knows nothing of providers. It receives the operation, the request variables (untrusted, tagged
``!unsafe`` on their way into Ansible), secret environment variables (delivered to the run without touching
disk), and returns the ``shieldops_result`` the playbook published with ``set_stats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BackendUnavailable

__all__ = ["Engine", "EventCallback", "RunRequest", "RunResult", "engine_failure"]

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
    # The warm engine's server runs one only from a folder its owner named when starting it.
    playbook: str | None = None
    # The config file and environment the run is for: the warm engine's server derives from them, by itself, the
    # inventories and environment names the run may have, and refuses a request that asks for others.
    config: str | None = None
    environment: str | None = None


@dataclass(frozen=True)
class RunResult:
    status: str  # successful | failed | timeout | canceled
    rc: int
    result: Mapping[str, Any] | None
    failures: list[str] = field(default_factory=list)


class Engine(Protocol):
    async def run(self, request: RunRequest) -> RunResult: ...

    async def aclose(self) -> None: ...


def engine_failure(engine: str, exc: BaseException) -> BackendUnavailable:
    """What an engine raises when it fails (not the playbook): the kind of failure only. An exception's text may
    quote a request line, an event or a path, and none of that belongs in an error an agent or an LLM reads."""
    detail = type(exc).__name__
    errno = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and isinstance(errno, int):
        import os

        detail += f": {os.strerror(errno)}"
    return BackendUnavailable(f"the {engine} engine failed ({detail})")
