"""A CLI command run by the per-user warm server instead of in the command's own process.

A command's own process would spend ~300 ms importing pydantic and the facade before its request. When a per-user
server runs (:mod:`.user_server`), the command imports only this module, sends its arguments, working folder and
environment, and prints what comes back; the facade runs in a child forked from the server, which has imported
everything already, and makes its request to that same server like any client. Nothing else changes: the facade,
its policy, audit, approvals and errors are the same code, with the command's own environment and folder.

Protocol, on the server's socket after the same peer check as a request: header ``{"cli": true}``; the child says
``{"event": "shieldops_hello"}``; the client sends ``{"argv", "cwd", "env"}`` (at most 1 MiB); the child answers
``{"event": "cli_output", "stream": "stdout"|"stderr", "text"}`` lines, ``{"event": "cli_ask", "what"}`` when an
approval needs the user (``what`` is to be approved; the client answers ``{"approve": bool}``), and last
``{"event": "cli_exit", "rc"}``.
The client closing the connection interrupts the command (Ctrl-C): the child gets SIGINT.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from queue import Queue
from typing import Any

__all__ = ["RELAYED_COMMANDS", "ask_on_terminal", "relay", "serve_relayed_command"]

# Only the six operations: the server never runs a sandbox, the demo or an MCP server for a client.
RELAYED_COMMANDS = frozenset({"health", "list", "act", "events", "snapshot", "rollback"})
_MAX_LINE = 1 << 20
_OUTPUT_PIECE = 64 << 10  # characters of output per event: even escaped, well under _MAX_LINE


def relay(argv: Sequence[str]) -> int | None:
    """Run the command in the per-user server; its exit code, or None when no server of ours can take it (then the
    caller runs it itself: nothing was sent)."""
    from ...errors import BackendUnavailable
    from .server import peer_allowed
    from .user_server import user_socket_path

    try:
        path = user_socket_path()
    except BackendUnavailable:
        return None
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(path))
            if not peer_allowed(conn, os.getuid()):
                return None
            reader = conn.makefile("rb")
            conn.sendall(b'{"cli": true}\n')
            hello = _event(reader)
            if hello is None or hello.get("event") != "shieldops_hello":
                return None  # refused, or not a server that relays: nothing ran
            request = {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)}
            conn.sendall(json.dumps(request).encode() + b"\n")
        except (OSError, ValueError):
            return None
        # Sent: from here on the command may have acted, so it is never run again here, whatever happens.
        try:
            return _answer(conn, reader)
        except KeyboardInterrupt:
            return 130  # closing the connection interrupts the command in the server
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                print(f"error: the relay to the warm server broke: {type(exc).__name__}", file=sys.stderr)
            return 1


def _answer(conn: socket.socket, reader: Any) -> int:
    while (event := _event(reader)) is not None:
        kind = event.get("event")
        if kind == "cli_output":
            stream = sys.stdout if event.get("stream") == "stdout" else sys.stderr
            stream.write(str(event.get("text", "")))
            stream.flush()
        elif kind == "cli_ask":
            conn.sendall(json.dumps({"approve": ask_on_terminal(str(event.get("what", "")))}).encode() + b"\n")
        elif kind == "cli_exit":
            rc = event.get("rc")
            return rc if isinstance(rc, int) else 1
    print("error: the warm server's command ended without an answer", file=sys.stderr)
    return 1


def ask_on_terminal(what: str) -> bool:
    """The CLI's approval: asked on the terminal; without one, nothing is approved."""
    if not sys.stdin.isatty():
        print(f"{what} needs approval and no terminal can ask", file=sys.stderr)
        return False
    return input(f"Approve {what}? [y/N] ").strip().lower() in {"y", "yes"}


def _event(reader: Any) -> dict[str, Any] | None:
    line = reader.readline(_MAX_LINE)
    if not line:
        return None
    decoded = json.loads(line)
    return decoded if isinstance(decoded, dict) else None


class _Stream:
    """A text stream whose writes travel to the client as output events."""

    def __init__(self, conn: socket.socket, name: str, lock: threading.Lock) -> None:
        self._conn, self._name, self._lock = conn, name, lock

    def write(self, text: str) -> int:
        # In pieces: a 10,000-resource listing is one print of megabytes, and the client reads bounded lines.
        for start in range(0, len(text), _OUTPUT_PIECE):
            piece = text[start : start + _OUTPUT_PIECE]
            line = json.dumps({"event": "cli_output", "stream": self._name, "text": piece}).encode() + b"\n"
            with self._lock:
                self._conn.sendall(line)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def serve_relayed_command(conn: socket.socket, socket_path: str, read_request: Any) -> None:
    """In a child forked by the server: run one relayed command (see the module's docstring), then return.

    ``read_request`` reads the client's request line (the server's bounded reader)."""
    conn.sendall(b'{"event": "shieldops_hello"}\n')
    request = read_request(conn)
    conn.settimeout(None)  # a command takes as long as it takes; the client's going away ends it (below)
    argv, cwd, env = request.get("argv"), request.get("cwd"), request.get("env")
    valid = (
        isinstance(argv, list)
        and all(isinstance(a, str) for a in argv)
        and isinstance(cwd, str)
        and isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    )
    lock = threading.Lock()
    if not valid or not argv or argv[0] not in RELAYED_COMMANDS:
        _Stream(conn, "stderr", lock).write("error: the warm server runs only the six operations' commands\n")
        conn.sendall(b'{"event": "cli_exit", "rc": 2}\n')
        return
    assert isinstance(argv, list) and isinstance(cwd, str) and isinstance(env, dict)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # The watcher interrupts the command with SIGINT, whatever the server inherited (a server started from a
    # background job or a script ignores SIGINT, and so would this child).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    answers: Queue[bool] = Queue()
    done = threading.Event()
    threading.Thread(target=_watch_client, args=(conn, answers, done), daemon=True).start()
    from ... import cli
    from .engine import attach_shared_server
    from .user_server import UserServer

    # This command's requests go to the server that forked us, like any client's.
    attach_shared_server(UserServer(Path(socket_path), os.getppid()))
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(conn, "stdout", lock), _Stream(conn, "stderr", lock)

    def ask(what: str) -> bool:
        with lock:
            conn.sendall(json.dumps({"event": "cli_ask", "what": what}).encode() + b"\n")
        return answers.get()

    rc = 1
    try:
        rc = cli.main(argv, prompt=ask)
    finally:
        done.set()
        sys.stdout, sys.stderr = out, err
        with contextlib.suppress(OSError), lock:
            conn.sendall(json.dumps({"event": "cli_exit", "rc": rc}).encode() + b"\n")


def _watch_client(conn: socket.socket, answers: Queue[bool], done: threading.Event) -> None:
    """Read the client's approval answers; when it goes away (Ctrl-C, killed) first, interrupt the command."""
    reader = conn.makefile("rb")
    try:
        while line := reader.readline(_MAX_LINE):
            with contextlib.suppress(ValueError, AttributeError):
                answers.put(bool(json.loads(line).get("approve")))
    except OSError:
        pass
    answers.put(False)
    if not done.is_set():
        os.kill(os.getpid(), signal.SIGINT)
