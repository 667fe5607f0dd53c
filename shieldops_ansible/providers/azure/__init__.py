"""Azure: settings, and the managed identity (or workload identity) a run authenticates with.

No secret is ever a setting. azure.azcollection's ``auth_source: msi`` hands authentication to azure-identity's
ManagedIdentityCredential inside each module run: the VM's or pod's identity endpoint (IMDS, or App Service/Arc
endpoints), or, when a federated token file is named, Entra's token endpoint with that file's token as the client
assertion (AKS workload identity, or any OIDC issuer federated with an app registration). So the controller mints
nothing and caches nothing: a run receives only where the identity is and which one to use, and the token lives in
the module's memory for the length of that run.

``subscription_id`` is required: with an identity and no subscription the collection takes the first subscription
the identity can see, which is not a choice to leave to chance.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...models import plugin_utils
from ..base import EnvironmentSettings, Provider

if TYPE_CHECKING:
    from ...sandbox.backend import SandboxBackend

__all__ = ["AzureProvider", "AzureSettings"]

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Azure's rule for resource group names: letters, digits, ._-() and not ending in a period.
RESOURCE_GROUP = r"^[-\w._()]{0,89}[-\w_()]$"


class AzureSettings(EnvironmentSettings):
    provider: Literal["azure"]
    subscription_id: str = Field(pattern=_UUID, description="The subscription every request works in.")
    resource_groups: list[str] | None = Field(
        default=None, description="The resource groups list_resources covers; default the whole subscription."
    )
    auth: Literal["managed_identity", "workload_identity"] = Field(
        default="managed_identity",
        description=(
            "managed_identity: the host's identity endpoint (IMDS, App Service, Arc); workload_identity: a "
            "federated token file exchanged at Entra ID for the app registration client_id in tenant_id."
        ),
    )
    client_id: str | None = Field(
        default=None,
        pattern=_UUID,
        description=(
            "A user-assigned managed identity's client id (default: the system-assigned identity); with "
            "workload_identity, the app registration's client id."
        ),
    )
    tenant_id: str | None = Field(default=None, pattern=_UUID, description="workload_identity: the Entra tenant.")
    federated_token_file: str | None = Field(
        default=None,
        description="workload_identity: the file the platform keeps a fresh OIDC token in (read at each run).",
    )
    authority_host: str = Field(
        default="https://login.microsoftonline.com",
        pattern=r"^https://[^\s/]+/?$",
        description="workload_identity: Entra's authority host (another cloud's, when it is not the public one).",
    )
    identity_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description=(
            "Where the managed identity endpoint is reached instead of 169.254.169.254 (an IMDS relay such as "
            "pod identity's, or the sandbox's)."
        ),
    )
    https_proxy: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="An HTTPS proxy every Azure API call goes through (an egress proxy, or the sandbox's).",
    )
    ca_file: str | None = Field(
        default=None, description="CA certificates to trust for the Azure APIs' TLS instead of the system's."
    )
    snapshot_setting_values: list[str] | None = Field(
        default=None,
        description=(
            "App settings whose values a function app snapshot keeps and its rollback writes back (a version, a "
            "feature flag); every other setting is kept only as a digest: app settings often hold secrets."
        ),
    )

    @field_validator("federated_token_file", "ca_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return os.path.abspath(os.path.expanduser(value)) if value else value

    @field_validator("resource_groups")
    @classmethod
    def _groups(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not re.fullmatch(RESOURCE_GROUP, name, re.ASCII):
                raise ValueError(f"{name!r} is not a resource group name")
        return value

    @field_validator("snapshot_setting_values")
    @classmethod
    def _setting_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not re.fullmatch(r"^[A-Za-z0-9_.:-]{1,256}$", name):
                raise ValueError(f"{name!r} is not an app setting name")
        return value

    @field_validator("subscription_id", "client_id", "tenant_id")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @model_validator(mode="after")
    def _workload_identity_complete(self) -> AzureSettings:
        if self.auth == "workload_identity":
            missing = [k for k in ("client_id", "tenant_id", "federated_token_file") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"auth: workload_identity needs {', '.join(missing)}")
        else:
            extra = [k for k in ("tenant_id", "federated_token_file") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} apply only to auth: workload_identity")
        return self

    def role_settings(self) -> dict[str, Any]:
        # Where the identity is, too (no secret): a run without the facade finds it as the facade's runs do.
        where = {"client_id", "auth", "tenant_id", "federated_token_file", "authority_host", "identity_endpoint"}
        found = self.model_dump(include=where | {"https_proxy", "ca_file"}, mode="json")
        return {
            "subscription_id": self.subscription_id,
            "resource_groups": self.resource_groups,
            "snapshot_setting_values": self.snapshot_setting_values or [],
            **{key: value for key, value in found.items() if value is not None},
        }


class AzureProvider(Provider):
    name = "azure"
    settings_model = AzureSettings
    run_env_names = frozenset(
        {
            "ANSIBLE_AZURE_AUTH_SOURCE",
            "AZURE_SUBSCRIPTION_ID",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_AUTHORITY_HOST",
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "HTTPS_PROXY",
            "NO_PROXY",
            "REQUESTS_CA_BUNDLE",
        }
    )

    # Pure API clients (REST through azure-core), each compared with a normal module process by the in-worker
    # parity test (writes in check mode, or as a no-op: a GET, the absence of what does not exist).
    worker_modules = frozenset(
        {
            "azure.azcollection.azure_rm_aks_info",
            "azure.azcollection.azure_rm_aksagentpool",
            "azure.azcollection.azure_rm_manageddisk",
            "azure.azcollection.azure_rm_resource",
            "azure.azcollection.azure_rm_resource_info",
            "azure.azcollection.azure_rm_snapshot",
            "azure.azcollection.azure_rm_virtualmachine",
            "azure.azcollection.azure_rm_virtualmachine_info",
            "azure.azcollection.azure_rm_snapshot_info",
            "shieldops.connectors.azure_activity_log_info",
            "shieldops.connectors.azure_function_app_settings",
            "shieldops.connectors.azure_function_app_settings_info",
            "shieldops.connectors.azure_function_app_slot_swap",
            "shieldops.connectors.azure_function_apps_info",
            "shieldops.connectors.azure_resource_health_info",
        }
    )
    # What azure.azcollection's azure_rm_common imports in one block before any module runs (~1.6 s, ~150 MB in
    # a fresh interpreter): imported once in the warm server, every in-worker module finds them loaded.
    warm_imports = (
        "azure.core",
        "azure.identity",
        "azure.mgmt.core.tools",
        "azure.cli.core",
        "azure.cli.core.util",
        "azure.storage.blob",
        "msgraph",
        "msgraph_core",
        "kiota_authentication_azure.azure_identity_authentication_provider",
        *(
            f"azure.mgmt.{name}"
            for name in (
                "authorization",
                "automation",
                "automation.models",
                "batch",
                "cdn",
                "compute",
                "containerinstance",
                "containerregistry",
                "containerservice",
                "datafactory",
                "datafactory.models",
                "dns",
                "eventhub",
                "iothub",
                "loganalytics",
                "loganalytics.models",
                "managementgroups",
                "marketplaceordering",
                "monitor",
                "mysqlflexibleservers",
                "network",
                "notificationhubs",
                "postgresqlflexibleservers",
                "privatedns",
                "privatedns.models",
                "rdbms.mariadb",
                "rdbms.mysql",
                "rdbms.postgresql",
                "recoveryservicesbackup",
                "recoveryservicesbackup.activestamp.models",
                "resource.locks",
                "resource.resources",
                "resource.subscriptions",
                "resourcehealth",
                "search",
                "servicebus",
                "sql",
                "storage",
                "trafficmanager",
                "web",
            )
        ),
    )

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        assert isinstance(settings, AzureSettings)
        # The same mapping the role's task environment uses in a run without the facade.
        env: dict[str, str] = plugin_utils("azure_identity").identity_env(settings.model_dump(mode="json"))
        return env

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        from .sandbox import AzureSandboxBackend

        return AzureSandboxBackend()
