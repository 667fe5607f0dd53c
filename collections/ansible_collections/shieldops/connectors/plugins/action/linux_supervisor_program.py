# -*- coding: utf-8 -*-
"""Start, stop or restart one supervisord program: the module of the same name, its code run with the host's
Python directly where the inventory names it (plugin_utils/direct_module.py), else as a module."""
from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils.direct_module import run_module


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "state", "config"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = {key: self._task.args.get(key) for key in ("name", "state", "config")}
        if not all(isinstance(value, str) and value for value in args.values()):
            return dict(result, failed=True, msg="linux_supervisor_program needs name, state and config")
        if args["state"] not in ("started", "stopped", "restarted"):
            return dict(result, failed=True, msg=f"linux_supervisor_program: no such state {args['state']!r}")
        answer = run_module(self, self._low_level_execute_command, "linux_supervisor_program", args, task_vars)
        result.update(answer)
        return result
