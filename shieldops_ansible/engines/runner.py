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

from ..errors import ShieldOpsError
from ..paths import playbook_path, project_dir
from .base import RunRequest, RunResult, engine_failure
from .environment import ansible_settings, base_environment, connection_environment
from .events import collect_event, published_result
from .request_file import dump_unsafe
from .secrets import FIFO_ENV, SecretChannel

__all__ = ["RunnerEngine"]
# Run by path, not imported: importing shieldops_ansible would load the whole package (and its config, models,
# signing) once per call in a process that only adds the secrets and execs.
_LAUNCHER = f"""#!{sys.executable}
import runpy
runpy.run_path({str(Path(__file__).with_name("launcher.py"))!r}, run_name="__main__")
"""


class RunnerEngine:
    def __init__(self, *, keep_artifacts_in: Path | None = None) -> None:
        # keep_artifacts_in is for tests that inspect what a run leaves on disk.
        self._keep_artifacts_in = keep_artifacts_in

    async def aclose(self) -> None:
        return None

    async def run(self, request: RunRequest) -> RunResult:
        try:
            return await self._run(request)
        except ShieldOpsError:
            raise
        except Exception as exc:  # ansible-runner or the machine failed, not the playbook
            raise engine_failure("runner", exc) from None

    async def _run(self, request: RunRequest) -> RunResult:
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
            # ansible-runner seeds the run environment from os.environ and records it on disk: replace it with an
            # allow-listed one, and start the launcher in place of ansible-playbook (its `binary` option would
            # switch ansible-runner to raw mode, without events). Credentials and proxies take the secret channel.
            env = _run_environment(runner.config.env)
            channel = SecretChannel(data_dir, connection_environment() | dict(request.secret_env))
            env[FIFO_ENV] = str(channel.path)
            runner.config.env = env
            runner.config.command = [str(launcher), *runner.config.command[1:]]
            raised: list[BaseException] = []

            def run_and_settle() -> None:
                # ansible-runner calls finished_callback only when the run got going: settle in any case, or a
                # run that raised would be awaited for ever.
                try:
                    runner.run()
                except BaseException as exc:
                    raised.append(exc)
                finally:
                    loop.call_soon_threadsafe(settle)

            thread = threading.Thread(target=run_and_settle, name="shieldops-runner", daemon=True)
            thread.start()
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                cancelled.set()
                await asyncio.to_thread(thread.join)
                _kill_stragglers(data_dir)
                raise
            await asyncio.to_thread(thread.join)
            if raised:
                raise raised[0]
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


# What ansible-runner itself sets for its event callback, artifacts and fact cache (its ANSIBLE_HOST_KEY_CHECKING
# default of False is not taken: ansible.cfg's True stands).
_RUNNER_OWN = frozenset(
    {
        "ANSIBLE_STDOUT_CALLBACK",
        "ANSIBLE_RETRY_FILES_ENABLED",
        "AWX_ISOLATED_DATA_DIR",
        "ANSIBLE_CACHE_PLUGIN",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION",
        "RUNNER_OMIT_EVENTS",
        "RUNNER_ONLY_FAILED_EVENTS",
    }
)


def _run_environment(runner_env: Mapping[str, Any]) -> dict[str, str]:
    """The run's recorded environment: the allow-listed base, ansible-runner's own variables and our Ansible
    settings; nothing else of our environment (ansible-runner copied all of it into ``runner_env``)."""
    from ansible_runner.utils import get_callback_dir

    env = base_environment()
    env |= {name: str(runner_env[name]) for name in _RUNNER_OWN if name in runner_env}
    # ansible-runner appends its callback folder to whatever our environment named: only its own.
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(get_callback_dir())
    env |= ansible_settings()
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
