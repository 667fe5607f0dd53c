# -*- coding: utf-8 -*-
"""Stream the run's events, one JSON object per line, to the file descriptor the warm engine hands over.

The shapes follow ansible-runner's events (`event`, `event_data` with `task`, `host`, `res`; the final
`playbook_on_stats` with `artifact_data` holding set_stats data), so the facade reads both engines the same way.
"""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: warm_events
type: stdout
short_description: Events of a run as JSON lines on a file descriptor (the shieldops warm engine)
description:
  - Writes one JSON object per event to the file descriptor named by the environment variable
    SHIELDOPS_WARM_EVENT_FD. Used by the warm engine only; prints nothing.
"""


_MAX_OK_RES = 256 * 1024


def _plain(value):
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "shieldops.connectors.warm_events"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fd = os.environ.get("SHIELDOPS_WARM_EVENT_FD")
        self._fd = int(fd) if fd else None

    def _emit(self, event, **data):
        if self._fd is None:
            return
        line = json.dumps({"event": event, "event_data": data}, default=_plain, separators=(",", ":")) + "\n"
        payload = line.encode("utf-8", "replace")
        while payload:
            written = os.write(self._fd, payload)
            payload = payload[written:]

    @staticmethod
    def _res(result):
        res = result._result
        if isinstance(res, dict) and res.get("_ansible_no_log"):
            return {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified"}
        return res

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit("playbook_on_task_start", task=task.get_name(), task_action=task.action, task_uuid=task._uuid)

    def v2_runner_on_ok(self, result, **kwargs):
        res = self._res(result)
        size = len(json.dumps(res, default=_plain))
        if size > _MAX_OK_RES:
            # A listing of thousands of resources passes through several tasks: the event stream carries a
            # summary of such results (the published result travels once, in playbook_on_stats).
            res = {"changed": bool(res.get("changed")), "truncated": "%d bytes" % size}
        self._emit("runner_on_ok", host=result._host.get_name(), task=result._task.get_name(),
                   task_action=result._task.action, res=res)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._emit("runner_on_failed", host=result._host.get_name(), task=result._task.get_name(),
                   task_action=result._task.action, res=self._res(result), ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._emit("runner_on_unreachable", host=result._host.get_name(), task=result._task.get_name(),
                   res=self._res(result))

    def v2_runner_on_skipped(self, result):
        self._emit("runner_on_skipped", host=result._host.get_name(), task=result._task.get_name())

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        self._emit("playbook_on_stats", artifact_data=dict(stats.custom.get("_run", {})),
                   failures={h: stats.failures.get(h, 0) for h in hosts},
                   dark={h: stats.dark.get(h, 0) for h in hosts},
                   ok={h: stats.ok.get(h, 0) for h in hosts})
