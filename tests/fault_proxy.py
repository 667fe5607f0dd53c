"""A proxy in front of a sandbox backend that injects faults into writes.

``FaultProxy.kubernetes(dir)`` sits in front of the Kubernetes API server over TLS, with the sandbox's own server
certificate (clients trust it with the same CA); ``FaultProxy.aws(endpoint)`` sits in front of the AWS emulator
over plain HTTP. Every request is forwarded, except writes while a fault is set: ``throttle`` answers like the
backend under load (Kubernetes 429 TooManyRequests; AWS ThrottlingException for JSON APIs and
RequestLimitExceeded for EC2, each with a request id), ``forbid`` answers 403 like an RBAC refusal (Kubernetes),
``hang`` holds the request until the fault is cleared. ``writes`` counts the writes that arrived; ``calls`` keeps
the operation and request id of every AWS call, so tests can see what the SDK was answered.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from shieldops_ansible.providers.kubernetes.kube_apiserver import status_document

__all__ = ["AwsCall", "FaultProxy"]

_KUBE_WRITES = {"PATCH", "PUT", "POST", "DELETE"}
_AWS_READ = re.compile(r"^(Describe|List|Get|Lookup|AssumeRole|GetCallerIdentity)")
_XML_REQUEST_ID = re.compile(rb"<Request(?:I[Dd])>([^<]+)</Request(?:I[Dd])>", re.I)


class AwsCall(NamedTuple):
    operation: str
    request_id: str


class _Answer(NamedTuple):
    code: int
    body: bytes
    headers: dict[str, str]


def _aws_operation(headers: Any, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    return urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", [""])[0]


def _kube_fault(fault: str) -> _Answer:
    if fault == "throttle":
        body = status_document(429, "TooManyRequests", "Too many requests, please try again later.")
        return _Answer(429, json.dumps(body).encode(), {"Content-Type": "application/json", "Retry-After": "1"})
    body = status_document(403, "Forbidden", "writes are forbidden by the fault proxy")
    return _Answer(403, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _aws_throttle(json_api: bool) -> _Answer:
    request_id = str(uuid.uuid4())
    if json_api:
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return _Answer(400, body, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id})
    body = (
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
        f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    ).encode()
    return _Answer(503, body, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        is_write: Callable[[str, Any, bytes], bool],
        fault_answer: Callable[[str, Any], _Answer],
        upstream_tls: ssl.SSLContext | None = None,
        server_cert: tuple[Path, Path] | None = None,
        aws: bool = False,
    ) -> None:
        self.upstream, self.upstream_tls = upstream, upstream_tls
        self.fault: str | None = None
        self.writes = 0
        self.calls: list[AwsCall] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            body = b""

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, answer: _Answer) -> None:
                self.send_response(answer.code)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                if aws:
                    # botocore takes the id from an XML body when there is one (EC2), else from the header.
                    found = _XML_REQUEST_ID.search(answer.body)
                    request_id = (
                        found.group(1).decode()
                        if found
                        else next(
                            (
                                v
                                for k, v in answer.headers.items()
                                if k.lower() in {"x-amzn-requestid", "x-amz-request-id"}
                            ),
                            "",
                        )
                    )
                    proxy.calls.append(AwsCall(_aws_operation(self.headers, self.body), request_id))

            def _handle(self) -> None:
                self.body = body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if is_write(self.command, self.headers, body):
                    proxy.writes += 1
                    while proxy.fault == "hang":
                        time.sleep(0.05)
                    if proxy.fault is not None:
                        return self._answer(fault_answer(proxy.fault, self.headers))
                self._answer(proxy._forward(self.command, self.path, self.headers, body))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if server_cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(server_cert[0]), str(server_cert[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self.url = f"{'https' if server_cert else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @classmethod
    def kubernetes(cls, kube_dir: Path) -> FaultProxy:
        return cls(
            f"https://127.0.0.1:{json.loads((kube_dir / 'server.json').read_text())['port']}",
            is_write=lambda method, headers, body: method in _KUBE_WRITES,
            fault_answer=lambda fault, headers: _kube_fault(fault),
            upstream_tls=ssl.create_default_context(cafile=str(kube_dir / "ca.pem")),
            server_cert=(kube_dir / "server.pem", kube_dir / "server.key"),
        )

    @classmethod
    def aws(cls, endpoint: str) -> FaultProxy:
        return cls(
            endpoint.rstrip("/"),
            is_write=lambda method, headers, body: not _AWS_READ.match(_aws_operation(headers, body)),
            fault_answer=lambda fault, headers: _aws_throttle(bool(headers.get("X-Amz-Target"))),
            aws=True,
        )

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> _Answer:
        # The Host header is kept: AWS signatures (SigV4) cover it.
        kept = {k: v for k, v in headers.items() if k.lower() not in {"content-length", "connection"}}
        request = urllib.request.Request(self.upstream + path, data=body or None, method=method, headers=kept)
        try:
            with urllib.request.urlopen(request, context=self.upstream_tls, timeout=30) as response:
                return _Answer(response.status, response.read(), _passed_headers(response.headers))
        except urllib.error.HTTPError as exc:
            return _Answer(exc.code, exc.read(), _passed_headers(exc.headers))

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fault = None
        self._httpd.shutdown()
        self._httpd.server_close()


def _passed_headers(headers: Any) -> dict[str, str]:
    kept = {"content-type", "x-amzn-requestid", "x-amz-request-id", "retry-after"}
    return {k: v for k, v in headers.items() if k.lower() in kept}
