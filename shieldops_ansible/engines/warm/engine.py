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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...paths import ansible_cfg, playbook_path, project_dir
from ..base import RunRequest, RunResult
from ..events import collect_event, published_result
from ..processes import descendants
from ..request_file import dump_unsafe
from ..secrets import split_secret_env

__all__ = ["WarmEngine", "WarmServer", "shared_server"]

_PRIVATE_EVENTS = {"shieldops_started", "shieldops_finished"}


class WarmServer:
    """The server process and its socket (in a private 0700 directory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
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
        """Start the server (if it is not running) and wait until it accepts requests."""
        with self._lock:
            if self.alive():
                return
            self._cleanup()
            self._dir = Path(tempfile.mkdtemp(prefix="shieldops-warm-"))
            env, _secrets = split_secret_env(os.environ)  # credentials reach requests only, never the server
            env["ANSIBLE_CONFIG"] = str(ansible_cfg())
            env["ANSIBLE_DISPLAY_TRACEBACK"] = "error"
            env.pop("ANSIBLE_COLLECTIONS_PATH", None)
            env["ANSIBLE_LOCAL_TEMP"] = str(self._dir / "tmp")
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "shieldops_ansible.engines.warm.server", str(self.socket_path)],
                cwd=str(project_dir()),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()  # "ready" once the socket listens
            if line.strip() != b"ready":
                self._proc.kill()
                self._proc.wait()
                raise RuntimeError("the warm engine's server did not start")
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


_shared: WarmServer | None = None


def shared_server() -> WarmServer:
    global _shared
    if _shared is None:
        _shared = WarmServer()
        atexit.register(_shared.stop)
    return _shared


class WarmEngine:
    def __init__(self, server: WarmServer | None = None) -> None:
        self._server = server or shared_server()

    @property
    def server(self) -> WarmServer:
        return self._server

    async def aclose(self) -> None:
        return None  # the server is shared by every connector of this process; it stops at exit

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for attempt in (1, 2):
            if not self._server.alive():
                await asyncio.to_thread(self._server.start)
            try:
                return await asyncio.open_unix_connection(str(self._server.socket_path), limit=64 * 1024 * 1024)
            except (FileNotFoundError, ConnectionRefusedError):
                if attempt == 2:
                    raise
                await asyncio.to_thread(self._server.stop)  # a dead or stuck server: start over
        raise AssertionError("unreachable")

    async def run(self, request: RunRequest) -> RunResult:
        reader, writer = await self._connect()
        _plain, inherited_secrets = split_secret_env(os.environ)
        inventories = [str(project_dir() / "inventories" / "localhost" / "hosts.yml"), *request.inventories]
        payload = {
            "playbook": request.playbook or str(playbook_path(request.operation)),
            "request_yaml": dump_unsafe(request.variables),
            "inventories": inventories,
            "check": request.check_mode,
            "env": inherited_secrets | dict(request.secret_env),
        }
        collected: dict[str, Any] = {"stats": None, "failures": [], "rc": None, "pid": None}
        status = "failed"
        try:
            writer.write(json.dumps(payload).encode() + b"\n")
            await writer.drain()
            async with asyncio.timeout(request.timeout_s):
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    event = json.loads(line)
                    _collect(event, collected)
                    if request.on_event is not None and event.get("event") not in _PRIVATE_EVENTS:
                        request.on_event(event)
                    if event.get("event") == "shieldops_finished":
                        break
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
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        result = published_result(collected)
        rc = collected["rc"] if collected["rc"] is not None else -1
        return RunResult(status=status, rc=rc, result=result, failures=list(collected["failures"]))


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
