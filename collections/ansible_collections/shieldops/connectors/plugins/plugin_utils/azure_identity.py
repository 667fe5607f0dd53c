# -*- coding: utf-8 -*-
"""Where an Azure run's managed identity is, as the run's environment: the one mapping from an environment's
settings to what azure.azcollection's modules and azure-identity read (ANSIBLE_AZURE_AUTH_SOURCE=msi, the
subscription, the client id, workload identity's tenant, token file and authority, an IMDS relay, the proxy and
CA). No secret is in it: the identity's tokens are fetched by azure-identity inside each module. Used by the facade
(shieldops_ansible.providers.azure) and by the Azure role's task environment (the azure_identity_env filter) in a
run without the facade. Standard library only (the facade loads this file by path).
"""
from __future__ import annotations

__all__ = ["identity_env"]

# The identity endpoint is plain HTTP on a link-local or loopback address: never through the proxy.
_NEVER_PROXIED = "169.254.169.254,127.0.0.1,localhost"


def identity_env(settings):
    """The environment for ``settings`` (a mapping of the AzureSettings fields, as role_settings() passes them)."""
    env = {"ANSIBLE_AZURE_AUTH_SOURCE": "msi", "AZURE_SUBSCRIPTION_ID": str(settings["subscription_id"])}
    if settings.get("client_id"):
        env["AZURE_CLIENT_ID"] = str(settings["client_id"])
    if settings.get("auth") == "workload_identity":
        env["AZURE_TENANT_ID"] = str(settings["tenant_id"])
        env["AZURE_FEDERATED_TOKEN_FILE"] = str(settings["federated_token_file"])
        env["AZURE_AUTHORITY_HOST"] = str(settings.get("authority_host") or "https://login.microsoftonline.com").rstrip("/")
    if settings.get("identity_endpoint"):
        env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = str(settings["identity_endpoint"]).rstrip("/")
    if settings.get("https_proxy"):
        env["HTTPS_PROXY"] = str(settings["https_proxy"])
        env["NO_PROXY"] = _NEVER_PROXIED
    if settings.get("ca_file"):
        env["REQUESTS_CA_BUNDLE"] = str(settings["ca_file"])
    return env
