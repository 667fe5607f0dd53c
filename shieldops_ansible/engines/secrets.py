"""Delivering secrets to an Ansible run without writing them anywhere.

ansible-runner records the full process environment of a run in ``artifacts/<ident>/command``. So secrets never
go into that environment: the run's environment carries only the path of a FIFO, a thread writes the secrets into
it once, and :mod:`.launcher` reads them and ``exec``s ansible-playbook with them in its environment. What goes
into either part is an allow-list (:mod:`.environment`), never our own environment sorted by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FIFO_ENV", "SecretChannel"]

FIFO_ENV = "SHIELDOPS_SECRETS_FIFO"


class SecretChannel:
    """A FIFO that hands ``secrets`` to exactly one reader, then disappears."""

    def __init__(self, directory: Path, secrets: Mapping[str, str]) -> None:
        self.path = directory / "secrets.fifo"
        os.mkfifo(self.path, 0o600)
        self._payload = json.dumps(dict(secrets)).encode()
        self._thread = threading.Thread(target=self._write, name="shieldops-secrets", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            # Blocks until the launcher opens the FIFO; close() unblocks it if the run never starts.
            with open(self.path, "wb") as fifo:
                fifo.write(self._payload)
        except OSError:
            pass

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                # Open the read end ourselves so that the writer thread returns.
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            self._thread.join(timeout=1)
        self._payload = b""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
