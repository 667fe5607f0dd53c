"""A sandbox of the Azure backend only (the fake ARM and Entra ID behind the TLS proxy, and the fake identity
endpoint) per test module, and a client of the fake's own loopback door for arranging and observing what the API
does not show (a disk's content, an outside power change)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import InfraConnector, connect
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.providers.azure.sandbox import SUBSCRIPTION, AzureSandboxBackend
from shieldops_ansible.sandbox import manager

RG_WEB = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web"
WEB_1 = f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/web-1"
WEB_2 = f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/web-2"


@dataclass(frozen=True)
class AzureSandbox:
    directory: Path
    config: Path

    @property
    def fake_url(self) -> str:
        port = json.loads((self.directory / "azure" / "server.json").read_text())["fake_port"]
        return f"http://127.0.0.1:{port}"

    def _backdoor(self, path: str, query: dict[str, str] | None = None, body: Any = None, method: str = "GET") -> Any:
        url = f"{self.fake_url}/_fake/{path}?{urllib.parse.urlencode(query or {})}"
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method)) as r:
            return json.loads(r.read())

    def resource(self, resource_id: str) -> dict[str, Any]:
        """A resource's document as the fake stores it (not through the product)."""
        return dict(self._backdoor("resource", {"id": resource_id}))

    def power_state(self, vm_id: str) -> str:
        return str(self._backdoor("vm", {"id": vm_id})["power_state"])

    def set_power_state(self, vm_id: str, power_state: str) -> None:
        self._backdoor("vm", body={"id": vm_id, "power_state": power_state}, method="POST")

    def disk_content(self, disk_id: str, write: str | None = None) -> str:
        """What a disk holds (written first when ``write`` is given)."""
        if write is None:
            return str(self._backdoor("content", {"id": disk_id})["content"])
        return str(self._backdoor("content", {"id": disk_id}, {"content": write}, method="PUT")["content"])

    def os_disk_id(self, vm_id: str) -> str:
        return str(self.resource(vm_id)["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])

    def data_disk_ids(self, vm_id: str) -> list[str]:
        disks = self.resource(vm_id)["properties"]["storageProfile"]["dataDisks"]
        return [str(d["managedDisk"]["id"]) for d in sorted(disks, key=lambda d: d["lun"])]

    def app_settings(self, site_id: str) -> dict[str, str]:
        """A site's or slot's app settings as the fake holds them."""
        return dict(self._backdoor("app-settings", {"id": site_id})["properties"])

    def activity_log(self) -> list[dict[str, Any]]:
        return list(self._backdoor("events")["value"])


@pytest.fixture(scope="module")
def azure_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureSandbox]:
    directory = tmp_path_factory.mktemp("azure-sandbox")
    config = manager.up(directory, backends=[AzureSandboxBackend()])
    try:
        yield AzureSandbox(directory, config)
    finally:
        manager.down(directory, backends=[AzureSandboxBackend()])


@pytest.fixture(params=["warm"])
async def azure(
    request: pytest.FixtureRequest, azure_sandbox: AzureSandbox, tmp_path: Path
) -> AsyncIterator[InfraConnector]:
    """A connector of the `azure` environment through the warm engine, or through each engine for a test marked
    `@pytest.mark.parametrize("azure", ["warm", "runner"], indirect=True)`. The runner engine imports the SDK block
    in every module process (about a minute per test), so one read test per type runs on it; the cross-provider
    suites (engine parity, secrets hygiene) run every operation on both."""
    engine = RunnerEngine(keep_artifacts_in=tmp_path / "artifacts") if request.param == "runner" else None
    async with connect("azure", config=azure_sandbox.config, engine=engine) as conn:
        yield conn
