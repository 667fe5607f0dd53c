"""Where the Ansible content (playbooks, roles, collections, ansible.cfg) lives.

The content ships beside the package in the source tree; ``SHIELDOPS_PROJECT_DIR`` points elsewhere (for example
an AWX project checkout or an execution environment).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ansible_cfg", "collections_dir", "default_state_dir", "playbook_path", "project_dir", "role_path"]


def project_dir() -> Path:
    override = os.environ.get("SHIELDOPS_PROJECT_DIR")
    return Path(override).resolve() if override else Path(__file__).resolve().parent.parent


def playbook_path(operation: str) -> Path:
    return project_dir() / "playbooks" / f"{operation}.yml"


def collections_dir() -> Path:
    """The ``collections_path`` of ansible.cfg: our collection, shieldops.connectors, lives under it."""
    return project_dir() / "collections"


def role_path(role: str) -> Path:
    """The folder of a role named by full name (``namespace.collection.role``, in our collections path) or by an
    absolute path (a provider that ships its role elsewhere); Ansible accepts both as ``include_role`` names."""
    if os.path.isabs(role):
        return Path(role)
    namespace, collection, name = role.split(".")
    return collections_dir() / "ansible_collections" / namespace / collection / "roles" / name


def ansible_cfg() -> Path:
    return project_dir() / "ansible.cfg"


def default_state_dir() -> Path:
    """Where snapshots live when the config file names no state_dir. The default of the
    shieldops.connectors.operation role (defaults/main.yml) follows the same order, so a direct playbook run finds
    what the facade wrote."""
    explicit = os.environ.get("SHIELDOPS_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "shieldops"
