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
import os
import posixpath

from ansible.plugins.action import ActionBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils.direct_module import run_module
from ansible_collections.shieldops.connectors.plugins.plugin_utils.private_files import write_privately


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
        captured = run_module(self, self._low_level_execute_command, "linux_file_capture", module_args, task_vars)
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
