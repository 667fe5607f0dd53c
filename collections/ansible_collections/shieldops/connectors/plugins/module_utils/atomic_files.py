# -*- coding: utf-8 -*-
"""Replace a file atomically: a reader sees the old content or the new, never a half-written file.

Shared by the controller (snapshot documents and the copies they point to) and by modules on a host (a restored
configuration file), hence a module_util: AnsiballZ ships it with the modules that import it.
"""
from __future__ import annotations

import os
import tempfile

__all__ = ["replace_file"]


def replace_file(path, data, mode=0o600, uid=-1, gid=-1):
    """Write bytes to a temporary file in path's folder with the given mode and owner (-1: unchanged), fsync it,
    then rename it over path. The temporary file is removed if anything fails."""
    folder, name = os.path.split(path)
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(out.fileno(), uid, gid)
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
