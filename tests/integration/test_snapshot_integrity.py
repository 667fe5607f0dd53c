"""Snapshot documents through the real path (facade -> warm engine -> playbook -> role -> sandbox backend): an
edited document, or one signed with another installation's key, is refused before rollback touches anything; a
document signed with this installation's key but naming another resource than the one rollback would touch is
InvalidRequest, with nothing touched; a direct ansible-playbook run refuses the same documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import Action, InvalidRequest, SnapshotNotFound, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from shieldops_ansible.snapshots import signing
from tests.support import Sandbox, arrange_client

pytestmark = pytest.mark.integration


def _document_path(sandbox: Sandbox, snapshot_id: str) -> Path:
    return sandbox.state_dir / "snapshots" / f"{snapshot_id}.json"


def _read(sandbox: Sandbox, snapshot_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_document_path(sandbox, snapshot_id).read_text())
    return document


def _write(sandbox: Sandbox, document: dict[str, Any], *, key_file: Path | None = None) -> None:
    """Write a document back, re-signed with key_file when given (else as edited, with its old signature)."""
    if key_file is not None:
        document = signing().sign(document, signing().load_or_create_key(str(key_file)))
    _document_path(sandbox, document["id"]).write_text(json.dumps(document, indent=4))


def _installation_key(sandbox: Sandbox) -> Path:
    return load_config(sandbox.config).snapshot_key_file


def _workload(sandbox: Sandbox, name: str) -> tuple[Any, Any]:
    deployment = sandbox.kube().deployment("shop", name)
    return deployment["spec"], deployment["metadata"].get("generation")


async def _kubernetes_snapshot_then_scaled(sandbox: Sandbox) -> str:
    """A snapshot of shop/web, then a scale: a rollback that ran would change the Deployment back."""
    async with connect("kubernetes", config=sandbox.config) as conn:
        snapshot = await conn.create_snapshot("deployment/shop/web")
        replicas = int(snapshot.state["manifest"]["spec"]["replicas"])
        await conn.execute_action(
            Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": replicas + 1})
        )
    return snapshot.id


async def test_an_edited_kubernetes_manifest_fails_rollback_and_changes_nothing(sandbox: Sandbox) -> None:
    snapshot_id = await _kubernetes_snapshot_then_scaled(sandbox)
    document = _read(sandbox, snapshot_id)
    document["state"]["manifest"]["spec"]["template"]["spec"]["containers"][0]["image"] = "attacker/web:latest"
    _write(sandbox, document)
    before = _workload(sandbox, "web")
    async with connect("kubernetes", config=sandbox.config) as conn:
        with pytest.raises(SnapshotNotFound, match="fails its signature check"):
            await conn.rollback(snapshot_id)
    assert _workload(sandbox, "web") == before


async def test_a_document_signed_with_another_installations_key_fails_rollback(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    snapshot_id = await _kubernetes_snapshot_then_scaled(sandbox)
    document = _read(sandbox, snapshot_id)
    _write(sandbox, document, key_file=tmp_path / "another-installation" / "snapshot.key")
    before = _workload(sandbox, "web")
    async with connect("kubernetes", config=sandbox.config) as conn:
        with pytest.raises(SnapshotNotFound, match="signed with another installation's key"):
            await conn.rollback(snapshot_id)
    assert _workload(sandbox, "web") == before


async def test_a_signed_manifest_of_another_deployment_is_invalid_request(sandbox: Sandbox) -> None:
    """Signed with the right key, but its manifest (applied with force) is of shop/checkout while the document
    says shop/web: the role refuses it before any API call."""
    snapshot_id = await _kubernetes_snapshot_then_scaled(sandbox)
    document = _read(sandbox, snapshot_id)
    document["state"]["manifest"]["metadata"]["name"] = "checkout"
    _write(sandbox, document, key_file=_installation_key(sandbox))
    before = _workload(sandbox, "web"), _workload(sandbox, "checkout")
    async with connect("kubernetes", config=sandbox.config) as conn:
        with pytest.raises(InvalidRequest, match=r"metadata\.name is 'checkout', not 'web'"):
            await conn.rollback(snapshot_id)
    assert (_workload(sandbox, "web"), _workload(sandbox, "checkout")) == before


def _ecs_services(sandbox: Sandbox) -> dict[str, tuple[int, str]]:
    ecs = arrange_client(sandbox, "ecs")
    described = ecs.describe_services(cluster="sandbox", services=["api", "worker"])["services"]
    return {s["serviceName"]: (s["desiredCount"], s["taskDefinition"]) for s in described}


async def _ecs_snapshot_then_scaled(sandbox: Sandbox) -> str:
    async with connect("aws", config=sandbox.config) as conn:
        snapshot = await conn.create_snapshot(sandbox.aws("service/api"))
    arrange_client(sandbox, "ecs").update_service(
        cluster="sandbox", service="api", desiredCount=int(snapshot.state["desired_count"]) + 1
    )
    return snapshot.id


async def test_an_edited_ecs_desired_count_fails_rollback_and_changes_nothing(sandbox: Sandbox) -> None:
    snapshot_id = await _ecs_snapshot_then_scaled(sandbox)
    document = _read(sandbox, snapshot_id)
    document["state"]["desired_count"] = 40
    _write(sandbox, document)
    before = _ecs_services(sandbox)
    async with connect("aws", config=sandbox.config) as conn:
        with pytest.raises(SnapshotNotFound, match="fails its signature check"):
            await conn.rollback(snapshot_id)
    assert _ecs_services(sandbox) == before


async def test_a_signed_ecs_document_naming_another_service_is_invalid_request(sandbox: Sandbox) -> None:
    snapshot_id = await _ecs_snapshot_then_scaled(sandbox)
    document = _read(sandbox, snapshot_id)
    document["handles"]["service"] = "worker"
    _write(sandbox, document, key_file=_installation_key(sandbox))
    before = _ecs_services(sandbox)
    async with connect("aws", config=sandbox.config) as conn:
        with pytest.raises(InvalidRequest, match="its service is 'worker'"):
            await conn.rollback(snapshot_id)
    assert _ecs_services(sandbox) == before


async def _linux_snapshot_with_a_path_moved(sandbox: Sandbox, planted: Path) -> tuple[str, dict[str, Any]]:
    """A host snapshot of web-2 whose worker.conf entry now names another path (content and checksum kept)."""
    config = sandbox.linux_dir / "web-2" / "etc" / "worker.conf"
    async with connect("linux", config=sandbox.config) as conn:
        snapshot = await conn.create_snapshot("host/web-2")
    document = _read(sandbox, snapshot.id)
    for handle in document["handles"]["files"]:
        if handle["path"] == str(config):
            handle["path"] = str(planted)
    return snapshot.id, document


async def test_an_edited_linux_file_path_fails_rollback_and_writes_nothing(sandbox: Sandbox) -> None:
    planted = sandbox.linux_dir / "web-2" / "planted.conf"
    snapshot_id, document = await _linux_snapshot_with_a_path_moved(sandbox, planted)
    _write(sandbox, document)
    config = sandbox.linux_dir / "web-2" / "etc" / "worker.conf"
    changed = config.read_bytes() + b"# changed after the snapshot\n"
    config.write_bytes(changed)
    async with connect("linux", config=sandbox.config) as conn:
        with pytest.raises(SnapshotNotFound, match="fails its signature check"):
            await conn.rollback(snapshot_id)
    assert not planted.exists() and config.read_bytes() == changed


async def test_a_signed_linux_document_with_an_undeclared_path_is_invalid_request(sandbox: Sandbox) -> None:
    """Signed with the right key, but one file is outside the inventory's declared files of the host (the host's
    etc folder here): rollback would write it on the host; refused before the host is reached."""
    planted = sandbox.linux_dir / "web-2" / "planted.conf"
    snapshot_id, document = await _linux_snapshot_with_a_path_moved(sandbox, planted)
    _write(sandbox, document, key_file=_installation_key(sandbox))
    config = sandbox.linux_dir / "web-2" / "etc" / "worker.conf"
    changed = config.read_bytes() + b"# changed after the snapshot\n"
    config.write_bytes(changed)
    async with connect("linux", config=sandbox.config) as conn:
        with pytest.raises(InvalidRequest, match="is not among the files the inventory declares"):
            await conn.rollback(snapshot_id)
    assert not planted.exists() and config.read_bytes() == changed


async def _rollback_playbook(sandbox: Sandbox, snapshot_id: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """playbooks/rollback.yml run as an operator would, with the installation's key file; rc and the result."""
    config = load_config(sandbox.config)
    env = config.environment("kubernetes")
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "shieldops_request": {
                    "provider": "kubernetes",
                    "environment": "kubernetes",
                    "snapshot_id": snapshot_id,
                },
                "shieldops_settings": env.settings.role_settings(),
                "shieldops_state_dir": str(config.state_dir),
                "shieldops_snapshot_key_file": str(config.snapshot_key_file),
            }
        )
    )
    credentials = await env.provider.credentials_env(env.settings)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/rollback.yml", "-e", f"@{request}"],
        cwd=project_dir(),
        env=dict(os.environ) | credentials | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result: dict[str, Any] = json.loads(proc.stdout)["global_custom_stats"]["shieldops_result"]
    return proc.returncode, result


