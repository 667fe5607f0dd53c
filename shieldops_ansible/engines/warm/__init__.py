"""The warm engine: a long-lived server that runs the same playbooks as the runner engine, fast."""

from .engine import WarmEngine, WarmServer, shared_server

__all__ = ["WarmEngine", "WarmServer", "shared_server"]
