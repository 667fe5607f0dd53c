"""The warm engine: a long-lived server that runs the same playbooks as the runner engine, fast."""

from .engine import ServerHandle, WarmEngine, WarmServer, prefer_user_server, shared_server

__all__ = ["ServerHandle", "WarmEngine", "WarmServer", "prefer_user_server", "shared_server"]
