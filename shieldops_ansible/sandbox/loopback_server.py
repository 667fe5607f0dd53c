"""A threaded HTTP server on an ephemeral loopback port, run in a thread of its own: what every wire-level fake of
the sandbox serves its API with (the intercepting proxy hands it the provider hosts' requests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LoopbackServer"]


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], name: str, log: Callable[[str], None] = lambda line: None
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.name, self.log = name, log
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
