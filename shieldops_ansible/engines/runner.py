"""The runner engine: one ansible-runner run per call, the reference path (AWX-identical events and artifacts).

Each call gets a private data dir of its own (mode 0700), removed afterwards. ansible-runner runs in its own
thread (``run_async``); its events are bridged into the event loop, and cancelling the awaiting task cancels the
run through ansible-runner's cancel callback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..paths import ansible_cfg, playbook_path, project_dir
from .base import RunRequest, RunResult
from .events import collect_event, published_result
from .request_file import dump_unsafe
from .secrets import FIFO_ENV, SecretChannel, split_secret_env

__all__ = ["RunnerEngine"]
_LAUNCHER = f"""#!{sys.executable}
from shieldops_ansible.engines.launcher import main
main()
"""


class RunnerEngine:
    def __init__(self, *, keep_artifacts_in: Path | None = None) -> None:
        # keep_artifacts_in is for tests that inspect what a run leaves on disk.
        self._keep_artifacts_in = keep_artifacts_in

    async def aclose(self) -> None:
        return None

    async def run(self, request: RunRequest) -> RunResult:
        import ansible_runner

        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        cancelled = threading.Event()
        collected: dict[str, Any] = {"stats": None, "failures": []}
        base = self._keep_artifacts_in
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        data_dir = Path(tempfile.mkdtemp(prefix="shieldops-run-", dir=base))
        channel: SecretChannel | None = None
        try:
            os.chmod(data_dir, stat.S_IRWXU)
            request_path = data_dir / "request.yml"
            request_path.write_text(dump_unsafe(request.variables))
            launcher = data_dir / "ansible-playbook"
            launcher.write_text(_LAUNCHER)
            launcher.chmod(stat.S_IRWXU)

            def on_event(event: Mapping[str, Any]) -> bool:
                collect_event(event, collected)
                if request.on_event is not None:
                    loop.call_soon_threadsafe(request.on_event, event)
                return False  # do not keep per-event files beyond ansible-runner's own

            def settle() -> None:
                if not done.done():
                    done.set_result(None)

            def on_finished(_runner: Any) -> None:
                loop.call_soon_threadsafe(settle)

            cmdline = f"-e @{request_path}" + (" --check --diff" if request.check_mode else "")
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(data_dir),
                project_dir=str(project_dir()),
                playbook=request.playbook or str(playbook_path(request.operation)),
                inventory=[str(project_dir() / "inventories" / "localhost" / "hosts.yml"), *request.inventories],
                cmdline=cmdline,
                quiet=True,
                timeout=int(request.timeout_s) if request.timeout_s else None,
                event_handler=on_event,
                finished_callback=on_finished,
                cancel_callback=cancelled.is_set,
                settings={"suppress_ansible_output": True, "suppress_output_file": True},
            )
            # ansible-runner seeds the run environment from os.environ and records it on disk: replace it with the
            # scrubbed one, and start the launcher in place of ansible-playbook (its `binary` option would switch
            # ansible-runner to raw mode, without events).
            # Secrets inherited from our own environment travel the secret channel too.
            env, inherited_secrets = split_secret_env(_run_environment(runner.config.env))
            channel = SecretChannel(data_dir, inherited_secrets | dict(request.secret_env))
            env[FIFO_ENV] = str(channel.path)
            runner.config.env = env
            runner.config.command = [str(launcher), *runner.config.command[1:]]
            thread = threading.Thread(target=runner.run, name="shieldops-runner", daemon=True)
            thread.start()
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                cancelled.set()
                await asyncio.to_thread(thread.join)
                _kill_stragglers(data_dir)
                raise
            await asyncio.to_thread(thread.join)
            status = str(runner.status)
            if status in {"timeout", "canceled"}:
                _kill_stragglers(data_dir)
            rc = int(runner.rc if runner.rc is not None else -1)
            result = published_result(collected)
            return RunResult(status=status, rc=rc, result=result, failures=list(collected["failures"]))
        finally:
            if channel is not None:
                channel.close()
            if base is None:
                shutil.rmtree(data_dir, ignore_errors=True)


def _run_environment(runner_env: Mapping[str, Any]) -> dict[str, str]:
    # ansible-runner's own variables (its callback plugin, artifact dir) are kept.
    env = {str(k): str(v) for k, v in runner_env.items()}
    env["ANSIBLE_CONFIG"] = str(ansible_cfg())
    # Keep module tracebacks in failed results: some amazon.aws modules name the API error only there, and the
    # classify_error filter needs it to tell PermissionDenied from other failures. Nothing is printed from them.
    env["ANSIBLE_DISPLAY_TRACEBACK"] = "error"
    # Ansible must not read collections installed elsewhere before ours and the bundled ones.
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return env


def _kill_stragglers(data_dir: Path) -> None:
    """Kill what is left of a stopped run.

    ansible-runner kills the process group of ansible-playbook, but ansible-core's task workers call setsid() and
    outlive it: a task still running (a pause, a wait for an instance) would go on after a cancel or a timeout.
    Every process of the run has our private data dir on its command line (its request file), so find them by that.
    """
    marker = str(data_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
