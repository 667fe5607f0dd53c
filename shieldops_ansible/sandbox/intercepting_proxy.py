"""An intercepting HTTPS proxy that hands chosen cloud API hosts to local fake servers.

Why: the cloud SDKs the upstream collections use cannot be re-pointed. Every google.cloud URL is a hard-coded
``https://*.googleapis.com`` string, and Azure's ARM base URL comes from azure-cli-core's built-in cloud objects
(see /work/shared/TESTING.md, "GCP and Azure: wire-level fakes behind an intercepting proxy"). Both stacks use
``requests`` and honour ``HTTPS_PROXY``/``HTTP_PROXY`` and ``REQUESTS_CA_BUNDLE``, so the unmodified SDK runs with
those pointing here and at a ``TestCA``'s certificate.

For ``CONNECT host:port`` with a routed host, the proxy answers 200, terminates TLS with a certificate for that host
from the test CA, and relays the decrypted bytes, unchanged and in both directions, to the plain-HTTP fake at
``routes[host]`` until either side closes (so keep-alive works). A plain proxy request (``GET http://host/path``,
such as Azure IMDS at 169.254.169.254) to a routed host is sent to its fake in origin form with
``Connection: close``. Every other host is refused with 403: nothing is ever connected to that is not in
``routes``. Routing is by host name only (exact, case-insensitive); the port a client asks for is not used.

The optional ``log`` callable gets one line per tunnel or request: the host and the outcome, never headers or
bodies (they carry bearer tokens), nor paths (query strings may too).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import select
import socket
import socketserver
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from types import TracebackType

from .tls import TestCA

__all__ = ["InterceptingProxy"]

_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024
_HEAD_TIMEOUT = 10.0  # for the request head and the TLS handshake: a client that stalls there only holds a thread
_IO_TIMEOUT = 30.0  # for one send, so a peer that stops reading cannot hold a tunnel forever
_CONNECT_TIMEOUT = 5.0
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,251}[a-z0-9])?")
# Meant for the proxy, not the fake; the client's own Connection header is replaced by ``Connection: close``.
_HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "proxy-authorization"})
_REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}

Log = Callable[[str], None]
Route = tuple[str, int]


class _Refusal(Exception):
    """A request answered with an error status; the message is the response body, the outcome is for the log."""

    def __init__(self, status: int, message: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome


class _Connection:
    """One client connection and, once connected, its fake's: what ``stop`` must be able to cut."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.backend: socket.socket | None = None
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True
        for sock in (self.client, self.backend):
            if sock is not None:
                # socket.socket's own shutdown, not SSLSocket's: that one drops the TLS state under the relay's feet.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        for sock in (self.client, self.backend):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connects from SDKs that open several at once (each retried after 1 s).
    request_queue_size = 128

    def __init__(self, address: Route, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        super().__init__(address, socketserver.BaseRequestHandler)

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if isinstance(request, socket.socket):
            self._serve(request)

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints a traceback to stderr; the proxy logs its own outcomes.
        pass


class InterceptingProxy:
    """A CONNECT (and plain HTTP) proxy on ``host:port`` that sends each routed host to its fake, refusing others.

    ``routes`` maps host names (or IP addresses, for plain HTTP such as IMDS) to the ``(address, port)`` of a
    plain-HTTP fake server. ``port=0`` picks a free port, read from ``port`` once started.
    """

    def __init__(
        self,
        routes: Mapping[str, tuple[str, int]],
        ca: TestCA,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: Log | None = None,
        idle_timeout: float = 120.0,
    ) -> None:
        self._routes = {name.lower(): (address, int(number)) for name, (address, number) in routes.items()}
        self._ca = ca
        self._address = (host, port)
        self._log = log
        self._idle_timeout = idle_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active: set[_Connection] = set()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """For ``HTTPS_PROXY`` and ``HTTP_PROXY``."""
        return f"http://{self._address[0]}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._server = _Server(self._address, self._handle)
        # A short poll interval: stop() waits up to one for serve_forever to notice, and tests stop proxies often.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"intercepting-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and cut the tunnels still open."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            for connection in self._active:
                connection.abort()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> InterceptingProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # One thread per client connection from here on.

    def _handle(self, client: socket.socket) -> None:
        connection = _Connection(client)
        with self._lock:
            self._active.add(connection)
        line: str | None
        try:
            line = self._serve(connection)
        except Exception as exc:  # a bug here must cost one connection, not the proxy
            line = f"proxy error: {type(exc).__name__}"
        finally:
            # Under the lock, so that stop() never shuts down a descriptor number already reused elsewhere.
            with self._lock:
                self._active.discard(connection)
                connection.close()
        if line is not None and connection.aborted:
            line += " (cut by stop)"
        if line is not None and self._log is not None:
            with contextlib.suppress(Exception):
                self._log(line)

    def _serve(self, connection: _Connection) -> str | None:
        client = connection.client
        client.settimeout(_HEAD_TIMEOUT)
        label = "request"
        try:
            request = _read_head(client)
            if request is None:
                return None  # connected and closed without a word, as connection probes do
            head, rest = request
            method, target, version, headers = _parse_head(head)
            if method == "CONNECT":
                label = "CONNECT"
                host, port = _split_authority(target)
                label = f"CONNECT {host}:{port}"
                return f"{label}: {self._tunnel(connection, host, rest)}"
            label = "HTTP"
            host, request_line_and_headers = _origin_form(method, target, version, headers)
            label = f"HTTP {host}"
            return f"{label}: {self._forward(connection, host, request_line_and_headers + rest)}"
        except _Refusal as refusal:
            _send_error(client, refusal.status, str(refusal))
            return f"{label}: {refusal.outcome}"
        except TimeoutError:
            return f"{label}: client stalled"
        except OSError as exc:
            return f"{label}: connection lost ({_why(exc)})"

    def _route(self, host: str) -> Route:
        route = self._routes.get(host)
        if route is None:
            raise _Refusal(403, f"{host} is not routed by the sandbox proxy", "refused (not routed)")
        return route

    def _connect(self, connection: _Connection, host: str) -> Route:
        route = self._route(host)
        try:
            connection.backend = socket.create_connection(route, timeout=_CONNECT_TIMEOUT)
        except OSError as exc:
            raise _Refusal(
                502, f"the fake server for {host} is not reachable", f"fake at {_show(route)} unreachable ({_why(exc)})"
            ) from exc
        return route

    def _tunnel(self, connection: _Connection, host: str, rest: bytes) -> str:
        self._route(host)
        if rest:
            # A client must wait for the 200; bytes already read here could not be handed to the TLS layer.
            raise _Refusal(400, "data sent before the tunnel was established", "refused (data before 200)")
        route = self._connect(connection, host)
        client = connection.client
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        tls = self._ca.server_context(host).wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        connection.client = tls  # wrap_socket detached the plain socket: stop() must reach this one
        try:
            tls.do_handshake()
        except (OSError, ValueError) as exc:
            if isinstance(exc, ssl.SSLError) and exc.reason == "CALLBACK_FAILED":
                return "TLS refused (the client's SNI names another host)"  # TestCA's SNI check, the only callback
            return f"TLS handshake failed ({_why(exc)})"
        return f"to {_show(route)}, {self._relay(connection)}"

    def _forward(self, connection: _Connection, host: str, request: bytes) -> str:
        route = self._connect(connection, host)
        assert connection.backend is not None
        connection.backend.sendall(request)
        # The request has Connection: close, so relaying until the fake closes carries one request and its answer.
        return f"to {_show(route)}, {self._relay(connection, already_up=len(request))}"

    def _relay(self, connection: _Connection, already_up: int = 0) -> str:
        client, backend = connection.client, connection.backend
        assert backend is not None
        client.settimeout(_IO_TIMEOUT)
        backend.settimeout(_IO_TIMEOUT)
        sent = {client: already_up, backend: 0}
        names = {client: "client", backend: "fake"}
        ready: list[socket.socket]
        while True:
            if isinstance(client, ssl.SSLSocket) and client.pending():
                # Already decrypted and buffered by OpenSSL: select would not see it on the socket.
                ready = [client]
            else:
                ready, _, _ = select.select([client, backend], [], [], self._idle_timeout)
                if not ready:
                    return f"{_volume(sent[client], sent[backend])}, closed when idle"
            for source in ready:
                target = backend if source is client else client
                try:
                    data = _receive(source)
                except OSError as exc:
                    return f"{_volume(sent[client], sent[backend])}, {names[source]} failed ({_why(exc)})"
                if data is None:
                    continue
                if not data:
                    return f"{_volume(sent[client], sent[backend])}, closed by {names[source]}"
                try:
                    target.sendall(data)
                except OSError as exc:
                    return f"{_volume(sent[client], sent[backend])}, {names[target]} failed ({_why(exc)})"
                sent[source] += len(data)


def _receive(sock: socket.socket) -> bytes | None:
    """What arrived; b"" at the end; None if only part of a TLS record (or a non-data record) is in."""
    if not isinstance(sock, ssl.SSLSocket):
        return sock.recv(_CHUNK)
    # Non-blocking for the read alone: a readable socket need not hold a whole TLS record, and waiting for the rest
    # would stall the other direction. Sends keep the timeout, since a non-blocking sendall cannot finish reliably.
    sock.settimeout(0.0)
    try:
        return sock.recv(_CHUNK)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return None
    finally:
        sock.settimeout(_IO_TIMEOUT)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """The request head (without its blank line) and whatever came after it; None if the client sent nothing."""
    buffer = bytearray()
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buffer[:end]), bytes(buffer[end + 4 :])
        if buffer.startswith(b"\x16"):
            # A TLS ClientHello: HTTPS_PROXY says https:// where this proxy speaks plain HTTP.
            raise _Refusal(400, "this proxy speaks plain HTTP", "refused (client spoke TLS to the proxy)")
        if len(buffer) > _MAX_HEAD:
            raise _Refusal(400, "request head too large", "refused (head too large)")
        chunk = sock.recv(_CHUNK)
        if not chunk:
            if buffer:
                raise ConnectionAbortedError("closed within the request head")
            return None
        buffer += chunk


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[2].startswith("HTTP/"):
        raise _Refusal(400, "malformed request line", "refused (malformed request line)")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], parts[2], headers


