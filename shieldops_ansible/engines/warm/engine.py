"""The warm engine: the same playbooks as the runner engine, run by a long-lived server (see :mod:`.server`).

One server per Python process, started on first use and stopped at exit (it also dies with its parent). If it
dies, the next request starts a new one. A request that outlives its timeout, or whose awaiting task is
cancelled, has its whole process tree killed; other requests are separate processes and carry on.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ...errors import BackendUnavailable, ShieldOpsError
from ...paths import project_dir
from ..base import RunRequest, RunResult, engine_failure
from ..environment import ansible_settings, base_environment, connection_environment
from ..events import collect_event, published_result
from ..processes import descendants
from ..request_file import dump_unsafe
from .server import peer_allowed

__all__ = [
    "ServerHandle",
    "WarmEngine",
    "WarmServer",
    "attach_shared_server",
    "prefer_user_server",
    "request_header",
    "request_payload",
    "shared_server",
    "spawn_server",
]

_PRIVATE_EVENTS = {"shieldops_hello", "shieldops_started", "shieldops_finished"}
_DEFAULT_START_TIMEOUT_S = 60.0
_DEFAULT_MAX_REQUESTS = 16


class WarmServer:
    """The server process and its socket (in a private 0700 directory).

    ``extra_playbooks``: folders whose playbooks the server runs besides the six operations' (tests and tools);
    decided here, by whoever starts the server, never by a request. ``max_requests``: requests run at once; the
    server refuses more (the engine waits for a free slot). ``start_timeout_s``: how long start() waits for the
    server to listen before it kills it.
    """

    def __init__(
        self,
        *,
        extra_playbooks: Iterable[str | os.PathLike[str]] = (),
        max_requests: int = _DEFAULT_MAX_REQUESTS,
        start_timeout_s: float = _DEFAULT_START_TIMEOUT_S,
    ) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._extra_playbooks = tuple(str(Path(d).resolve()) for d in extra_playbooks)
        self._max_requests = max_requests
        self._start_timeout_s = start_timeout_s
        self.starts = 0

    @property
    def socket_path(self) -> Path:
        assert self._dir is not None
        return self._dir / "warm.sock"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def alive(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Start the server (if it is not running) and wait until it accepts requests.

        Raises BackendUnavailable if it cannot be started or does not say it is ready in time (then it is killed).
        """
        with self._lock:
            if self.alive():
                return
            self._cleanup()
            self._dir = Path(tempfile.mkdtemp(prefix="shieldops-warm-"))
            try:
                self._proc = spawn_server(
                    self.socket_path,
                    max_requests=self._max_requests,
                    extra_playbooks=self._extra_playbooks,
                    options=["--local-tmp", str(self._dir / "tmp")],
                    stdout=subprocess.PIPE,
                )
            except OSError as exc:
                self._cleanup()
                raise engine_failure("warm", exc) from None
            if _ready_line(self._proc, self._start_timeout_s) != b"ready":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGKILL)  # its own session: the server and anything it began
                self._proc.wait()
                self._cleanup()
                raise BackendUnavailable(f"the warm engine's server did not start within {self._start_timeout_s:g} s")
            self.starts += 1

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._cleanup()

    def _cleanup(self) -> None:
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _ready_line(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """The server's first line ("ready" once its socket listens), or b"" if none comes within ``timeout_s``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout_s
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return b""
        chunk = os.read(fd, 64)
        if not chunk:
            break
        line += chunk
    return line.strip()


def spawn_server(
    socket_path: Path,
    *,
    max_requests: int,
    extra_playbooks: Iterable[str] = (),
    options: Iterable[str] = (),
    stdout: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a server process listening on ``socket_path``, in a session of its own (so it can be killed with all
    it began); ``options``: more of its command line."""
    argv = [sys.executable, "-m", "shieldops_ansible.engines.warm.server", str(socket_path)]
    argv += ["--max-requests", str(max_requests)]
    for folder in extra_playbooks:
        argv += ["--extra-playbooks", folder]
    return subprocess.Popen(
        [*argv, *options],
        cwd=str(project_dir()),
        # An allow-listed environment, never ours: credentials and proxies reach requests only.
        env=base_environment() | ansible_settings(),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class ServerHandle(Protocol):
    """What the engine needs of a server: a WarmServer it starts, or a per-user server someone else started."""

    starts: int  # how many times this handle started a server

    @property
    def socket_path(self) -> Path: ...

    @property
    def pid(self) -> int | None: ...

    def alive(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


_shared: ServerHandle | None = None
_prefer_user_server = False


def prefer_user_server() -> None:
    """Let :func:`shared_server` use the per-user server (``shieldops-ansible warm-server start``) when one runs for
    this installation: what the CLI does. Library users opt in the same way, or pass ``WarmEngine(server)``."""
    global _prefer_user_server
    _prefer_user_server = True


def attach_shared_server(handle: ServerHandle) -> None:
    """Make ``handle`` this process's server (a command relayed to the per-user server uses that very server)."""
    global _shared
    _shared = handle


def shared_server() -> ServerHandle:
    """This process's server: the per-user one if preferred and running, else one of its own, started on first use
    and stopped at exit."""
    global _shared
    if _shared is None:
        if _prefer_user_server:
            from .user_server import UserServer

            _shared = UserServer.find()
        if _shared is None:
            own = WarmServer()
            atexit.register(own.stop)
            _shared = own
    return _shared


def request_header(request: RunRequest) -> dict[str, Any]:
    """The first line of a request (no secret): what the server derives the run's inventories and names from."""
    return {
        "config": os.path.abspath(request.config) if request.config is not None else None,
        "environment": request.environment,
        # Relative paths of the config file are relative to where it was loaded; the server loads it there too.
        "cwd": os.getcwd(),
    }


def request_payload(request: RunRequest) -> dict[str, Any]:
    """The request line, sent once the server said hello (see :mod:`.server` for what it accepts)."""
    return {
        "operation": request.operation,
        "playbook": request.playbook,
        "request_yaml": dump_unsafe(request.variables),
        "inventories": [str(project_dir() / "inventories" / "localhost" / "hosts.yml"), *request.inventories],
        "check": request.check_mode,
        "env": connection_environment() | dict(request.secret_env),
    }


class WarmEngine:
    def __init__(self, server: ServerHandle | None = None) -> None:
        self._server = server or shared_server()

    @property
    def server(self) -> ServerHandle:
        return self._server

    async def aclose(self) -> None:
        return None  # the server is shared by every connector of this process; it stops at exit

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for attempt in (1, 2):
            if not self._server.alive():
                await asyncio.to_thread(self._server.start)
            try:
                reader, writer = await asyncio.open_unix_connection(
                    str(self._server.socket_path), limit=64 * 1024 * 1024
                )
            except (FileNotFoundError, ConnectionRefusedError):
                if attempt == 2:
                    raise
                await asyncio.to_thread(self._server.stop)  # a dead or stuck server: start over
                continue
            # The kernel's word that a process of ours listens there, before a credential is sent into it.
            if not peer_allowed(writer.get_extra_info("socket"), os.getuid()):
                writer.close()
                raise BackendUnavailable(f"the process at {self._server.socket_path} does not run as this user")
            return reader, writer
        raise AssertionError("unreachable")

    async def run(self, request: RunRequest) -> RunResult:
        try:
            return await self._run(request)
        except ShieldOpsError:
            raise
        except Exception as exc:  # the server, its socket or its answer failed, not the playbook
            raise engine_failure("warm", exc) from None

    async def _run(self, request: RunRequest) -> RunResult:
        header = json.dumps(request_header(request)).encode() + b"\n"
        line = json.dumps(request_payload(request)).encode() + b"\n"
        reader, writer = await self._connect()
        collected: dict[str, Any] = {"stats": None, "failures": [], "rc": None, "pid": None}
        status = "failed"
        try:
            async with asyncio.timeout(request.timeout_s):
                delay = 0.01
                while (refused := await _exchange(reader, writer, header, line, request, collected)) is not None:
                    if not refused.get("busy"):
                        reason = str(refused.get("reason", ""))[:500]
                        raise BackendUnavailable(f"the warm engine's server refused the run: {reason}")
                    # Nothing ran: wait for a free slot (the request's timeout bounds the wait).
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.2)
                    reader, writer = await self._connect()
            if collected["rc"] is None:
                collected["failures"].append("the warm engine's worker process ended without finishing the run")
                status = "failed"
            else:
                status = "successful" if collected["rc"] == 0 else "failed"
        except TimeoutError:
            status = "timeout"
            _kill_tree(collected["pid"])
        except asyncio.CancelledError:
            _kill_tree(collected["pid"])
            raise
        result = published_result(collected)
        rc = collected["rc"] if collected["rc"] is not None else -1
        return RunResult(status=status, rc=rc, result=result, failures=list(collected["failures"]))


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    header: bytes,
    line: bytes,
    request: RunRequest,
    collected: dict[str, Any],
) -> Mapping[str, Any] | None:
    """Send one request and read its events until the run finishes; the server's refusal if it refused.

    After the header the server speaks (a refusal, or its request's child saying hello) before the request is
    sent, so nothing is written into a connection the server is about to close: a refusal is always read, and
    "busy" always means nothing ran.
    """
    try:
        writer.write(header)
        await writer.drain()
        while True:
            raw = await reader.readline()
            if not raw:
                return None
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("the warm engine's server sent something other than an event")
            if event.get("event") == "shieldops_refused":
                return event
            if event.get("event") == "shieldops_hello":
                writer.write(line)
                await writer.drain()
                continue
            _collect(event, collected)
            if request.on_event is not None and event.get("event") not in _PRIVATE_EVENTS:
                request.on_event(event)
            if event.get("event") == "shieldops_finished":
                return None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _collect(event: Mapping[str, Any], collected: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "shieldops_started":
        collected["pid"] = event.get("pid")
    elif kind == "shieldops_finished":
        collected["rc"] = event.get("rc")
    else:
        collect_event(event, collected)


def _kill_tree(pid: int | None) -> None:
    """Kill a request's child and every process under it."""
    if not pid:
        return
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)
