"""`shieldops-ansible sandbox up|status|down`: local backends on loopback, seeded, and a config that uses them.

State lives in ``DIR/sandbox.json`` (process ids, ports, seeded resource ids), so status and down work from any
later process. Each backend runs in a session of its own and outlives the command that started it.
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
from pathlib import Path
from typing import Any

import yaml

from ..providers.aws.sandbox import seed_aws
from ..providers.kubernetes.sandbox import start_kubernetes
from ..providers.linux.sandbox import start_linux, stop_linux

__all__ = ["SandboxError", "down", "status", "up"]

_STATE = "sandbox.json"


class SandboxError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
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


def _spawn(args: list[str], log_file: Path) -> int:
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return proc.pid


def _read_state(directory: Path) -> dict[str, Any] | None:
    path = directory / _STATE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def up(directory: Path, *, log: Any = None) -> Path:
    """Start and seed every backend; write ``DIR/shieldops.yaml``; return its path."""
    directory = directory.resolve()
    current = _read_state(directory)
    if current and all(_alive(p["pid"]) for p in current["processes"].values()):
        return directory / "shieldops.yaml"
    if current:
        down(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    processes: dict[str, dict[str, Any]] = {}
    network: dict[str, list[str]] = {"netns": [], "links": []}
    try:
        port = _free_port()
        with open(directory / "logs" / "moto.log", "ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shieldops_ansible.providers.aws.moto_server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        processes["aws"] = {"pid": proc.pid, "port": port}
        endpoint = f"http://127.0.0.1:{port}"
        _wait_http(f"{endpoint}/moto-api/data.json", 30, proc)
        if log:
            log(f"aws: moto on {endpoint}")
        aws = seed_aws(endpoint, directory)
        linux = start_linux(directory)
        processes.update({f"linux/{name}": {"pid": pid} for name, pid in linux.pids.items()})
        network = {"netns": linux.netns, "links": linux.links}
        if log:
            log(f"linux: {', '.join(f'{h.name} ({h.address}:{h.port})' for h in linux.hosts)}")
        kube_pid, kubernetes = start_kubernetes(directory, directory / "logs" / "kubernetes.log", _spawn)
        processes["kubernetes"] = {"pid": kube_pid}
        if log:
            log(f"kubernetes: API server on {kubernetes['server']}")
        environments = {
            "aws": aws.environment(),
            "aws-readonly": aws.environment(role_arn=aws.readonly_role_arn),
            "linux": linux.environment(),
            "kubernetes": kubernetes,
            "kubernetes-readonly": kubernetes | {"token_file": str(directory / "kubernetes" / "readonly.token")},
        }
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
            "network": network,
            "resources": {"aws": aws.resources, "linux": {h.name: h.address for h in linux.hosts}},
            "config": str(config_path),
        }
        (directory / _STATE).write_text(json.dumps(state, indent=2))
        return config_path
    except BaseException:
        for info in processes.values():
            _stop(info["pid"])
        stop_linux({}, network["netns"], network["links"])
        raise


def status(directory: Path) -> dict[str, Any]:
    state = _read_state(directory.resolve())
    if state is None:
        return {"running": False, "backends": {}}
    backends = {name: {**info, "alive": _alive(info["pid"])} for name, info in state["processes"].items()}
    return {
        "running": all(b["alive"] for b in backends.values()),
        "backends": backends,
        "config": state["config"],
        "resources": state["resources"],
    }


def down(directory: Path) -> list[str]:
    directory = directory.resolve()
    state = _read_state(directory)
    if state is None:
        return []
    stopped = []
    for name, info in state["processes"].items():
        _stop(info["pid"])
        stopped.append(name)
    network = state.get("network") or {}
    stop_linux({}, network.get("netns", []), network.get("links", []))
    (directory / _STATE).unlink()
    return stopped


def _stop(pid: int) -> None:
    # Only the process group we started (start_new_session made the pid its group id).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
