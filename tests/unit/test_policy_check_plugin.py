"""The playbooks' policy_check action plugin, loaded from the collection and run on a real Task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible.snapshots import SnapshotStore, signing
from tests.action_plugins import run_action_plugin
from tests.support import offline_config


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


RESTART = {"type": "restart", "resource_id": "deployment/shop/web", "parameters": {}}


def _config(tmp_path: Path, policy: str) -> Path:
    path = offline_config(tmp_path, f"  kube:\n    provider: aws\n    region: eu-west-1\n    policy: {policy}\n")
    return path


def test_a_real_action_is_refused_when_no_policy_can_be_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fail closed: without a config file, or without the package, a real action is refused saying what to set;
    its dry run (or check mode) is not."""
    monkeypatch.chdir(tmp_path)  # no ./shieldops.yaml here
    monkeypatch.delenv("SHIELDOPS_CONFIG", raising=False)
    refused = _run({"action": RESTART, "environment": "kube"})
    assert refused["failed"] and "no ShieldOps config file" in refused["msg"] and "shieldops_config" in refused["msg"]
    assert not _run({"action": {**RESTART, "dry_run": True}, "environment": "kube"}).get("failed")
    config = _config(tmp_path, "{}")
    assert not _run({"action": RESTART, "environment": "kube", "config": str(config)}).get("failed")
    for name in ("shieldops_ansible.config", "shieldops_ansible.errors", "shieldops_ansible.policy"):
        monkeypatch.setitem(sys.modules, name, None)  # as where the package is not installed
    without = _run({"action": RESTART, "environment": "kube", "config": str(config)})
    assert without["failed"] and "package is not installed" in without["msg"]
    assert not _run({"action": {**RESTART, "dry_run": True}, "environment": "kube"}).get("failed")


def test_an_approval_counts_only_as_the_facades_signed_grant(tmp_path: Path) -> None:
    config = _config(tmp_path, "{require_approval: [restart]}")
    store = SnapshotStore(tmp_path / "state", tmp_path / "keys" / "snapshot.key")
    args = {"action": RESTART, "environment": "kube", "config": str(config)}
    assert "needs approval" in _run(args)["msg"]
    granted = store.grant("kube", RESTART, approved_by="the approver given to connect()")
    assert not _run({**args, "grant": granted}).get("failed")
    # An extra var claiming one, a grant for another action or environment, an edited or expired one: refused.
    forged = {**granted, "approved_by": "mallory"}
    other = store.grant("kube", {**RESTART, "type": "stop"}, approved_by="x")
    elsewhere = store.grant("prod", RESTART, approved_by="x")
    unsigned = {"kind": "facade_grant", "approved_by": "x"}
    expired = signing().sign_grant(signing().load_key(str(store.key_file)), "kube", RESTART, approved_by="x", ttl_s=-1)
    for bad, why in [
        (forged, "signature"),
        (other, "another action"),
        (elsewhere, "another action"),
        (unsigned, "not a grant"),
        (expired, "expired"),
    ]:
        result = _run({**args, "grant": bad})
        assert result["failed"] and why in result["msg"], (why, result["msg"])
