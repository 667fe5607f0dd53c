"""The per-user warm server: one long-lived server a user starts (``shieldops-ansible warm-server start``) and that
CLI commands find, so that a command costs a request instead of a server start (~2.5 s of imports).

Where: ``$XDG_RUNTIME_DIR/shieldops-ansible/`` when that runtime directory is ours, else
``/tmp/shieldops-ansible-<uid>/``. The folder must be a real directory (not a link) that we own with no access
for others; anything else is refused, because whoever controls the folder controls which socket we talk to. The
socket's name carries a fingerprint of this installation (interpreter, project folder, and the newest change to
our package, playbooks and collection) and of the base environment a server gives its runs, so that a command never
talks to a server running other code or other settings: after an upgrade, an edit or in a shell with another PATH
or CA bundle, commands start their own servers until the user starts a new one there.

A client checks the kernel's word on the server's uid (``SO_PEERCRED``) before it sends anything; the server
checks the client's the same way (see :mod:`.server`), and runs only what it would run for its own engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailable
from ...paths import collections_dir, project_dir
from ..environment import ansible_settings, base_environment
from .server import DEFAULT_IDLE_TIMEOUT_S, peer_allowed

__all__ = [
    "UserServer",
    "installation_fingerprint",
    "local_tmp_path",
    "other_servers",
    "ping",
    "send_control",
    "start_user_server",
    "user_server_dir",
    "user_socket_path",
]

_CONTROL_TIMEOUT_S = 2.0


def user_server_dir(*, create: bool = False) -> Path:
    """The per-user folder of the socket, checked to be private to us. Raises BackendUnavailable otherwise."""
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "shieldops-ansible" if runtime and _private_dir(Path(runtime), uid) else None
    folder = base or Path("/tmp") / f"shieldops-ansible-{uid}"
    if create:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=stat.S_IRWXU)
    if folder.exists() and not _private_dir(folder, uid):
        raise BackendUnavailable(
            f"{folder} is not a private directory of this user (a real directory, owned by uid {uid}, mode 0700): "
            "refusing to use a warm server there"
        )
    return folder


def _private_dir(path: Path, uid: int) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def installation_fingerprint() -> str:
    """What makes two processes' runs the same: interpreter, project folder, newest change to our content, and the
    base environment a server gives its runs (PATH, CA bundles, locale, SHIELDOPS_* settings: fixed when it starts,
    so a client whose own differ must not use it)."""
    newest = 0
    package = Path(__file__).resolve().parents[2]
    for root in (package, project_dir() / "playbooks", collections_dir() / "ansible_collections" / "shieldops"):
        newest = max(newest, _newest_mtime(root))
    base = json.dumps(sorted((base_environment() | ansible_settings()).items()))
    text = "\0".join([os.path.realpath(sys.executable), str(project_dir()), str(newest), base])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _newest_mtime(root: Path) -> int:
    newest = 0
    stack = [str(root)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name == "__pycache__":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    # Not the folder's own mtime: it changes when Python first writes a __pycache__ in it, which
                    # in a fresh checkout gave the same code two fingerprints minutes apart.
                    stack.append(entry.path)
                else:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    return newest


# sun_path holds 108 bytes with its terminating NUL.
_MAX_SOCKET_PATH = 107


def user_socket_path(*, create: bool = False) -> Path:
    path = user_server_dir(create=create) / f"warm-{installation_fingerprint()}.sock"
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise BackendUnavailable(f"{path} is longer than a Unix socket's path may be ({_MAX_SOCKET_PATH} bytes)")
    return path


def local_tmp_path(socket_path: Path) -> Path:
    """The folder of a per-user server's runs' temporary files (ANSIBLE_LOCAL_TEMP), beside its socket."""
    return socket_path.with_suffix(".tmp")


def other_servers() -> list[Path]:
    """Sockets of per-user servers that still answer but run other code (an earlier version or edit) or give their
    runs another base environment."""
    try:
        folder = user_server_dir()
    except BackendUnavailable:
        return []
    current = user_socket_path()
    return sorted(p for p in folder.glob("warm-*.sock") if p != current and ping(p) is not None)


def send_control(path: Path, command: str) -> dict[str, Any] | None:
    """Send a control header (``ping`` or ``stop``) to the server at ``path``; its answer, or None if no server of
    ours answers there."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(_CONTROL_TIMEOUT_S)
            conn.connect(str(path))
            if not peer_allowed(conn, os.getuid()):
                return None
            conn.sendall(json.dumps({"control": command}).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n") and len(answer) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return None
    try:
        decoded = json.loads(answer)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def ping(path: Path) -> dict[str, Any] | None:
    answer = send_control(path, "ping")
    return answer if answer is not None and answer.get("event") == "shieldops_pong" else None


def start_user_server(
    *, idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S, max_requests: int = 16, start_timeout_s: float = 60.0
) -> dict[str, Any]:
    """Start the per-user server detached from us (it outlives this process) unless one runs; its ping answer."""
    from .engine import spawn_server  # the engine's server start, shared

    path = user_socket_path(create=True)
    if (running := ping(path)) is not None:
        return running | {"already_running": True}
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket no server answers on: its server was killed
    # Its runs' local temp, private like the socket and removed when it stops; what a killed server left is
    # removed here (no server answers on this socket).
    local_tmp = local_tmp_path(path)
    shutil.rmtree(local_tmp, ignore_errors=True)
    local_tmp.mkdir(mode=stat.S_IRWXU)
    # In a session of its own: the terminal's hang-up does not reach it.
    options = ["--detached", "--idle-timeout", str(idle_timeout_s), "--local-tmp", str(local_tmp)]
    proc = spawn_server(path, max_requests=max_requests, options=options)
    deadline = time.monotonic() + start_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendUnavailable(f"the warm server exited while starting (status {proc.returncode})")
        if path.exists() and (answer := ping(path)) is not None:
            proc.returncode = 0  # it outlives us by design: no "still running" warning at our exit
            return answer | {"already_running": False}
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait()
    raise BackendUnavailable(f"the warm server did not start within {start_timeout_s:g} s")


class UserServer:
    """The per-user server, as the warm engine sees a server: someone else started it and stops it."""

    def __init__(self, path: Path, pid: int) -> None:
        self._path = path
        self._pid = pid
        self._gone = False
        self.starts = 0

    @classmethod
    def find(cls) -> UserServer | None:
        """The running per-user server of this installation, or None (no server, or a folder we refuse)."""
        try:
            path = user_socket_path()
        except BackendUnavailable:
            return None
        if not path.exists() or (answer := ping(path)) is None:
            return None
        return cls(path, int(answer["pid"]))

    @property
    def socket_path(self) -> Path:
        return self._path

    @property
    def pid(self) -> int | None:
        return None if self._gone else self._pid

    def alive(self) -> bool:
        return not self._gone

    def start(self) -> None:
        raise BackendUnavailable(
            f"the warm server at {self._path} stopped; start it again with `shieldops-ansible warm-server start`"
        )

    def stop(self) -> None:
        self._gone = True  # not ours to stop: we only stop using it
