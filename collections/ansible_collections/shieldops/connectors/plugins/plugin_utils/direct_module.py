# -*- coding: utf-8 -*-
"""Run one of our modules' own code with the host's Python directly, for the action plugins of our modules whose
code needs only the standard library on the host (linux_file_capture, linux_supervisor_program).

A module task starts the host's Python on an AnsiballZ payload and imports ansible.module_utils.basic: ~0.2 s on
the sandbox hosts before the module does anything. Here the command line is fixed text (the interpreter the
inventory names, quoted whole, and DRIVER); the arguments (JSON, first line) and the module's source go on stdin,
never on a command line. The module file defines run(args) -> dict, and main() for the module path; its top level
imports the standard library only. The caller passes the action's low-level execute method, so that the action
itself says it runs a program (tests/unit/test_command_lines.py reads the sources).
"""
from __future__ import annotations

import json
import os
import re
import shlex

__all__ = ["DRIVER", "host_python", "module_file", "run_directly", "run_module"]

DRIVER = (
    "import json, sys\n"
    "args = json.loads(sys.stdin.readline())\n"
    "scope = {'__name__': 'shieldops_direct_module'}\n"
    "exec(compile(sys.stdin.read(), 'shieldops_direct_module', 'exec'), scope)\n"
    "sys.stdout.write(json.dumps(scope['run'](args)))\n"
)
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+-]+")
_MODULES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "modules")


def module_file(name):
    return os.path.join(_MODULES, name + ".py")


def host_python(task, task_vars):
    """The Python the inventory names for the host the task runs on, when it is a plain absolute path; else None
    (interpreter discovery is the module path's)."""
    host_vars = task_vars
    if task.delegate_to:
        host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(task.delegate_to)
    interpreter = (host_vars or {}).get("ansible_python_interpreter")
    return interpreter if isinstance(interpreter, str) and _PLAIN_PATH.fullmatch(interpreter) else None


def run_directly(execute, interpreter, name, args):
    """run(args) of module `name` by `interpreter` through `execute` (an action's low-level execute method); None
    when that Python could not run it (the module path then says what is wrong, in its own words)."""
    with open(module_file(name), encoding="utf-8") as handle:
        source = handle.read()
    command = f"{shlex.quote(interpreter)} -I -S -c {shlex.quote(DRIVER)}"
    answer = execute(command, sudoable=False, in_data=json.dumps(args) + "\n" + source)
    if answer.get("rc") != 0:
        return None
    try:
        result = json.loads(answer.get("stdout", ""))
    except ValueError:
        return {"failed": True, "msg": f"{name}: the host's answer is not JSON"}
    return result if isinstance(result, dict) else {"failed": True, "msg": f"{name}: no answer"}


def run_module(action, execute, name, args, task_vars):
    """Our module `name` for `action` (an ActionBase): its code run directly by the host's Python the inventory
    names (run() also gets _check_mode), else as a module through the action, its temporary folder removed."""
    interpreter = host_python(action._task, task_vars)
    if interpreter is not None:
        direct = dict(args, _check_mode=bool(action._task.check_mode))
        answer = run_directly(execute, interpreter, name, direct)
        if answer is not None:
            return answer
    try:
        return action._execute_module(module_name=f"shieldops.connectors.{name}", module_args=args, task_vars=task_vars)
    finally:
        action._remove_tmp_path(action._connection._shell.tmpdir)
