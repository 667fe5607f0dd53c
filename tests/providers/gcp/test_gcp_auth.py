"""Workload Identity Federation against the fake's STS and IAM credentials endpoints, and where its secrets go:
the subject tokens and the minted access token never reach anything we write or say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import (
    Action,
    AuthenticationError,
    ConfigError,
    PermissionDenied,
    ShieldOpsError,
    TimeRange,
    connect,
)
from shieldops_ansible.config import load_config
from shieldops_ansible.providers.gcp.sandbox import AUDIENCE
from tests.providers.gcp.conftest import WEB_1, GcpSandbox
from tests.support import read_text

pytestmark = pytest.mark.integration


def _variant(gcp_sandbox: GcpSandbox, tmp_path: Path, **wif: Any) -> Path:
    """The sandbox's config with the `gcp` environment's WIF config changed by ``wif`` (None removes a key)."""
    doc = yaml.safe_load(gcp_sandbox.config.read_text())
    settings = doc["environments"]["gcp"]
    config = json.loads(Path(settings["credentials_file"]).read_text())
    for key, value in wif.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (tmp_path / "wif.json").write_text(json.dumps(config))
    settings["credentials_file"] = str(tmp_path / "wif.json")
    (tmp_path / "shieldops.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path / "shieldops.yaml"


async def _health(config: Path) -> None:
    async with connect("gcp", config=config) as conn:
        await conn.get_health(WEB_1)


async def test_a_wrong_audience_is_an_authentication_error(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    config = _variant(gcp_sandbox, tmp_path, audience=AUDIENCE.replace("/providers/ci", "/providers/other"))
    with pytest.raises(AuthenticationError, match="the STS token exchange was refused: invalid_target"):
        await _health(config)


async def test_an_unknown_subject_token_is_an_authentication_error(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    (tmp_path / "forged.token").write_text("not-a-token-the-pool-knows")
    source = {"file": str(tmp_path / "forged.token"), "format": {"type": "text"}}
    with pytest.raises(AuthenticationError, match="refused: invalid_grant"):
        await _health(_variant(gcp_sandbox, tmp_path, credential_source=source))


async def test_a_missing_subject_token_file_is_an_authentication_error(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    source = {"file": str(tmp_path / "absent.token"), "format": {"type": "text"}}
    with pytest.raises(AuthenticationError, match="subject token could not be read"):
        await _health(_variant(gcp_sandbox, tmp_path, credential_source=source))


async def test_impersonating_an_account_not_granted_is_permission_denied(
    gcp_sandbox: GcpSandbox, tmp_path: Path
) -> None:
    url = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/owner@x.iam.gserviceaccount.com"
    config = _variant(gcp_sandbox, tmp_path, service_account_impersonation_url=url + ":generateAccessToken")
    with pytest.raises(PermissionDenied, match="impersonation refused: PERMISSION_DENIED"):
        await _health(config)


async def test_the_federated_token_alone_may_not_call_compute(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    """Without impersonation the federated principal is used as it is; the sandbox's pool grants it nothing."""
    config = _variant(gcp_sandbox, tmp_path, service_account_impersonation_url=None)
    with pytest.raises(PermissionDenied, match=r"Required 'compute\.instances\.list' permission"):
        await _health(config)


async def test_a_service_account_key_is_refused(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    config = _variant(gcp_sandbox, tmp_path, type="service_account", private_key="-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ConfigError, match="never service-account keys"):
        await _health(config)


async def test_the_token_is_minted_once_and_reused(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    log = gcp_sandbox.directory / "logs" / "gcp-requests.log"
    before = log.read_text().count("sts.googleapis.com/v1/token")
    config = _variant(gcp_sandbox, tmp_path)  # a config of its own: nothing cached for it yet
    async with connect("gcp", config=config) as conn:
        for _ in range(3):
            await conn.get_health(WEB_1)
        await conn.list_resources("instance", {})
    lines = log.read_text()
    assert lines.count("sts.googleapis.com/v1/token") - before == 1
    assert "cloudresourcemanager" not in lines


async def test_no_secret_reaches_anything_written_or_said(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    """The warm engine's side; tests/integration/test_secrets_hygiene.py[gcp-runner] scans the runner's artifacts
    for the same token through every operation."""
    doc = yaml.safe_load(gcp_sandbox.config.read_text())
    doc["audit_log"] = str(tmp_path / "audit.jsonl")
    doc["state_dir"] = str(tmp_path / "state")
    config = tmp_path / "shieldops.yaml"
    config.write_text(yaml.safe_dump(doc))
    events: list[Any] = []
    said: list[str] = []
    async with connect("gcp", config=config, on_event=events.append) as conn:
        await conn.list_resources("instance", {})
        await conn.get_health(WEB_1)
        await conn.get_events(WEB_1, TimeRange.last(minutes=30))
        said.append(
            (await conn.execute_action(Action(type="restart", resource_id=WEB_1, reason="x"))).model_dump_json()
        )
        snapshot = await conn.create_snapshot(WEB_1)
        said.append((await conn.rollback(snapshot.id)).model_dump_json())
        for failing in (conn.get_health(WEB_1.replace("web-1", "nope")), conn.rollback("snap-doesnotexist0000")):
            try:
                await failing
            except ShieldOpsError as exc:
                said.append(f"{type(exc).__name__}: {exc}")
    environment = load_config(config).environment("gcp")
    token = (await environment.provider.credentials_env(environment.settings))["GCP_ACCESS_TOKEN"]
    secrets = [token, *gcp_sandbox.secret_files()]
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    files.append(tmp_path / "audit.jsonl")
    texts = [read_text(p) for p in files] + said + [json.dumps(events, default=str)]
    assert len(said) == 4 and len(events) > 20
    for secret in secrets:
        assert len(secret) > 20 and not any(secret in text for text in texts)
