"""A sandbox of the GCP backend only (the fake Google APIs behind the TLS proxy) per test module, and a client of
the fake's own loopback door for arranging and observing what the API does not show (a disk's content)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible.providers.gcp.sandbox import GcpSandboxBackend
from shieldops_ansible.sandbox import manager

WEB_1 = "projects/shieldops-sandbox/zones/europe-west1-b/instances/web-1"
WEB_2 = "projects/shieldops-sandbox/zones/europe-west1-c/instances/web-2"


@dataclass(frozen=True)
class GcpSandbox:
    directory: Path
    config: Path

    @property
    def fake_url(self) -> str:
        port = json.loads((self.directory / "gcp" / "server.json").read_text())["fake_port"]
        return f"http://127.0.0.1:{port}"

    def _backdoor(self, path: str, query: dict[str, str], body: dict[str, Any] | None = None) -> Any:
        url = f"{self.fake_url}/_fake/{path}?{urllib.parse.urlencode(query)}"
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET")) as r:
            return json.loads(r.read())

    def instance(self, resource_id: str) -> dict[str, Any]:
        """The instance as the fake stores it (not through the product)."""
        parts = resource_id.split("/")
        return dict(self._backdoor("instance", {"zone": parts[3], "name": parts[5]}))

    def disk_content(self, resource_id: str, write: str | None = None) -> dict[str, str]:
        """The content marker of the instance's boot disk (written first when ``write`` is given)."""
        parts = resource_id.split("/")
        body = {"content": write} if write is not None else None
        return dict(self._backdoor("content", {"zone": parts[3], "name": parts[5]}, body))

    def run_service(self, resource_id: str) -> dict[str, Any]:
        """A Cloud Run service as the fake stores it."""
        parts = resource_id.split("/")
        return dict(self._backdoor("run-service", {"region": parts[3], "name": parts[5]}))

    def pool_nodes(self, resource_id: str) -> int:
        """A node pool's node count as the fake's instance group managers hold it."""
        parts = resource_id.split("/")
        return int(self._backdoor("pool-nodes", {"location": parts[3], "cluster": parts[5], "pool": parts[7]})["nodes"])

    def secret_files(self) -> list[str]:
        return [(self.directory / "gcp" / f"{s}.subject-token").read_text().strip() for s in ("agent", "reader")]


@pytest.fixture(scope="module")
def gcp_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpSandbox]:
    directory = tmp_path_factory.mktemp("gcp-sandbox")
    config = manager.up(directory, backends=[GcpSandboxBackend()])
    try:
        yield GcpSandbox(directory, config)
    finally:
        manager.down(directory, backends=[GcpSandboxBackend()])


API = "projects/shieldops-sandbox/locations/europe-west1/services/api"
WORKER = "projects/shieldops-sandbox/locations/europe-west1/services/worker"
CLUSTER = "projects/shieldops-sandbox/locations/europe-west1-b/clusters/sandbox"
DEFAULT_POOL = f"{CLUSTER}/nodePools/default"
SPOT_POOL = f"{CLUSTER}/nodePools/spot"
