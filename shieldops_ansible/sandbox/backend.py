"""What a provider's sandbox backend is to `shieldops-ansible sandbox`, and the helpers backends share.

A provider that has a local backend returns one from ``Provider.sandbox_backend()``; the manager
(:mod:`.manager`) finds them through the provider registry and names none of them. A backend starts its
processes, each in a session of its own (:func:`spawn`) so that the manager can end its whole process group, seeds
them, and returns what the manager records: the processes, the environments of ``DIR/shieldops.yaml``, the seeded
resource ids, what its ``stop`` needs later, and the :class:`Samples` of the environments it names in
``sampled_environments``: what cross-provider tests need of an environment, as data, so that they name no provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict, runtime_checkable

from ..engines.processes import descendants, stat_fields

__all__ = [
    "MAIN_PROCESS",
    "ActionSample",
    "Samples",
    "SandboxBackend",
    "SandboxError",
    "StartedBackend",
    "alive",
    "announce",
    "free_port",
    "spawn",
    "start_and_wait",
    "stop_process_groups",
    "wait_http",
]

# The key of a backend's one main process in StartedBackend.processes: recorded under the backend's own name.
MAIN_PROCESS = ""


class SandboxError(RuntimeError):
    pass


class ActionSample(TypedDict):
    """An action request of the environment's provider, as the fields of ``Action`` (no dry_run, no reason)."""

    type: str
    resource_id: str
    parameters: dict[str, Any]


class _RequiredSamples(TypedDict):
    """What the cross-provider tests need of one environment a backend writes (``DIR/sandbox.json``, under
    ``samples[<environment>]``). Each id is one the environment accepts; each action one its policy allows."""

    # A seeded instance and a seeded service that exist: ``service`` is of a common type other than instance
    # (service where the provider has one; Azure's is a function app).
    instance: str
    service: str
    # An id of the provider's grammar that names nothing.
    missing: str
    # An action on ``instance``, run only with dry_run.
    dry_run_action: ActionSample
    # A real action, reversible (a snapshot first); it may change the resource.
    live_action: ActionSample
    # A real action that leaves the resource as it found it (the same count, a restart): a test may run it, and
    # roll it back, again and again.
    repeatable_action: ActionSample
    # Where the environment's secrets are: names of ``credentials_env``'s variables whose values are secrets, and
    # files the backend wrote (paths relative to the sandbox's folder) whose whole content, stripped, is one.
    secret_env: list[str]
    secret_files: list[str]


class Samples(_RequiredSamples, total=False):
    # Files the backend keeps writing, each of whose lines is a secret (access tokens a fake identity service
    # minted for runs: a provider whose runs authenticate themselves hands them nothing we could name).
    secret_line_files: list[str]


@dataclass
class StartedBackend:
    """What a started backend hands the manager (every value JSON-able: it is kept in ``DIR/sandbox.json``)."""

    # Name -> {"pid": int, ...}: each started by spawn(), a process group of its own that the manager ends at
    # `down`. Recorded as "<backend>/<name>", or "<backend>" for MAIN_PROCESS.
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Environment name -> its entry in DIR/shieldops.yaml; a name two backends give is an error.
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The seeded resource ids, recorded as state["resources"][<backend>] (tests arrange and look by them); None: none.
    resources: Any = None
    # What stop() needs besides the processes: top-level keys of the state file, which stop() is given back.
    state: dict[str, Any] = field(default_factory=dict)
    # Environment name -> its samples: exactly the backend's sampled_environments, each one of ``environments``.
    samples: dict[str, Samples] = field(default_factory=dict)


@runtime_checkable
class SandboxBackend(Protocol):
    name: str

    @property
    def sampled_environments(self) -> tuple[str, ...]:
        """The environments whose Samples start() returns, known without starting (tests parametrize by them): a
        provider's main environments, not their read-only twins. A class attribute does."""
        ...

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        """Start and seed; return when ready. On failure, end what it started and raise.

        ``directory`` is the sandbox's folder; ``directory / "logs"`` exists. ``log`` takes one progress line."""
        ...

    def stop(self, state: Mapping[str, Any]) -> None:
        """Undo what the processes' end does not (their process groups are ended before this is called).

        ``state`` holds the keys its start saved in StartedBackend.state, or lacks them (nothing to undo)."""
        ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in a session of its own (its pid is its process group's id), output appended to ``log_file``."""
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def announce(ready_file: Path, document: Mapping[str, Any]) -> None:
    """Say, from a backend's own process, that it is ready and where (its ports): ``start_and_wait`` polls for the
    file and reads it as soon as it exists, so it is written aside and renamed into place, never seen empty."""
    pending = ready_file.with_name(ready_file.name + ".pending")
    pending.write_text(json.dumps(dict(document)))
    pending.replace(ready_file)


def start_and_wait(
    module: str, directory: Path, ready_file: Path, what: str, log_file: Path, timeout_s: float = 30
) -> tuple[int, dict[str, Any]]:
    """Run ``python -m module DIRECTORY`` (spawn()); wait for what it announces in ``ready_file``; return its pid and
    that document. On failure, end it and raise, naming ``what`` and the log."""
    ready_file.unlink(missing_ok=True)
    proc = spawn([sys.executable, "-m", module, str(directory)], log_file)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready_file.exists():
            if proc.poll() is not None:
                raise SandboxError(f"{what} exited with code {proc.returncode}; see {log_file}")
            if time.monotonic() > deadline:
                raise SandboxError(f"{what} did not start; see {log_file}")
            time.sleep(0.05)
        document: dict[str, Any] = json.loads(ready_file.read_text())
    except BaseException:
        stop_process_groups([proc.pid])
        raise
    return proc.pid, document


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``url`` answers; fail early if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(f"backend exited with code {proc.returncode} before it was ready ({url})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise SandboxError(f"backend not ready after {timeout_s:.0f} s: {url}")


def stop_process_groups(pids: Iterable[int], timeout_s: float = 5) -> None:
    """End the process groups that spawn() started: SIGTERM, then SIGKILL to those left after ``timeout_s``; then
    the processes under them that had left their group (an sshd runs each session in a session of its own, which
    would otherwise outlive the sandbox, reparented to init), each only if it is still the process it was.

    Only the groups we started: start_new_session made each pid its group's id."""
    pids = list(pids)
    strays = [(child, _started_at(child)) for pid in pids for child in descendants(pid) if _group_of(child) != pid]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while time.monotonic() < deadline and alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    for child, started_at in strays:
        if started_at is not None and _started_at(child) == started_at:  # not a pid reused since
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def _group_of(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[2]) if fields else None


def _started_at(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None
