"""The playbooks' policy_check action plugin, loaded from the collection and run on a real Task."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader, init_plugin_loader
from ansible.template import Templar

from shieldops_ansible.paths import project_dir


def _run(args: dict[str, Any]) -> dict[str, Any]:
    init_plugin_loader()
    path = project_dir() / "collections/ansible_collections/shieldops/connectors/plugins/action/policy_check.py"
    spec = importlib.util.spec_from_file_location("shieldops_policy_check", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # A task of a module every collection path resolves; the plugin reads only its arguments.
    task = Task.load({"ansible.builtin.debug": {}})
    task.args = args
    loader = DataLoader()
    connection = connection_loader.get("ansible.builtin.local", PlayContext())
    plugin = module.ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader), None)
    result: dict[str, Any] = plugin.run(task_vars={})
    return result


def test_without_the_package_or_a_config_the_count_is_answered_as_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The roles read `touches` after the reach check; with no package to count with and no policy, it is null,
    not missing."""
    monkeypatch.chdir(tmp_path)  # no ./shieldops.yaml here
    monkeypatch.delenv("SHIELDOPS_CONFIG", raising=False)
    for name in ("shieldops_ansible.config", "shieldops_ansible.errors", "shieldops_ansible.policy"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of these now fails, as without the package
    action = {"type": "restart", "resource_id": "deployment/shop/web", "parameters": {}}
    result = _run({"action": action, "environment": "prod", "running_units": 3})
    assert not result.get("failed") and result["policy"] is None and result["touches"] is None