def _split_authority(target: str) -> tuple[str, int]:
    """``host:port`` of a CONNECT, the host lower-cased, or a 400 refusal (that never echoes what was sent)."""
    host, colon, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid = _is_ip(host)
    else:
        host = host.lower()
        valid = _HOST.fullmatch(host) is not None
    if not (colon and valid and port.isdigit() and 0 < int(port) < 65536):
        raise _Refusal(400, "the CONNECT target must be host:port", "refused (malformed target)")
    return host, int(port)


def _origin_form(method: str, target: str, version: str, headers: list[tuple[str, str]]) -> tuple[str, bytes]:
    """The host of a plain proxy request, and the request line and headers to send its fake."""
    url = urllib.parse.urlsplit(target)
    try:
        host, _port = url.hostname, url.port
    except ValueError:
        host = None
    if url.scheme.lower() != "http" or not host or not (_HOST.fullmatch(host) or _is_ip(host)):
        raise _Refusal(400, "a proxy request needs an absolute http:// URL", "refused (not an absolute http:// URL)")
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    kept = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
    if not any(name.lower() == "host" for name, _ in kept):
        kept.insert(0, ("Host", url.netloc.rpartition("@")[2]))
    lines = [f"{method} {path} {version}", *(f"{name}: {value}" for name, value in kept), "Connection: close"]
    return host, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _send_error(sock: socket.socket, status: int, message: str) -> None:
    body = (message + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.sendall(head.encode() + body)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{type(exc).__name__}: {exc.reason}"
    return type(exc).__name__


def _show(route: Route) -> str:
    return f"{route[0]}:{route[1]}"


def _volume(up: int, down: int) -> str:
    return f"{up} B up, {down} B down"
