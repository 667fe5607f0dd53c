"""The playbooks' policy_check action plugin, loaded from the collection and run on a real Task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.action_plugins import run_action_plugin


def _run(args: dict[str, Any]) -> dict[str, Any]:
    return run_action_plugin("policy_check", args)


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
