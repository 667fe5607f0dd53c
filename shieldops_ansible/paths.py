"""Where the Ansible content (playbooks, roles, collections, ansible.cfg) lives.

The content ships beside the package in the source tree; ``SHIELDOPS_PROJECT_DIR`` points elsewhere (for example
an AWX project checkout or an execution environment).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ansible_cfg", "default_state_dir", "playbook_path", "project_dir", "role_dir"]


def project_dir() -> Path:
    override = os.environ.get("SHIELDOPS_PROJECT_DIR")
    return Path(override).resolve() if override else Path(__file__).resolve().parent.parent


def playbook_path(operation: str) -> Path:
    return project_dir() / "playbooks" / f"{operation}.yml"


def role_dir(provider: str) -> Path:
    return project_dir() / "roles" / provider


def ansible_cfg() -> Path:
    return project_dir() / "ansible.cfg"


def default_state_dir() -> Path:
    """Where snapshots live when the config file names no state_dir. The roles' default
    (roles/operation/defaults/main.yml) follows the same order, so a direct playbook run finds what the facade
    wrote."""
    explicit = os.environ.get("SHIELDOPS_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "shieldops"
