# -*- coding: utf-8 -*-
"""Controller-side writes into the state directory: private (0600 files in 0700 folders) and atomic.

Snapshot documents and the file copies they point to are what a rollback reads later, from any process: a reader
must see the old file or the new one, never a half-written one, and nothing else on the machine may read them
(a configuration file may hold a password).
"""
from __future__ import annotations

import os

from ansible_collections.shieldops.connectors.plugins.module_utils.atomic_files import replace_file

__all__ = ["make_private_folder", "write_privately"]


def make_private_folder(folder):
    """Create the folder and its missing parents with mode 0700; make the folder itself 0700 if it existed."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)


def write_privately(path, data):
    """Write bytes to path atomically with mode 0600, in a 0700 folder."""
    make_private_folder(os.path.dirname(path))
    replace_file(path, data, mode=0o600)
