"""The run-environment builder: an allow-list of our environment plus what each provider's credentials need."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shieldops_ansible.engines import runner
from shieldops_ansible.engines.environment import base_environment, connection_environment, provider_env_names
from shieldops_ansible.errors import ConfigError
from shieldops_ansible.providers import PROVIDER_TYPES
from shieldops_ansible.providers.aws import AwsProvider, AwsSettings, _Cached
from shieldops_ansible.providers.azure import AzureProvider, AzureSettings
from shieldops_ansible.providers.gcp import GcpProvider, GcpSettings
from shieldops_ansible.providers.gcp import _Cached as _GcpCached
from shieldops_ansible.providers.kubernetes import KubernetesProvider, KubernetesSettings
from shieldops_ansible.providers.linux import LinuxProvider, LinuxSettings

AGENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/agent",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "SHIELDOPS_PROJECT_DIR": "/srv/project",
    "OPENAI_API_KEY": "sk-canary",
    "FOO_SETTING": "foo-canary",
    "LD_PRELOAD": "/tmp/evil.so",
    "ANSIBLE_CALLBACK_PLUGINS": "/tmp/agent-callbacks",
    "ANSIBLE_LIBRARY": "/tmp/agent-modules",
    "AWS_ACCESS_KEY_ID": "AKIAAGENT",
    "AWS_SECRET_ACCESS_KEY": "agent-secret",
    "AWS_PROFILE": "agent-profile",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/creds",
    "AWS_CA_BUNDLE": "/etc/ca.pem",
    "HTTPS_PROXY": "http://user:pw@proxy:3128",
    "no_proxy": "localhost",
}


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in AGENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def agent_here(agent: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's environment, but this project's folder: the providers' credential code that is the
    collection's (plugin_utils: WIF minting, the Azure identity mapping) loads from there."""
    monkeypatch.setenv("SHIELDOPS_PROJECT_DIR", str(Path(__file__).resolve().parents[2]))


def test_the_base_is_an_allow_list() -> None:
    assert base_environment(AGENT) == {
        "PATH": "/usr/bin",
        "HOME": "/home/agent",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SHIELDOPS_PROJECT_DIR": "/srv/project",
    }
    assert connection_environment(AGENT) == {"HTTPS_PROXY": "http://user:pw@proxy:3128", "no_proxy": "localhost"}


def test_the_runner_engine_records_no_agent_variable(agent: None) -> None:
    seeded = AGENT | {"AWX_ISOLATED_DATA_DIR": "/d/artifacts/1", "RUNNER_OMIT_EVENTS": "False"}
    seeded["ANSIBLE_CALLBACK_PLUGINS"] = "/tmp/agent-callbacks:/site/ansible_runner/display_callback"
    env = runner._run_environment(seeded)
    assert env["AWX_ISOLATED_DATA_DIR"] == "/d/artifacts/1" and env["RUNNER_OMIT_EVENTS"] == "False"
    assert env["ANSIBLE_DISPLAY_TRACEBACK"] == "error" and env["ANSIBLE_CONFIG"].endswith("ansible.cfg")
    assert "/tmp/agent-callbacks" not in env["ANSIBLE_CALLBACK_PLUGINS"]
    for name in ("OPENAI_API_KEY", "FOO_SETTING", "LD_PRELOAD", "ANSIBLE_LIBRARY", "AWS_ACCESS_KEY_ID"):
        assert name not in env
    assert "HTTPS_PROXY" not in env  # a proxy URL may carry a password: the secret channel's


async def test_aws_without_a_role_passes_the_ambient_chain_only(agent: None) -> None:
    settings = AwsSettings(provider="aws", region="eu-west-1", profile="from-settings")
    env = await AwsProvider().credentials_env(settings)
    assert env["AWS_PROFILE"] == "from-settings"  # the settings win over ours
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAAGENT" and env["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/token"
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] and env["AWS_CA_BUNDLE"] == "/etc/ca.pem"
    assert "OPENAI_API_KEY" not in env and "FOO_SETTING" not in env and "HTTPS_PROXY" not in env
    assert set(env) <= AwsProvider.run_env_names


