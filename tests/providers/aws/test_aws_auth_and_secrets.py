"""AssumeRole, IAM refusals, and secrets that never reach disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shieldops_ansible import Action, AuthenticationError, PermissionDenied, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.runner import RunnerEngine
from tests.support import Sandbox, arrange_client

pytestmark = pytest.mark.integration


def _variant(sandbox: Sandbox, tmp_path: Path, **overrides: object) -> Path:
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["aws"].update(overrides)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_assume_role_reads_and_read_only_role_cannot_write(sandbox: Sandbox) -> None:
    web1 = sandbox.aws("instance/web-1")
    async with connect("aws-readonly", config=sandbox.config) as ro:
        assert (await ro.get_health(web1)).status == "healthy"
        with pytest.raises(PermissionDenied, match=r"StopInstances|CreateSnapshot"):
            await ro.execute_action(Action(type="stop", resource_id=web1))
        with pytest.raises(PermissionDenied, match="ecs:UpdateService"):
            await ro.execute_action(
                Action(type="scale", resource_id=sandbox.aws("service/api"), parameters={"replicas": 3})
            )
    ec2 = arrange_client(sandbox, "ec2")
    assert ec2.describe_instances(InstanceIds=[web1])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


async def test_unassumable_role_and_bad_source_credentials(sandbox: Sandbox, tmp_path: Path) -> None:
    web1 = sandbox.aws("instance/web-1")
    # A role whose trust policy admits only the Lambda service.
    no_role = _variant(sandbox, tmp_path, role_arn="arn:aws:iam::123456789012:role/lambda-exec")
    async with connect("aws", config=no_role) as conn:
        with pytest.raises(PermissionDenied, match="AssumeRole"):
            await conn.get_health(web1)
    bad_keys = tmp_path / "credentials"
    bad_keys.write_text("[shieldops-sandbox]\naws_access_key_id = AKIAFAKEFAKEFAKE\naws_secret_access_key = nope\n")
    async with connect("aws", config=_variant(sandbox, tmp_path, credentials_file=str(bad_keys))) as conn:
        with pytest.raises(AuthenticationError, match="AssumeRole"):
            await conn.get_health(web1)


async def test_secrets_never_reach_disk(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A secret in our own environment must not be recorded by ansible-runner either.
    monkeypatch.setenv("SHIELDOPS_TEST_API_TOKEN", "canary-token-5e1f")
    artifacts = tmp_path / "artifacts"
    config = load_config(sandbox.config)
    env = config.environment("aws")
    creds = await env.provider.credentials_env(env.settings)
    secrets = [
        creds["AWS_SECRET_ACCESS_KEY"],
        creds["AWS_SESSION_TOKEN"],
        creds["AWS_ACCESS_KEY_ID"],
        "canary-token-5e1f",
    ]
    async with connect("aws", config=sandbox.config, engine=RunnerEngine(keep_artifacts_in=artifacts)) as conn:
        await conn.get_health(sandbox.aws("instance/web-1"))
        snapshot = await conn.create_snapshot(sandbox.aws("service/api"))
        with pytest.raises(Exception):  # noqa: B017 - any failure; its message must be clean too
            await conn.get_health("i-0123456789abcdef0")
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    files += [p for p in sandbox.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files), "ansible-runner's env record is among the scanned files"
    assert any(snapshot.id in p.name for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"secret found in {path}"
    assert not list(artifacts.rglob("*.fifo")), "the secret channel is removed after each run"
