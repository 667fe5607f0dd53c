#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: linux_file_restore
short_description: Put files of a snapshot back on a host and verify them, in one remote task
description:
  - For each file that existed at snapshot time, writes its content atomically (a temporary file in the same
    folder, then a rename) with the recorded mode, owner and group, unless the file already matches; a file that
    did not exist at snapshot time is removed. Then reads every written file back and compares its SHA-256 with
    the snapshot's.
  - The action plugin of the same name reads the stored copies on the controller and checks them against their
    checksums before anything on the host is touched; use the module through it
    (C(shieldops.connectors.linux_file_restore)).
  - One remote task where the role ran a copy per file (two host Pythons each), a file per removed file and a
    stat per file.
options:
  files:
    description: The snapshot's file handles.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      exists:
        description: Whether the file existed at snapshot time.
        type: bool
        required: true
      checksum:
        description: SHA-256 of the content (hex), when it existed.
        type: str
      mode:
        description: Permission bits, octal digits.
        type: str
      owner:
        description: Owner's name or numeric id.
        type: str
      group:
        description: Group's name or numeric id.
        type: str
      content:
        description: The content, base64 (the action plugin fills it in from the stored copy).
        type: str
  files_dir:
    description:
      - Action plugin option. The snapshot's folder of stored copies on the controller; a handle whose stored copy
        lies outside it fails the task before the host is touched.
    type: path
    required: true
notes:
  - Supports check mode (reports what would change).
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Put the snapshot's files back
  shieldops.connectors.linux_file_restore:
    files: "{{ shieldops_snapshot.handles.files }}"
    files_dir: /var/lib/shieldops/snapshots/snap-0123456789/files
  delegate_to: web-1
"""

RETURN = r"""
files:
  description: What was done to each file.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    result:
      description: C(written), C(removed), C(unchanged) or C(absent) (did not exist then and does not now).
      type: str
"""

import base64
import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shieldops.connectors.plugins.module_utils.atomic_files import replace_file


class RestoreError(Exception):
    pass


def _id(lookup, name, what):
    if name is None:
        return -1  # os.fchown: leave as it is
    if str(name).isdigit():
        return int(name)
    try:
        return lookup(name)[2]
    except KeyError:
        raise RestoreError(f"no {what} named {name!r} on this host") from None


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path, checksum, mode, uid, gid):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return (
        stat.S_ISREG(info.st_mode)
        and stat.S_IMODE(info.st_mode) == mode
        and uid in (-1, info.st_uid)
        and gid in (-1, info.st_gid)
        and _sha256_of(path) == checksum
    )


def restore_one(entry, check_mode):
    path = entry["path"]
    if not os.path.isabs(path):
        raise RestoreError(f"{path} is not an absolute path")
    if not entry["exists"]:
        if not os.path.lexists(path):
            return "absent"
        if os.path.isdir(path) and not os.path.islink(path):
            raise RestoreError(f"{path} did not exist at snapshot time and is now a directory; not removing it")
        if not check_mode:
            os.unlink(path)
        return "removed"
    data = base64.b64decode(entry.get("content") or "", validate=True)
    if hashlib.sha256(data).hexdigest() != entry.get("checksum"):
        raise RestoreError(f"the content given for {path} does not match the snapshot's checksum")
    mode = int(entry.get("mode") or "0644", 8)
    uid = _id(pwd.getpwnam, entry.get("owner"), "user")
    gid = _id(grp.getgrnam, entry.get("group"), "group")
    if _matches(path, entry["checksum"], mode, uid, gid):
        return "unchanged"
    if not check_mode:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        replace_file(path, data, mode=mode, uid=uid, gid=gid)
        if _sha256_of(path) != entry["checksum"]:
            raise RestoreError(f"restored {path} does not match the snapshot's checksum")
    return "written"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    path=dict(type="path", required=True),
                    exists=dict(type="bool", required=True),
                    checksum=dict(type="str"),
                    mode=dict(type="str"),
                    owner=dict(type="str"),
                    group=dict(type="str"),
                    content=dict(type="str", no_log=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    done = []
    for entry in module.params["files"]:
        try:
            done.append(dict(path=entry["path"], result=restore_one(entry, module.check_mode)))
        except (RestoreError, OSError, ValueError) as error:
            module.fail_json(msg=f"{entry['path']}: {error}", files=done)
    module.exit_json(changed=any(d["result"] in ("written", "removed") for d in done), files=done)


if __name__ == "__main__":
    main()
