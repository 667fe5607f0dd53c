"""Running one of our collection's action plugins on a real Task, for unit tests of the plugins themselves."""

from __future__ import annotations

import importlib.util
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader, init_plugin_loader
from ansible.template import Templar

from shieldops_ansible.paths import project_dir

__all__ = ["run_action_plugin"]


def run_action_plugin(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Load ``plugins/action/<name>.py`` from the collection and run it with ``args`` and no task vars."""
    init_plugin_loader()
    path = project_dir() / f"collections/ansible_collections/shieldops/connectors/plugins/action/{name}.py"
    spec = importlib.util.spec_from_file_location(f"shieldops_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # A task of a module every collection path resolves; the plugins read only their arguments.
    task = Task.load({"ansible.builtin.debug": {}})
    task.args = args
    loader = DataLoader()
    connection = connection_loader.get("ansible.builtin.local", PlayContext())
    plugin = module.ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader), None)
    result: dict[str, Any] = plugin.run(task_vars={})
    return result