async def test_aws_with_a_role_passes_only_the_assumed_credentials(agent: None) -> None:
    settings = AwsSettings(provider="aws", region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/sre")
    provider = AwsProvider()
    assumed = {"AWS_ACCESS_KEY_ID": "ASIAROLE", "AWS_SECRET_ACCESS_KEY": "r", "AWS_SESSION_TOKEN": "t"}
    provider._cache[settings] = _Cached(env=assumed, expires_at=time.time() + 3600)
    env = await provider.credentials_env(settings)
    assert env["AWS_ACCESS_KEY_ID"] == "ASIAROLE" and env["AWS_CA_BUNDLE"] == "/etc/ca.pem"
    assert "AWS_PROFILE" not in env and "AWS_WEB_IDENTITY_TOKEN_FILE" not in env
    assert set(env) <= AwsProvider.run_env_names


async def test_gcp_passes_only_the_minted_token_and_its_own_connection_settings(agent_here: None) -> None:
    settings = GcpSettings(provider="gcp", project="acme-prod", credentials_file="/wif.json")
    provider = GcpProvider()
    provider._cache[("/wif.json", None, None)] = _GcpCached("ya29.minted", time.time() + 3600)
    env = await provider.credentials_env(settings)
    assert env == {"GCP_AUTH_KIND": "accesstoken", "GCP_ACCESS_TOKEN": "ya29.minted", "GCP_PROJECT": "acme-prod"}
    # Shortly before it expires, the token is minted again (here: from a config that does not exist).
    provider._cache[("/wif.json", None, None)] = _GcpCached("ya29.old", time.time() + 60)
    with pytest.raises(ConfigError, match=r"cannot read credentials_file /wif\.json"):
        await provider.credentials_env(settings)


async def test_azure_passes_where_the_identity_is_and_no_secret(agent_here: None) -> None:
    settings = AzureSettings(
        provider="azure",
        subscription_id="1E2D3C4B-5A69-4788-9A0B-C1D2E3F4A5B6",
        auth="workload_identity",
        client_id="0a1b2c3d-0000-4000-8000-00000000a003",
        tenant_id="5f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
        federated_token_file="/var/run/secrets/azure/tokens/azure-identity-token",
    )
    env = await AzureProvider().credentials_env(settings)
    assert env == {
        "ANSIBLE_AZURE_AUTH_SOURCE": "msi",
        "AZURE_SUBSCRIPTION_ID": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
        "AZURE_CLIENT_ID": "0a1b2c3d-0000-4000-8000-00000000a003",
        "AZURE_TENANT_ID": "5f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
        "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com",
    }
    # A workload identity needs its tenant and token file; a managed identity takes neither.
    with pytest.raises(ValueError, match="needs tenant_id, federated_token_file"):
        AzureSettings(
            provider="azure",
            subscription_id=settings.subscription_id,
            auth="workload_identity",
            client_id=settings.client_id,
        )
    with pytest.raises(ValueError, match="apply only to auth: workload_identity"):
        AzureSettings(provider="azure", subscription_id=settings.subscription_id, tenant_id=settings.tenant_id)


async def test_every_provider_declares_what_its_credentials_return(tmp_path: Path, agent_here: None) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    sock = tmp_path / "agent.sock"
    sock.write_text("")
    cases = [
        (KubernetesProvider(), KubernetesSettings(provider="kubernetes", kubeconfig="/k", context="c")),
        (
            KubernetesProvider(),
            KubernetesSettings(provider="kubernetes", server="https://k:6443", ca_file="/ca", token_file=str(token)),
        ),
        (LinuxProvider(), LinuxSettings(provider="linux", inventory="/i", ssh_auth_sock=str(sock), known_hosts="/kh")),
    ]
    gcp = GcpProvider()
    gcp_settings = GcpSettings(
        provider="gcp",
        project="acme-prod",
        credentials_file="/wif.json",
        quota_project="acme-billing",
        https_proxy="http://proxy:3128",
        ca_file="/ca.pem",
    )
    gcp._cache[("/wif.json", "http://proxy:3128", "/ca.pem")] = _GcpCached("ya29.minted", time.time() + 3600)
    cases.append((gcp, gcp_settings))
    azure_base = {"provider": "azure", "subscription_id": "00000000-0000-0000-0000-000000000000"}
    for azure_settings in (
        AzureSettings(
            **azure_base,
            client_id="0a1b2c3d-0000-4000-8000-00000000a001",
            identity_endpoint="http://127.0.0.1:1",
            https_proxy="http://proxy:3128",
            ca_file="/ca.pem",
        ),
        AzureSettings(
            **azure_base,
            auth="workload_identity",
            client_id="0a1b2c3d-0000-4000-8000-00000000a003",
            tenant_id="5f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
            federated_token_file=str(token),
        ),
    ):
        cases.append((AzureProvider(), azure_settings))
    for provider, settings in cases:
        env = await provider.credentials_env(settings)
        assert env and set(env) <= type(provider).run_env_names, type(provider).__name__
    assert set(PROVIDER_TYPES) == {"aws", "azure", "gcp", "kubernetes", "linux"}  # a new provider: add its case above
    assert "OPENAI_API_KEY" not in provider_env_names() and "LD_PRELOAD" not in provider_env_names()
