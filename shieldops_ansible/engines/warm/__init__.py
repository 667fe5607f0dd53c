"""The warm engine: a long-lived server that runs the same playbooks as the runner engine, fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import ServerHandle, WarmEngine, WarmServer, prefer_user_server, shared_server

__all__ = ["ServerHandle", "WarmEngine", "WarmServer", "prefer_user_server", "shared_server"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI's relay (.cli_relay) and the per-user server's client (.user_server) live in
    # this package and must not pay for the engine's imports.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import engine

    value = getattr(engine, name)
    globals()[name] = value
    return value
