# -*- coding: utf-8 -*-
"""Put a snapshot's files back on a host: the controller reads and checks the stored copies, one remote module run
writes, removes and verifies them.

A stored copy that does not match its recorded checksum, or that lies outside the snapshot's own folder of copies
(`files_dir`: a document edited to name another controller file would otherwise send it to the host), fails the
task before the host is touched. The contents travel as the module's arguments (over the connection's stdin with
pipelining) and are left out of the result.
"""
from __future__ import annotations

import base64
import hashlib
import os

from ansible.plugins.action import ActionBase

_MODULE = "shieldops.connectors.linux_file_restore"
_HANDLE_KEYS = ("path", "exists", "checksum", "mode", "owner", "group")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "files_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        handles = self._task.args.get("files")
        files_dir = self._task.args.get("files_dir")
        if not isinstance(handles, list) or not files_dir:
            return dict(result, failed=True, msg="linux_file_restore needs files (the snapshot's handles) and files_dir")
        files_dir = os.path.realpath(os.path.expanduser(str(files_dir)))
        files = []
        for handle in handles:
            entry = {key: handle.get(key) for key in _HANDLE_KEYS}
            if handle.get("exists"):
                try:
                    entry["content"] = self._stored_content(handle, files_dir)
                except (OSError, ValueError) as error:
                    return dict(result, failed=True, msg=str(error))
            files.append(entry)
        try:
            restored = self._execute_module(module_name=_MODULE, module_args={"files": files}, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        restored.pop("invocation", None)  # the module's arguments: the files' contents
        result.update(restored)
        return result

    @staticmethod
    def _stored_content(handle, files_dir):
        stored = handle.get("stored")
        if not stored:
            raise ValueError(f"the snapshot has no stored copy of {handle.get('path')}")
        if os.path.commonpath([files_dir, os.path.realpath(stored)]) != files_dir:
            raise ValueError(f"the stored copy of {handle.get('path')} is not in the snapshot's folder")
        with open(stored, "rb") as copy:
            data = copy.read()
        if hashlib.sha256(data).hexdigest() != handle.get("checksum"):
            raise ValueError(f"the stored copy of {handle.get('path')} does not match the snapshot's checksum")
        return base64.b64encode(data).decode("ascii")
