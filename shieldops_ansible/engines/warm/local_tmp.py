"""The local connection's temporary directory, made and removed in Python instead of by three shell runs.

Action plugins that may transfer files (kubernetes.core's k8s and k8s_info, copy, file, stat) make a temporary
directory before they run and remove it after: on the local connection that is ``echo ~``, ``mkdir`` and
``rm -rf``, each a ``/bin/sh`` forked from a process holding Ansible and the SDKs (~4 ms each, three per task).
Here the same directory (same place, same name pattern, mode 0700) is made with ``os.mkdir`` and removed with
``shutil.rmtree``. Only for the local connection without become; every other case takes Ansible's own path.
Private ansible-core API (``ActionBase._make_tmp_path`` / ``_remove_tmp_path``), ansible-core pinned; switched
off with the inline tasks (``SHIELDOPS_WARM_INLINE=0``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

from .inline_tasks import inline_enabled

__all__ = ["install"]


def _plain_local(action: Any) -> bool:
    connection = action._connection
    return (
        inline_enabled()
        and getattr(connection, "transport", None) == "local"
        and not getattr(connection, "_remote_is_local", False)
        and not action._play_context.become
        and getattr(connection._shell, "SHELL_FAMILY", None) == "sh"
    )


def install() -> None:
    from ansible.errors import AnsibleConnectionFailure
    from ansible.plugins.action import ActionBase

    if getattr(ActionBase._make_tmp_path, "_shieldops_local", False):
        return
    original_make: Callable[..., str] = ActionBase._make_tmp_path
    original_remove: Callable[..., None] = ActionBase._remove_tmp_path

    def _make_tmp_path(self: Any, remote_user: str | None = None) -> str:
        if not _plain_local(self):
            return original_make(self, remote_user)
        shell = self._connection._shell
        # What the shell's `mkdir -p "$(echo TMP)" && mkdir "$(echo TMP/NAME)"` expands and creates.
        base = os.path.expanduser(os.path.expandvars(self.get_shell_option("remote_tmp", default="~/.ansible/tmp")))
        path = os.path.join(base, shell._generate_temp_dir_name())
        try:
            os.makedirs(base, mode=0o700, exist_ok=True)
            os.mkdir(path, mode=0o700)
        except OSError as exc:
            raise AnsibleConnectionFailure(f"Failed to create temporary directory {path}: {exc.strerror}") from None
        self._cleanup_remote_tmp = True
        tmp: str = shell.join_path(path, "")
        shell.tmpdir = tmp
        return tmp

    def _remove_tmp_path(self: Any, tmp_path: str | None, force: bool = False) -> None:
        if not _plain_local(self):
            return original_remove(self, tmp_path, force)
        shell = self._connection._shell
        if tmp_path is None and shell.tmpdir:
            tmp_path = shell.tmpdir
        if tmp_path and (force or self._should_remove_tmp_path(tmp_path)):
            shutil.rmtree(tmp_path, ignore_errors=True)  # rm -f -r
            shell.tmpdir = None
        return None

    _make_tmp_path._shieldops_local = True  # type: ignore[attr-defined]
    ActionBase._make_tmp_path = _make_tmp_path
    ActionBase._remove_tmp_path = _remove_tmp_path
