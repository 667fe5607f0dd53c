"""The same operation through the facade, the CLI and plain ansible-playbook gives the same result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shieldops_ansible import connect
from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from tests.support import Sandbox

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


async def test_ansible_playbook_direct_matches_facade(sandbox: Sandbox, tmp_path: Path) -> None:
    rid = sandbox.aws("service/worker")
    async with connect("aws", config=sandbox.config) as conn:
        facade = (await conn.get_health(rid)).model_dump(mode="json")
    config = load_config(sandbox.config)
    env = config.environment("aws")
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "shieldops_request": {"provider": "aws", "environment": "aws", "resource_id": rid},
                "shieldops_settings": env.settings.role_settings(),
            }
        )
    )
    # An operator's shell: temporary credentials in the environment (here from the same AssumeRole).
    run_env = dict(os.environ) | await env.provider.credentials_env(env.settings)
    run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "playbooks/get_health.yml", "-e", f"@{request}"],
        cwd=project_dir(),
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    stats = json.loads(proc.stdout)["global_custom_stats"]["shieldops_result"]
    assert stats["ok"] is True
    direct = stats["value"]
    for doc in (facade, direct):
        doc.pop("observed_at")
    assert direct == facade


def test_cli_list_health_and_errors(sandbox: Sandbox) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "shieldops-ansible"), *args, "--env", "aws", "--config", str(sandbox.config)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    listed = cli("list", "function", "--json", "--tag", "app=ingest")
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["ingest"]
    health = cli("health", sandbox.aws("function/ingest"))
    assert health.returncode == 0 and "unhealthy" in health.stdout and "errors" in health.stdout
    bad = cli("health", "not-an-id")
    assert bad.returncode == 1 and "InvalidRequest" in bad.stderr
    dry = cli("act", "scale", sandbox.aws("service/api"), "--param", "replicas=3", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["status"] == "dry_run"


def test_sandbox_cli_status(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        [str(BIN / "shieldops-ansible"), "sandbox", "status", "--dir", str(sandbox.directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["backends"]["aws"]["alive"] is True


async def test_aws_ec2_inventory_plugin_lists_sandbox_instances(sandbox: Sandbox) -> None:
    env = load_config(sandbox.config).environment("aws")
    run_env = dict(os.environ) | await env.provider.credentials_env(env.settings)
    run_env["ANSIBLE_CONFIG"] = str(project_dir() / "ansible.cfg")
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "inventories/aws/shieldops.aws_ec2.yml", "--list"],
        cwd=project_dir(),
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    inventory = json.loads(proc.stdout)
    ids = {sandbox.aws("instance/web-1"), sandbox.aws("instance/web-2")}
    assert set(inventory["aws_ec2"]["hosts"]) == ids
    assert set(inventory["tag_app_web"]["hosts"]) == ids
    hostvars = inventory["_meta"]["hostvars"][sandbox.aws("instance/web-1")]
    # ansible-inventory --list writes values that came from the API as {"__ansible_unsafe": ...}.
    resource_id = hostvars["shieldops_resource_id"]
    if isinstance(resource_id, dict):
        resource_id = resource_id["__ansible_unsafe"]
    assert resource_id == sandbox.aws("instance/web-1")
