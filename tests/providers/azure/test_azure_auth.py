"""How an Azure environment authenticates, through the facade: workload identity (a federated token file exchanged
at Entra ID) as well as a managed identity, the host's system-assigned identity when no client id is named, and the
errors a wrong identity gives. Nothing but where the identity is reaches a run."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from shieldops_ansible import Action, AuthenticationError, PermissionDenied, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.providers.azure.sandbox import WORKLOAD_CLIENT_ID, workload_identity_settings
from tests.providers.azure.conftest import WEB_1, AzureSandbox

pytestmark = pytest.mark.integration


def _config_with(azure_sandbox: AzureSandbox, tmp_path: Path, **environments: dict[str, object]) -> Path:
    doc = yaml.safe_load(azure_sandbox.config.read_text())
    doc["environments"].update(environments)
    path = tmp_path / "shieldops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_workload_identity_reads_and_acts(azure_sandbox: AzureSandbox, tmp_path: Path) -> None:
    operator = yaml.safe_load(azure_sandbox.config.read_text())["environments"]["azure"]
    settings = workload_identity_settings(operator, azure_sandbox.directory)
    config = _config_with(azure_sandbox, tmp_path, **{"azure-wi": settings})
    environment = load_config(config).environment("azure-wi")
    env = await environment.provider.credentials_env(environment.settings)
    # The run is told where the token file is, never what it holds; no identity endpoint is named at all.
    assert env["AZURE_FEDERATED_TOKEN_FILE"] == str(azure_sandbox.directory / "azure" / "workload-identity.token")
    assert "AZURE_POD_IDENTITY_AUTHORITY_HOST" not in env
    token = Path(env["AZURE_FEDERATED_TOKEN_FILE"]).read_text().strip()
    assert token not in str(env)
    async with connect("azure-wi", config=config) as azure:
        assert len(await azure.list_resources("instance", {})) == 2
        result = await azure.execute_action(Action(type="restart", resource_id=WEB_1, reason="test"))
        assert result.status == "succeeded" and result.snapshot_id
    # ARM saw the app registration federated with the token file act (the Activity Log names a principal by its
    # object id, which the fake derives from the client id).
    callers = [e["caller"] for e in azure_sandbox.activity_log() if e["resourceId"].lower() == WEB_1.lower()]
    assert callers[-1] == str(uuid.uuid5(uuid.NAMESPACE_URL, WORKLOAD_CLIENT_ID))


async def test_a_wrong_federated_token_is_an_authentication_error(azure_sandbox: AzureSandbox, tmp_path: Path) -> None:
    operator = yaml.safe_load(azure_sandbox.config.read_text())["environments"]["azure"]
    forged = tmp_path / "forged.token"
    forged.write_text("eyJhbGciOiJSUzI1NiJ9.forged.signature")
    settings = workload_identity_settings(operator, azure_sandbox.directory) | {"federated_token_file": str(forged)}
    config = _config_with(azure_sandbox, tmp_path, **{"azure-forged": settings})
    async with connect("azure-forged", config=config) as azure:
        with pytest.raises(AuthenticationError, match="AADSTS") as raised:
            await azure.list_resources("instance", {})
    assert "forged.signature" not in str(raised.value)


async def test_the_system_assigned_identity_only_reads(azure_sandbox: AzureSandbox, tmp_path: Path) -> None:
    """No client_id: the host's system-assigned identity, which the sandbox gives Reader (least privilege)."""
    operator = yaml.safe_load(azure_sandbox.config.read_text())["environments"]["azure"]
    system = {k: v for k, v in operator.items() if k != "client_id"}
    config = _config_with(azure_sandbox, tmp_path, **{"azure-system": system})
    async with connect("azure-system", config=config) as azure:
        assert len(await azure.list_resources("instance", {})) == 2
        with pytest.raises(PermissionDenied, match="AuthorizationFailed"):
            await azure.create_snapshot(WEB_1)


async def test_an_unknown_managed_identity_is_an_authentication_error(
    azure_sandbox: AzureSandbox, tmp_path: Path
) -> None:
    operator = yaml.safe_load(azure_sandbox.config.read_text())["environments"]["azure"]
    unknown = operator | {"client_id": "0a1b2c3d-0000-4000-8000-0000000000ff"}
    config = _config_with(azure_sandbox, tmp_path, **{"azure-unknown": unknown})
    async with connect("azure-unknown", config=config) as azure:
        with pytest.raises(AuthenticationError):
            await azure.get_health(WEB_1)
