"""A TLS proxy in front of the sandbox's Kubernetes API server that injects faults into writes.

It presents the sandbox's own server certificate (so clients trust it with the same CA) and forwards every request
to the real API server, except writes (PATCH, PUT, POST, DELETE) while a fault is set: ``throttle`` answers 429
like an API server under priority-and-fairness limits, ``forbid`` answers 403 like an RBAC refusal, ``hang`` holds
the request until the fault is cleared. ``writes`` counts the writes that arrived.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shieldops_ansible.sandbox.kube_apiserver import status_document

__all__ = ["FaultProxy"]

_WRITES = {"PATCH", "PUT", "POST", "DELETE"}


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(status_document(code, reason, message)).encode()


class FaultProxy:
    def __init__(self, kube_dir: Path) -> None:
        self.upstream = f"https://127.0.0.1:{json.loads((kube_dir / 'server.json').read_text())['port']}"
        self.upstream_tls = ssl.create_default_context(cafile=str(kube_dir / "ca.pem"))
        self.fault: str | None = None
        self.writes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, code: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command in _WRITES:
                    proxy.writes += 1
                    while proxy.fault == "hang":
                        time.sleep(0.05)
                    if proxy.fault == "throttle":
                        return self._answer(
                            429, _status(429, "TooManyRequests", "Too many requests, please try again later.")
                        )
                    if proxy.fault == "forbid":
                        return self._answer(403, _status(403, "Forbidden", "writes are forbidden by the fault proxy"))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length", "connection"}
                }
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body or None, method=self.command, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, context=proxy.upstream_tls, timeout=30) as response:
                        self._answer(response.status, response.read(), response.headers.get("Content-Type", ""))
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.read(), exc.headers.get("Content-Type", "application/json"))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(kube_dir / "server.pem"), str(kube_dir / "server.key"))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fault = None
        self._httpd.shutdown()
        self._httpd.server_close()
