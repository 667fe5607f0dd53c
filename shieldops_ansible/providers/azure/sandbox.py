"""The Azure part of the sandbox: the fake Azure Resource Manager and Entra ID behind an intercepting TLS proxy,
and a fake instance metadata service, with identities set up as a real subscription would have them.

One process runs them: the fake (fake_arm.py, plain HTTP on loopback) and the proxy that terminates TLS for
``management.azure.com`` and ``login.microsoftonline.com`` with certificates of a test CA and relays them to it;
any other host is refused. The identity endpoint is the fake's own port, which azure-identity reaches the way it
reaches an IMDS relay (the environment's ``identity_endpoint``). Nothing else changes: the modules call the real
URLs.

Seeded subscription: resource groups ``rg-web`` (VMs ``web-1``, running, and ``web-2``, deallocated),
``rg-functions`` and ``rg-aks``. Identities: two user-assigned managed identities, ``operator`` (Contributor) and
``reader`` (Reader; ARM answers 403 AuthorizationFailed to its writes); the system-assigned identity is a Reader;
an app registration federated with a token file (workload identity) is a Contributor.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...sandbox.backend import MAIN_PROCESS, Samples, StartedBackend, announce, start_and_wait
from ...sandbox.intercepting_proxy import InterceptingProxy
from ...sandbox.tls import TestCA
from . import fake_arm

__all__ = [
    "AZURE_HOSTS",
    "OPERATOR_CLIENT_ID",
    "READER_CLIENT_ID",
    "SAMPLES",
    "SUBSCRIPTION",
    "TENANT",
    "WORKLOAD_CLIENT_ID",
    "AzureSandboxBackend",
    "start_azure",
]

SUBSCRIPTION = fake_arm.SUBSCRIPTION_ID
TENANT = fake_arm.TENANT_ID
OPERATOR_CLIENT_ID = fake_arm.OPERATOR_CLIENT_ID
READER_CLIENT_ID = fake_arm.READER_CLIENT_ID
WORKLOAD_CLIENT_ID = fake_arm.WORKLOAD_CLIENT_ID
# The hosts the proxy hands to the fake: every Azure endpoint an Azure run of ours calls.
AZURE_HOSTS = ("management.azure.com", "login.microsoftonline.com")
WORKLOAD_TOKEN_FILE = "azure/workload-identity.token"
ISSUED_TOKENS_FILE = "azure/issued-access-tokens"


def _federated_token() -> str:
    """A token as a platform's OIDC issuer writes one to a pod's token file (opaque here, JWT-shaped)."""
    return ".".join(secrets.token_urlsafe(n) for n in (24, 96, 48))


def serve(directory: Path) -> None:
    """Run the fake and the proxy until killed (the sandbox starts this in a process of its own)."""
    base = directory / "azure"
    base.mkdir(parents=True, exist_ok=True)
    token = _federated_token()
    token_file = directory / WORKLOAD_TOKEN_FILE
    token_file.touch(mode=0o600)
    token_file.write_text(token)
    log_lines = open(directory / "logs" / "azure-requests.log", "a", buffering=1)  # noqa: SIM115 (process-long)
    # Every access token the fake mints, one per line: the secrets tests look for each in what we write.
    issued = directory / ISSUED_TOKENS_FILE
    issued.touch(mode=0o600)
    issued_lines = open(issued, "a", buffering=1)  # noqa: SIM115 (process-long)
    fake = fake_arm.sandbox_state(token)
    fake.on_token = lambda minted: print(minted, file=issued_lines)
    fake_server = fake_arm.FakeAzureServer(fake, log=lambda line: print(line, file=log_lines))
    fake_server.start()
    ca = TestCA.create(base)
    proxy = InterceptingProxy(
        {host: ("127.0.0.1", fake_server.port) for host in AZURE_HOSTS},
        ca,
        log=lambda line: print(line, file=log_lines),
    )
    proxy.start()
    announce(base / "server.json", {"proxy_port": proxy.port, "fake_port": fake_server.port})
    while True:
        time.sleep(3600)


def start_azure(directory: Path, log_file: Path) -> tuple[int, dict[str, Any]]:
    """Start the fake's process; return its pid and the `azure` environment's settings."""
    base = directory / "azure"
    module = "shieldops_ansible.providers.azure.sandbox"
    pid, ports = start_and_wait(module, directory, base / "server.json", "the Azure API fake", log_file)
    env = {
        "provider": "azure",
        "subscription_id": SUBSCRIPTION,
        "auth": "managed_identity",
        "client_id": OPERATOR_CLIENT_ID,
        "identity_endpoint": f"http://127.0.0.1:{ports['fake_port']}",
        "https_proxy": f"http://127.0.0.1:{ports['proxy_port']}",
        "ca_file": str(base / "test-ca.pem"),
        # The sandbox's apps keep their version in a setting that holds no secret.
        "snapshot_setting_values": ["APP_VERSION"],
    }
    return pid, env


def workload_identity_settings(env: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """The `azure` environment's settings with workload identity instead of the managed identity."""
    settings = {k: v for k, v in env.items() if k != "identity_endpoint"}
    return settings | {
        "auth": "workload_identity",
        "client_id": WORKLOAD_CLIENT_ID,
        "tenant_id": TENANT,
        "federated_token_file": str(directory / WORKLOAD_TOKEN_FILE),
    }


_RG_WEB = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines"
_WEB_1 = f"{_RG_WEB}/web-1"
_THUMBNAILER = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-functions/providers/Microsoft.Web/sites/thumbnailer"

# The `azure` environment's samples: VM web-1 (running) and function app thumbnailer (Azure has no `service`).
SAMPLES: Samples = {
    "instance": _WEB_1,
    "service": _THUMBNAILER,
    "missing": f"{_RG_WEB}/nope",
    "dry_run_action": {"type": "stop", "resource_id": _WEB_1, "parameters": {}},
    "live_action": {"type": "stop", "resource_id": _WEB_1, "parameters": {}},
    "repeatable_action": {"type": "restart", "resource_id": _WEB_1, "parameters": {}},
    "secret_env": [],
    "secret_files": [WORKLOAD_TOKEN_FILE],
    "secret_line_files": [ISSUED_TOKENS_FILE],
}


class AzureSandboxBackend:
    """The fake ARM, Entra ID and identity endpoint behind the intercepting proxy; environments `azure` (the
    operator managed identity) and `azure-readonly` (the reader managed identity)."""

    name = "azure"
    sampled_environments = ("azure",)

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        pid, env = start_azure(directory, directory / "logs" / "azure.log")
        log(f"azure: ARM and Entra ID fake behind the TLS proxy on {env['https_proxy']}")
        readonly = env | {"client_id": READER_CLIENT_ID}
        return StartedBackend(
            processes={MAIN_PROCESS: {"pid": pid}},
            environments={"azure": env, "azure-readonly": readonly},
            resources={
                "subscription_id": SUBSCRIPTION,
                "vms": ["web-1", "web-2"],
                "function_apps": ["thumbnailer", "ingest"],
            },
            samples={"azure": SAMPLES},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        """Nothing outlives the fake's process."""


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
