"""`shieldops-ansible sandbox up|status|down`: local backends on loopback, seeded, and a config that uses them.

The backends are found, not listed: every provider whose ``sandbox_backend()`` returns one (see :mod:`.backend`).
State lives in ``DIR/sandbox.json`` (process ids, ports, seeded resource ids, what each backend's stop needs, the
samples of the environments that have them), so status and down work from any later process. Each backend process
runs in a session of its own and outlives the command that started it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..providers import PROVIDER_TYPES
from .backend import MAIN_PROCESS, SandboxBackend, SandboxError, StartedBackend, alive, stop_process_groups

__all__ = ["SandboxError", "down", "found_backends", "status", "up"]

_STATE = "sandbox.json"
# Keys of the state file that are the manager's own; a backend's saved state takes others.
_OWN_KEYS = frozenset({"processes", "resources", "samples", "config"})


def found_backends() -> list[SandboxBackend]:
    """Every registered provider's sandbox backend, in the order of their names."""
    found = [backend for provider in PROVIDER_TYPES.values() if (backend := provider.sandbox_backend()) is not None]
    return sorted(found, key=lambda backend: backend.name)


def _read_state(directory: Path) -> dict[str, Any] | None:
    path = directory / _STATE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def up(
    directory: Path,
    *,
    log: Callable[[str], None] | None = None,
    backends: Sequence[SandboxBackend] | None = None,
) -> Path:
    """Start and seed every backend (``backends``, default all found); write ``DIR/shieldops.yaml``; return its path."""
    directory = directory.resolve()
    chosen = _chosen(backends)
    current = _read_state(directory)
    if current and all(alive(p["pid"]) for p in current["processes"].values()):
        return directory / "shieldops.yaml"
    if current:
        down(directory, backends=chosen)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    say = log or _quiet
    started: list[tuple[SandboxBackend, StartedBackend]] = []
    processes: dict[str, dict[str, Any]] = {}
    environments: dict[str, dict[str, Any]] = {}
    resources: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    saved: dict[str, Any] = {}
    try:
        for backend in chosen:
            result = backend.start(directory, say)
            started.append((backend, result))
            for sub, info in result.processes.items():
                processes[backend.name if sub == MAIN_PROCESS else f"{backend.name}/{sub}"] = info
            for name, entry in result.environments.items():
                if name in environments:
                    raise SandboxError(f"sandbox backend {backend.name!r} gives environment {name!r} a second time")
                environments[name] = entry
            if result.resources is not None:
                resources[backend.name] = result.resources
            samples |= _samples(backend, result)
            for key, value in result.state.items():
                if key in _OWN_KEYS or key in saved:
                    raise SandboxError(f"sandbox backend {backend.name!r} saves state key {key!r} another has")
                saved[key] = value
        # The snapshot key outside the state directory, and inside the sandbox: tests never touch ~/.config.
        config = {
            "state_dir": str(directory / "state"),
            "snapshot_key_file": str(directory / "keys" / "snapshot.key"),
            "environments": environments,
        }
        config_path = directory / "shieldops.yaml"
        config_path.write_text(
            "# Written by `shieldops-ansible sandbox up`; every endpoint is on loopback.\n"
            + yaml.safe_dump(config, sort_keys=False)
        )
        state = {
            "processes": processes,
            **saved,
            "resources": resources,
            "samples": samples,
            "config": str(config_path),
        }
        (directory / _STATE).write_text(json.dumps(state, indent=2))
        return config_path
    except BaseException:
        stop_process_groups(info["pid"] for _, result in started for info in result.processes.values())
        for backend, result in started:
            with contextlib.suppress(Exception):  # what failed first is what up reports
                backend.stop(result.state)
        raise


def status(directory: Path) -> dict[str, Any]:
    state = _read_state(directory.resolve())
    if state is None:
        return {"running": False, "backends": {}}
    procs = {name: {**info, "alive": alive(info["pid"])} for name, info in state["processes"].items()}
    return {
        "running": all(b["alive"] for b in procs.values()),
        "backends": procs,
        "config": state["config"],
        "resources": state["resources"],
    }


def down(directory: Path, *, backends: Sequence[SandboxBackend] | None = None) -> list[str]:
    """End the processes ``DIR/sandbox.json`` names, then let each backend (default all found) undo the rest."""
    directory = directory.resolve()
    state = _read_state(directory)
    if state is None:
        return []
    stop_process_groups(info["pid"] for info in state["processes"].values())
    failures: list[BaseException] = []
    for backend in _chosen(backends):
        try:
            backend.stop(state)
        except Exception as exc:  # the others still get to undo theirs
            failures.append(exc)
    if failures:
        raise failures[0]
    (directory / _STATE).unlink()
    return list(state["processes"])


def _samples(backend: SandboxBackend, result: StartedBackend) -> dict[str, Any]:
    """The backend's samples, checked: one for each environment it declares sampled, each one it gives."""
    declared = set(backend.sampled_environments)
    if set(result.samples) != declared or not declared <= set(result.environments):
        raise SandboxError(
            f"sandbox backend {backend.name!r} declares samples of {sorted(declared)}, gives samples of "
            f"{sorted(result.samples)} and environments {sorted(result.environments)}"
        )
    return dict(result.samples)


def _chosen(given: Sequence[SandboxBackend] | None) -> list[SandboxBackend]:
    chosen = found_backends() if given is None else list(given)
    names = [backend.name for backend in chosen]
    for name in names:
        if names.count(name) > 1:
            raise SandboxError(f"two sandbox backends named {name!r}")
    return chosen


def _quiet(message: str) -> None:
    pass
