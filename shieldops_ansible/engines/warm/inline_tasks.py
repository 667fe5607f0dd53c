"""Run localhost tasks in the request's own process instead of a forked task worker.

Ansible forks a worker process per task: in a process that has imported the SDKs, that fork and the worker's
start cost ~25 ms, more than most of our tasks take (a set_fact, an include, a when). The warm engine's playbooks
run on ``localhost`` with the local connection, one host at a time, where a worker buys no parallelism. For those
tasks the strategy here runs the very same ``TaskExecutor`` on a copy of the task in the request's process and
sends its result through the same results queue a worker uses.
Modules still get a process of their own (see :mod:`.in_worker`), so module state never reaches the controller.

Remote hosts (the Linux provider's SSH hosts) and delegated tasks keep Ansible's workers. Private ansible-core
API (``StrategyBase._queue_task`` and the task result classes): the ansible-core range is pinned and the parity
tests run every operation both ways.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["inline_enabled", "install"]

_ENV = "SHIELDOPS_WARM_INLINE"  # "0" keeps Ansible's workers for every task


def inline_enabled() -> bool:
    return os.environ.get(_ENV, "1") != "0"


def _eligible(host: Any, task: Any, task_vars: dict[str, Any]) -> bool:
    return (
        inline_enabled()
        and host.name == "localhost"
        and task_vars.get("ansible_connection") == "local"
        and not task.delegate_to
        and not task.async_val
    )


def install() -> None:
    from ansible._internal import _task
    from ansible.executor.task_executor import TaskExecutor
    from ansible.executor.task_result import _RawTaskResult
    from ansible.plugins import loader as plugin_loader
    from ansible.plugins.strategy import StrategyBase

    original: Callable[..., None] = StrategyBase._queue_task
    if getattr(original, "_shieldops_inline", False):
        return

    def _queue_task(self: Any, host: Any, task: Any, task_vars: dict[str, Any], play_context: Any) -> None:
        if not _eligible(host, task, task_vars):
            original(self, host, task, task_vars, play_context)
            return
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        # TaskExecutor post-validates its task in place (a worker does that to its forked copy): run a copy. The
        # parent blocks are only read, so the copy shares them, as the strategy's own result handling does.
        own_task = task.copy(exclude_parent=True, exclude_tasks=True)
        own_task._parent = task._parent
        with _task.TaskContext(own_task):
            executed = TaskExecutor(
                host,
                own_task,
                task_vars,
                play_context,
                self._loader,
                plugin_loader.get_plugin_loader_namespace(),
                self._final_q,
                self._variable_manager,
            ).run()
        # Through the results queue, as a worker's result travels: after the loop items' callbacks that the
        # executor queued (the strategy forgets the task once its result is processed), and as a copy.
        self._final_q.send_task_result(
            _RawTaskResult(host=host, task=own_task, return_data=executed, task_fields=own_task.dump_attrs())
        )
        self._pending_results += 1

    _queue_task._shieldops_inline = True  # type: ignore[attr-defined]
    StrategyBase._queue_task = _queue_task
