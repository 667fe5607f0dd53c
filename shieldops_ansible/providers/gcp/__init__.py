"""GCP: settings and short-lived access tokens through Workload Identity Federation.

The environment names an ``external_account`` credentials config (where the subject token comes from, the
workload identity pool's audience, optionally the service account to impersonate); it holds no secret. The
controller exchanges the subject token at Google's STS (and impersonates the service account) with google-auth,
keeps the access token in memory until shortly before it expires, and hands a run only that token
(google.cloud's ``auth_kind: accesstoken``), through the secret channel. With ``auth_kind: application`` the
collection's modules would build fresh credentials on every HTTP call: an STS exchange, an impersonation and a
project lookup per API call (measured: 24 token calls for one stop).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ...models import plugin_utils
from ..base import EnvironmentSettings, Provider
from .credentials import mint_access_token

if TYPE_CHECKING:
    from ...sandbox.backend import SandboxBackend

__all__ = ["GcpProvider", "GcpSettings"]

_REFRESH_MARGIN_S = 300
_ZONE = r"^[a-z]+-[a-z]+\d+-[a-z]$"
_REGION = r"^[a-z]+-[a-z]+\d+$"


class GcpSettings(EnvironmentSettings):
    provider: Literal["gcp"]
    project: str = Field(
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="The project id every request works in."
    )
    credentials_file: str = Field(
        description=(
            "An external_account (Workload Identity Federation) credentials config: where the subject token comes "
            "from, the pool's audience, optionally service_account_impersonation_url. No service-account keys."
        )
    )
    zones: list[str] | None = Field(
        default=None, description="The zones list_resources covers for zonal types; default every zone."
    )
    regions: list[str] | None = Field(
        default=None, description="The regions list_resources covers for regional types; default every region."
    )
    quota_project: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="The project billed for API quota (x-goog-user-project), when it is not the resource's.",
    )
    https_proxy: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="An HTTPS proxy every Google API call goes through (an egress proxy, or the sandbox's).",
    )
    ca_file: str | None = Field(
        default=None, description="CA certificates to trust for the Google APIs' TLS instead of the system's."
    )

    @field_validator("credentials_file", "ca_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return os.path.abspath(os.path.expanduser(value)) if value else value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str] | None) -> list[str] | None:
        return _each_matches(value, _ZONE, "a zone such as europe-west1-b")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        return _each_matches(value, _REGION, "a region such as europe-west1")

    def role_settings(self) -> dict[str, Any]:
        # Where the federation config is and how Google is reached (no token): a run without the facade mints its
        # token itself (the gcp_access_token lookup); the facade's runs carry the token it minted.
        reach = self.model_dump(
            include={"credentials_file", "quota_project", "https_proxy", "ca_file"}, exclude_none=True
        )
        return {"project": self.project, "zones": self.zones, "regions": self.regions, **reach}


def _each_matches(values: list[str] | None, pattern: str, what: str) -> list[str] | None:
    for value in values or []:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
    return values


@dataclass
class _Cached:
    token: str
    expires_at: float


class GcpProvider(Provider):
    name = "gcp"
    settings_model = GcpSettings
    run_env_names = frozenset(
        {
            "GCP_AUTH_KIND",
            "GCP_ACCESS_TOKEN",
            "GCP_PROJECT",
            "GOOGLE_CLOUD_QUOTA_PROJECT",
            "HTTPS_PROXY",
            "REQUESTS_CA_BUNDLE",
        }
    )
    # Pure API clients (REST through requests), compared with a normal module process by the in-worker parity
    # test. gcp_compute_snapshot and gcp_compute_disk write without a check mode, so they run as processes.
    worker_modules = frozenset(
        {
            "google.cloud.gcp_compute_instance_info",
            "google.cloud.gcp_compute_snapshot_info",
            "google.cloud.gcp_container_cluster_info",
            "shieldops.connectors.gcp_compute_instance_disk_swap",
            "shieldops.connectors.gcp_compute_instance_power",
            "shieldops.connectors.gcp_compute_instances_aggregated_info",
            "shieldops.connectors.gcp_gke_node_pool_resize",
            "shieldops.connectors.gcp_gke_node_pool_sizes_info",
            "shieldops.connectors.gcp_logging_entries_info",
            "shieldops.connectors.gcp_monitoring_instance_cpu_info",
            "shieldops.connectors.gcp_run_service_info",
            "shieldops.connectors.gcp_run_service_update",
        }
    )
    # What google.cloud's gcp_utils and our gcp_service import.
    warm_imports = (
        "requests",
        "google.auth",
        "google.auth.compute_engine",
        "google.auth.transport.requests",
        "google.oauth2.credentials",
        "google.oauth2.service_account",
    )

    def __init__(self) -> None:
        # By what the token depends on: environments that share a config share its token.
        self._cache: dict[tuple[str, str | None, str | None], _Cached] = {}
        self._lock = asyncio.Lock()

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        assert isinstance(settings, GcpSettings)
        key = (settings.credentials_file, settings.https_proxy, settings.ca_file)
        async with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached.expires_at - time.time() < _REFRESH_MARGIN_S:
                token, expires_at = await asyncio.to_thread(mint_access_token, *key)
                cached = self._cache[key] = _Cached(token, expires_at)
        # The role's mapping too, in a run without the facade.
        env: dict[str, str] = plugin_utils("gcp_federation").connection_env(settings.model_dump(mode="json"))
        return env | {"GCP_ACCESS_TOKEN": cached.token}

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        from .sandbox import GcpSandboxBackend

        return GcpSandboxBackend()
