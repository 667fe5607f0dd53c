"""The azure_rm inventory plugin (inventories/azure/shieldops.azure_rm.yml), unmodified, lists the sandbox's VMs
as hosts through the fake, with the managed identity the facade would hand a run: what an AWX inventory source or
a direct ansible-playbook run gets."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from tests.providers.azure.conftest import WEB_1, AzureSandbox

pytestmark = pytest.mark.integration


def _plain(value: object) -> object:
    # ansible-inventory --list writes values that came from the API as {"__ansible_unsafe": ...}.
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_the_inventory_plugin_lists_the_vms(azure_sandbox: AzureSandbox, tmp_path: Path) -> None:
    environment = load_config(azure_sandbox.config).environment("azure")
    credentials = asyncio.run(environment.provider.credentials_env(environment.settings))
    # This machine's CA bundle variables would win over the test CA the provider names.
    run_env = {k: v for k, v in os.environ.items() if not k.endswith("_CA_BUNDLE") and "PROXY" not in k.upper()}
    run_env |= credentials | {"CURL_CA_BUNDLE": credentials["REQUESTS_CA_BUNDLE"], "HOME": str(tmp_path)}
    run_env["ANSIBLE_CONFIG"] = str(project_dir() / "ansible.cfg")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-inventory"),
            "-i",
            "inventories/azure/shieldops.azure_rm.yml",
            "--list",
        ],
        cwd=project_dir(),
        env=run_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    inventory = json.loads(proc.stdout)
    assert "tag_app_web" in inventory, (sorted(inventory), proc.stderr[-3000:])
    # The plugin's default host filters leave out VMs that are not running (web-2 is deallocated): no host to reach.
    assert set(inventory["tag_app_web"]["hosts"]) == {"web-1"}
    hostvars = inventory["_meta"]["hostvars"]
    assert _plain(hostvars["web-1"]["shieldops_resource_id"]) == WEB_1 and "web-2" not in hostvars
    assert _plain(hostvars["web-1"]["powerstate"]) == "running"
    assert _plain(hostvars["web-1"]["ansible_host"]).startswith("10.0.0.")
