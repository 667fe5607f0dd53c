"""The GCP part of the sandbox: the fake Google APIs behind an intercepting TLS proxy, with Workload Identity
Federation set up as a real project would have it.

One process runs both: the fake (fake_api.py, plain HTTP on loopback) and the proxy that terminates TLS for the
Google hosts with certificates of a test CA and relays them to it; any other host is refused. Runs reach it with
the environment's ``https_proxy`` and ``ca_file`` settings; nothing else changes, the modules call the real URLs.

Seeded project ``shieldops-sandbox``: instances ``web-1`` (RUNNING, CPU 23 %) in europe-west1-b and ``web-2``
(TERMINATED by a guest shutdown) in europe-west1-c. Identity: a workload identity pool whose provider accepts two
subject tokens (files, as a CI system or a kubelet would write them); subject ``agent`` may impersonate
``shieldops-agent@`` (may act), subject ``reader`` only ``shieldops-reader@`` (may read).
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...sandbox.backend import MAIN_PROCESS, Samples, StartedBackend, announce, start_and_wait
from ...sandbox.intercepting_proxy import InterceptingProxy
from ...sandbox.tls import TestCA
from .fake_api import FakeGoogle, FakeGoogleServer, ServiceAccount, WorkloadPool

__all__ = ["GOOGLE_HOSTS", "PROJECT", "SAMPLES", "GcpSandboxBackend", "federation_config", "start_gcp"]

PROJECT = "shieldops-sandbox"
PROJECT_NUMBER = "123456789012"
AUDIENCE = (
    f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/shieldops/providers/ci"
)
AGENT_ACCOUNT = f"shieldops-agent@{PROJECT}.iam.gserviceaccount.com"
READER_ACCOUNT = f"shieldops-reader@{PROJECT}.iam.gserviceaccount.com"
# The hosts the proxy hands to the fake: every Google API a GCP run of ours calls.
GOOGLE_HOSTS = (
    "sts.googleapis.com",
    "iamcredentials.googleapis.com",
    "compute.googleapis.com",
    "www.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "container.googleapis.com",
)


def federation_config(
    subject_token_file: Path, service_account: str | None, audience: str = AUDIENCE
) -> dict[str, Any]:
    """An external_account config with a file-sourced subject token, as `gcloud iam workload-identity-pools
    create-cred-config` writes one."""
    config: dict[str, Any] = {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": str(subject_token_file), "format": {"type": "text"}},
    }
    if service_account:
        config["service_account_impersonation_url"] = (
            f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken"
        )
    return config


def _seed(subject_tokens: dict[str, str]) -> FakeGoogle:
    fake = FakeGoogle(
        project=PROJECT,
        project_number=PROJECT_NUMBER,
        pool=WorkloadPool(AUDIENCE, {token: subject for subject, token in subject_tokens.items()}),
        accounts={
            AGENT_ACCOUNT: ServiceAccount(AGENT_ACCOUNT, writer=True, subjects=frozenset({"agent"})),
            READER_ACCOUNT: ServiceAccount(READER_ACCOUNT, writer=False, subjects=frozenset({"reader", "agent"})),
        },
    )
    fake.add_instance("europe-west1-b", "web-1", "RUNNING", {"app": "web", "tier": "frontend"})
    fake.add_instance("europe-west1-c", "web-2", "TERMINATED", {"app": "web", "tier": "frontend"})
    fake.cpu_utilization["web-1"] = 0.23
    fake.gke.add_cluster("europe-west1-b", "sandbox", {"default": (3, False), "spot": (2, True)}, {"env": "sandbox"})
    images = "europe-docker.pkg.dev/shieldops-sandbox/shop"
    fake.run.add_service("europe-west1", "api", f"{images}/api:1.4", {"app": "api"}, min_instances=1)
    fake.run.add_service("europe-west1", "worker", f"{images}/worker-crash:2.0", {"app": "worker"}, min_instances=0)
    now = time.time()
    for zone, name in (("europe-west1-b", "web-1"), ("europe-west1-c", "web-2")):
        fake.add_log_entry(
            "activity",
            "v1.compute.instances.insert",
            f"projects/{PROJECT}/zones/{zone}/instances/{name}",
            "deployer@shieldops-sandbox.iam.gserviceaccount.com",
            now - 86400,
        )
    for name in ("api", "worker"):
        fake.add_log_entry(
            "activity",
            "google.cloud.run.v2.Services.CreateService",
            f"projects/{PROJECT}/locations/europe-west1/services/{name}",
            "deployer@shieldops-sandbox.iam.gserviceaccount.com",
            now - 86400,
            service="run.googleapis.com",
            resource_type="cloud_run_revision",
        )
    fake.add_log_entry(
        "activity",
        "google.cloud.run.v2.Services.UpdateService",
        f"projects/{PROJECT}/locations/europe-west1/services/worker",
        "deployer@shieldops-sandbox.iam.gserviceaccount.com",
        now - 1200,
        service="run.googleapis.com",
        resource_type="cloud_run_revision",
    )
    fake.add_log_entry(
        "system_event",
        "compute.instances.guestTerminate",
        f"projects/{PROJECT}/zones/europe-west1-c/instances/web-2",
        "system",
        now - 1800,
    )
    return fake


def serve(directory: Path) -> None:
    """Run the fake and the proxy until killed (the sandbox starts this in a process of its own)."""
    base = directory / "gcp"
    base.mkdir(parents=True, exist_ok=True)
    subject_tokens = {"agent": secrets.token_urlsafe(32), "reader": secrets.token_urlsafe(32)}
    for subject, token in subject_tokens.items():
        path = base / f"{subject}.subject-token"
        path.touch(mode=0o600)
        path.write_text(token)
    log_lines = open(directory / "logs" / "gcp-requests.log", "a", buffering=1)  # noqa: SIM115 (process-long)
    fake_server = FakeGoogleServer(_seed(subject_tokens), log=lambda line: print(line, file=log_lines))
    fake_server.start()
    ca = TestCA.create(base)
    proxy = InterceptingProxy(
        {host: ("127.0.0.1", fake_server.port) for host in GOOGLE_HOSTS},
        ca,
        log=lambda line: print(line, file=log_lines),
    )
    proxy.start()
    for name, subject, account in (
        ("agent", "agent", AGENT_ACCOUNT),
        ("readonly", "reader", READER_ACCOUNT),
    ):
        config = federation_config(base / f"{subject}.subject-token", account)
        (base / f"{name}-wif.json").write_text(json.dumps(config, indent=2))
    announce(base / "server.json", {"proxy_port": proxy.port, "fake_port": fake_server.port})
    while True:
        time.sleep(3600)


def start_gcp(directory: Path, log_file: Path) -> tuple[int, dict[str, Any]]:
    """Start the fake's process; return its pid and the `gcp` environment's settings."""
    base = directory / "gcp"
    module = "shieldops_ansible.providers.gcp.sandbox"
    pid, ports = start_and_wait(module, directory, base / "server.json", "the GCP API fake", log_file)
    env = {
        "provider": "gcp",
        "project": PROJECT,
        "credentials_file": str(base / "agent-wif.json"),
        "zones": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "regions": ["europe-west1"],
        "https_proxy": f"http://127.0.0.1:{ports['proxy_port']}",
        "ca_file": str(base / "test-ca.pem"),
    }
    return pid, env


_WEB_1 = f"projects/{PROJECT}/zones/europe-west1-b/instances/web-1"
_API = f"projects/{PROJECT}/locations/europe-west1/services/api"

# The `gcp` environment's samples: instance web-1 (running), Cloud Run service api (1 minimum instance).
SAMPLES: Samples = {
    "instance": _WEB_1,
    "service": _API,
    "missing": f"projects/{PROJECT}/zones/europe-west1-b/instances/nope",
    "dry_run_action": {"type": "stop", "resource_id": _WEB_1, "parameters": {}},
    "live_action": {"type": "redeploy", "resource_id": _API, "parameters": {}},
    "repeatable_action": {"type": "scale", "resource_id": _API, "parameters": {"replicas": 1}},
    "secret_env": ["GCP_ACCESS_TOKEN"],
    "secret_files": ["gcp/agent.subject-token", "gcp/reader.subject-token"],
}


class GcpSandboxBackend:
    """The fake Google APIs behind the intercepting proxy; environments `gcp` (impersonates shieldops-agent) and
    `gcp-readonly` (shieldops-reader)."""

    name = "gcp"
    sampled_environments = ("gcp",)

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        pid, env = start_gcp(directory, directory / "logs" / "gcp.log")
        log(f"gcp: Google API fake behind the TLS proxy on {env['https_proxy']}")
        readonly = env | {"credentials_file": str(directory / "gcp" / "readonly-wif.json")}
        return StartedBackend(
            processes={MAIN_PROCESS: {"pid": pid}},
            environments={"gcp": env, "gcp-readonly": readonly},
            resources={"project": PROJECT, "instances": ["web-1", "web-2"], "services": ["api", "worker"]},
            samples={"gcp": SAMPLES},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        """Nothing outlives the fake's process."""


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
