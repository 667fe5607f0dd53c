# -*- coding: utf-8 -*-
"""Capture files of a host into a snapshot: one remote module run reads them, the controller stores them.

The module of the same name expands the paths and returns each file's metadata, SHA-256 and content; this action
checks every content against its checksum, writes it under `dest` (privately and atomically, see
plugin_utils/private_files.py) and returns the metadata with the stored path instead of the content, so that no
file content reaches the task result, the events or the artifacts (configuration files hold passwords).

Where the inventory names the host's Python by an absolute path, the module's own file runs with it directly: a
fixed command line, the module's source and its arguments on stdin, no AnsiballZ payload and no
ansible.module_utils import on the host (~0.2 s of a snapshot's ~0.5 s). Anything else (an interpreter to
discover, a Python that cannot run it) goes through the module as usual.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import shlex

from ansible.plugins.action import ActionBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils.private_files import write_privately

_MODULE = "shieldops.connectors.linux_file_capture"
_PLUGINS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MODULE_FILE = os.path.join(_PLUGINS, "modules", "linux_file_capture.py")
# Runs on the host: the first line of stdin is the arguments (JSON), the rest the module's source.
_DRIVER = (
    "import json, sys\n"
    "args = json.loads(sys.stdin.readline())\n"
    "scope = {'__name__': 'linux_file_capture'}\n"
    "exec(compile(sys.stdin.read(), 'linux_file_capture.py', 'exec'), scope)\n"
    "sys.stdout.write(json.dumps(scope['run'](args)))\n"
)
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+-]+")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("paths", "dest", "max_file_bytes"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        paths = self._task.args.get("paths")
        dest = self._task.args.get("dest")
        if not isinstance(paths, list) or not dest:
            return dict(result, failed=True, msg="linux_file_capture needs paths (a list) and dest")
        module_args = {"paths": paths}
        if "max_file_bytes" in self._task.args:
            module_args["max_file_bytes"] = self._task.args["max_file_bytes"]
        captured = self._capture_directly(module_args, task_vars)
        if captured is None:
            try:
                captured = self._execute_module(module_name=_MODULE, module_args=module_args, task_vars=task_vars)
            finally:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        files = captured.pop("files", None) or []
        result.update(captured)
        if result.get("failed"):
            return result
        dest = os.path.abspath(os.path.expanduser(str(dest)))
        stored_files = []
        for entry in files:
            content = entry.pop("content", None)
            entry["stored"] = None
            if entry.get("exists"):
                try:
                    entry["stored"] = self._store(dest, entry, content)
                except ValueError as error:
                    return dict(result, failed=True, msg=str(error))
            stored_files.append(entry)
        result["files"] = stored_files
        return result

    def _capture_directly(self, module_args, task_vars):
        """The module's capture run by the host's Python named in the inventory, or None to use the module."""
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to)
        interpreter = (host_vars or {}).get("ansible_python_interpreter")
        if not isinstance(interpreter, str) or not _PLAIN_PATH.fullmatch(interpreter):
            return None
        with open(_MODULE_FILE, encoding="utf-8") as handle:
            source = handle.read()
        command = f"{shlex.quote(interpreter)} -I -S -c {shlex.quote(_DRIVER)}"
        stdin = json.dumps(module_args) + "\n" + source
        answer = self._low_level_execute_command(command, sudoable=False, in_data=stdin)
        if answer.get("rc") != 0:
            return None  # the module path says what is wrong, in the module path's words
        try:
            captured = json.loads(answer.get("stdout", ""))
        except ValueError:
            return {"failed": True, "msg": "linux_file_capture: the host's answer is not JSON"}
        return captured if isinstance(captured, dict) else {"failed": True, "msg": "linux_file_capture: no answer"}

    def _store(self, dest, entry, content):
        path = entry.get("path")
        # The path names a file under dest: only a normalised absolute path may (normalised: no `..` to climb out).
        if not isinstance(path, str) or not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise ValueError(f"the host returned an unusable path: {path!r}")
        data = base64.b64decode(content or "", validate=True)
        if hashlib.sha256(data).hexdigest() != entry.get("checksum"):
            raise ValueError(f"the content of {path} does not match its checksum")
        stored = os.path.join(dest, path.lstrip("/"))
        if not self._task.check_mode:
            write_privately(stored, data)
        return stored
