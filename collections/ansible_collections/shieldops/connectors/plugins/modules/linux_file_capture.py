#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: linux_file_capture
short_description: Read files on a host for a snapshot (metadata, SHA-256 and content), in one remote task
description:
  - Expands each given path (a directory into the regular files below it, recursively, not following symbolic
    links and skipping names that start with a dot) and reads every file's SHA-256, mode, owner, group and
    content. A path that does not exist is reported with C(exists=false), so that a rollback can remove a file
    created after the snapshot.
  - An explicitly named symbolic link is read as the file it points to.
  - The action plugin of the same name stores the contents on the controller and returns no content; use the
    module through it (C(shieldops.connectors.linux_file_capture)).
  - One remote task where the role ran a stat, a find, a checksum and a fetch per file (every remote task is an
    SSH session and a Python start on the host).
options:
  paths:
    description: Absolute paths of files or directories on the host.
    type: list
    elements: path
    required: true
  max_file_bytes:
    description: The largest file read; a larger one fails the task (a snapshot is for configuration, not data).
    type: int
    default: 4194304
  dest:
    description:
      - Action plugin option. The controller folder the contents are stored in, each file under its absolute path
        (C(DEST/etc/app.conf)), mode 0600 in 0700 folders, written atomically. Nothing is written in check mode.
    type: path
    required: true
notes:
  - Reads only; supports check mode.
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Capture a service's configuration
  shieldops.connectors.linux_file_capture:
    paths: [/etc/myapp]
    dest: /var/lib/shieldops/snapshots/snap-0123456789/files/web-1
  delegate_to: web-1
  register: captured
"""

RETURN = r"""
files:
  description: One entry per file, sorted by path, explicitly named paths first.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file's absolute path.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    checksum:
      description: SHA-256 of the content (hex).
      type: str
    mode:
      description: Permission bits, four octal digits.
      type: str
    owner:
      description: Owner's name (the numeric id when it has none).
      type: str
    group:
      description: Group's name (the numeric id when it has none).
      type: str
    stored:
      description: Where the action plugin stored the content on the controller (null when it does not exist).
      type: str
"""

import base64
import grp
import hashlib
import os
import pwd
import stat

# Standard library only at the top: the action plugin of the same name runs this file's capture() with the host's
# python3 directly (no AnsiballZ payload, no ansible.module_utils import: ~0.2 s less per snapshot) when it can;
# main(), the module path, imports AnsibleModule itself.

DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024


class CaptureError(Exception):
    pass


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _expand(path):
    """The path itself, or the regular files below it when it is a directory (no links followed, no dot names)."""
    if not os.path.lexists(path):
        return [path]
    if not os.path.isdir(path):
        return [path]
    found = []
    for root, dirs, files in os.walk(path, followlinks=False, onerror=_raise):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = os.path.join(root, name)
            if not name.startswith(".") and stat.S_ISREG(os.lstat(full).st_mode):
                found.append(full)
    return found


def _raise(error):
    raise CaptureError(f"cannot read {error.filename}: {error.strerror}")


def _read(path, max_file_bytes):
    if not os.path.lexists(path):
        return dict(path=path, exists=False, checksum=None, mode=None, owner=None, group=None)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; fstat then refuses it.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise CaptureError(f"{path} is not a regular file or a directory")
            if info.st_size > max_file_bytes:
                raise CaptureError(f"{path} is {info.st_size} bytes, more than max_file_bytes ({max_file_bytes})")
            # Checksum and content from the same read: what is stored is what was hashed.
            data = handle.read(max_file_bytes + 1)
    except OSError as error:
        raise CaptureError(f"cannot read {path}: {error.strerror}") from error
    if len(data) > max_file_bytes:
        raise CaptureError(f"{path} grew beyond max_file_bytes ({max_file_bytes}) while being read")
    return dict(
        path=path,
        exists=True,
        checksum=hashlib.sha256(data).hexdigest(),
        mode="%04o" % stat.S_IMODE(info.st_mode),
        owner=_name(pwd.getpwuid, info.st_uid),
        group=_name(grp.getgrgid, info.st_gid),
        content=base64.b64encode(data).decode("ascii"),
    )


def capture(paths, max_file_bytes):
    seen = set()
    files = []
    for path in paths:
        if not os.path.isabs(path):
            raise CaptureError(f"{path} is not an absolute path")
        for found in _expand(os.path.normpath(path)):
            if found not in seen:
                seen.add(found)
                files.append(_read(found, max_file_bytes))
    return files


def run(args):
    """The module's work on arguments as its argument spec would give them (paths expanded as type=path expands
    them): {"files": [...]}, or {"failed": True, "msg": ...}."""
    paths = [os.path.expanduser(os.path.expandvars(str(path))) for path in args["paths"]]
    try:
        return {"files": capture(paths, int(args.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES)))}
    except CaptureError as error:
        return {"failed": True, "msg": str(error)}


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            max_file_bytes=dict(type="int", default=DEFAULT_MAX_FILE_BYTES),
        ),
        supports_check_mode=True,
    )
    try:
        files = capture(module.params["paths"], module.params["max_file_bytes"])
    except CaptureError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, files=files)


if __name__ == "__main__":
    main()
