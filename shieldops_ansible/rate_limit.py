"""The per-resource action rate limit, shared by every process that uses the same state directory.

Each (environment, resource) has a small file of recent action times under ``STATE_DIR/rate/``. Checking and
recording happen under one exclusive ``flock``, so two agents racing for the last slot cannot both get it.
An attempt counts whether or not the action then succeeds: a flapping agent is exactly what the limit is for.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "rate"

    def _path(self, environment: str, resource_id: str) -> Path:
        key = hashlib.sha256(f"{environment}\0{resource_id}".encode()).hexdigest()[:32]
        return self.directory / f"{key}.json"

    def reserve(self, environment: str, resource_id: str, *, max_actions: int, per_seconds: int) -> tuple[bool, int]:
        """Take a slot if one is free. Returns (granted, actions already in the window)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._path(environment, resource_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 65536):
                raw += chunk
            now = time.time()
            try:
                times = [t for t in json.loads(raw or b"[]") if isinstance(t, int | float) and t > now - per_seconds]
            except ValueError:
                times = []
            if len(times) >= max_actions:
                return False, len(times)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps([*times, now]).encode())
            os.fsync(fd)
            return True, len(times)
        finally:
            os.close(fd)  # closing releases the lock