async def test_a_direct_ansible_playbook_rollback_refuses_edited_and_unsigned_documents(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    snapshot_id = await _kubernetes_snapshot_then_scaled(sandbox)
    genuine = _read(sandbox, snapshot_id)
    edited = json.loads(json.dumps(genuine))
    edited["state"]["manifest"]["spec"]["template"]["spec"]["containers"][0]["image"] = "attacker/web:latest"
    _write(sandbox, edited)
    before = _workload(sandbox, "web")
    rc, result = await _rollback_playbook(sandbox, snapshot_id, tmp_path)
    assert rc != 0 and not result["ok"] and result["error"]["kind"] == "snapshot_not_found"
    assert "fails its signature check" in result["error"]["message"]
    assert _workload(sandbox, "web") == before
    # A document as they were written before snapshots were signed.
    _write(sandbox, {k: v for k, v in genuine.items() if k != "signature"})
    rc, result = await _rollback_playbook(sandbox, snapshot_id, tmp_path)
    assert rc != 0 and result["error"]["kind"] == "snapshot_not_found"
    assert result["error"]["message"] == (
        f"snapshot {snapshot_id} has no signature (taken before snapshots were signed); take a new one with "
        "create_snapshot"
    )
    assert _workload(sandbox, "web") == before
    # The genuine document rolls back: the run found the installation's key where the variable says.
    _write(sandbox, genuine)
    rc, result = await _rollback_playbook(sandbox, snapshot_id, tmp_path)
    assert rc == 0 and result["ok"], result
    assert _workload(sandbox, "web")[0]["replicas"] == genuine["state"]["manifest"]["spec"]["replicas"]


async def test_the_key_is_in_no_event_result_or_state_file(sandbox: Sandbox) -> None:
    key = _installation_key(sandbox)
    events: list[Any] = []
    async with connect("kubernetes", config=sandbox.config, on_event=events.append) as conn:
        snapshot = await conn.create_snapshot("deployment/shop/web")
        restored = await conn.rollback(snapshot.id)
    secret = key.read_text().strip()
    assert restored.success and len(events) > 10 and key.stat().st_mode & 0o777 == 0o600
    assert not key.is_relative_to(sandbox.state_dir)
    assert secret not in json.dumps(events, default=str)
    assert secret not in snapshot.model_dump_json() + restored.model_dump_json()
    for path in sandbox.state_dir.rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
