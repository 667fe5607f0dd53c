"""Azure Function apps through the real path (see test_azure_vm.py): list, health with the Functions host's
status, Activity Log events, start/stop/restart and slot swaps, and snapshots that keep app settings as digests."""

from __future__ import annotations

import pytest

from shieldops_ansible import Action, InfraConnector, InvalidRequest, ResourceNotFound, TimeRange, connect
from shieldops_ansible.providers.azure.sandbox import SUBSCRIPTION
from tests.providers.azure.conftest import AzureSandbox
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration

SITES = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-functions/providers/Microsoft.Web/sites"
THUMBNAILER = f"{SITES}/thumbnailer"
INGEST = f"{SITES}/ingest"


@pytest.mark.parametrize("azure", ["warm", "runner"], indirect=True)
async def test_list_health_and_events(azure: InfraConnector) -> None:
    apps = await azure.list_resources("function", {})
    assert [(a.name, a.state, a.native_type) for a in apps] == [
        ("ingest", "stopped", "function_app"),
        ("thumbnailer", "running", "function_app"),
    ]
    assert apps[1].id == THUMBNAILER and apps[1].region == "westeurope"
    assert [a.name for a in await azure.list_resources("function_app", {"state": "running"})] == ["thumbnailer"]
    healthy = await azure.get_health(THUMBNAILER)
    assert healthy.status == "healthy", healthy.checks
    assert {c.name for c in healthy.checks} >= {"state", "availability", "functions_host"}
    stopped = await azure.get_health(INGEST)
    assert stopped.status == "unhealthy" and stopped.checks[0].message == "app is Stopped"
    with pytest.raises(ResourceNotFound):
        await azure.get_health(f"{SITES}/nope")
    events = await azure.get_events(THUMBNAILER, TimeRange.last(minutes=48 * 60))
    assert events and all(e.resource_id == THUMBNAILER for e in events)


async def test_dry_runs_predict_and_refuse_what_cannot_run(azure: InfraConnector) -> None:
    stop = await azure.execute_action(Action(type="stop", resource_id=THUMBNAILER, dry_run=True))
    assert stop.changed and stop.diff == {"before": {"state": "Running"}, "after": {"state": "Stopped"}}
    start = await azure.execute_action(Action(type="start", resource_id=THUMBNAILER, dry_run=True))
    assert not start.changed
    swap = await azure.execute_action(
        Action(type="azure_swap_slot", resource_id=THUMBNAILER, parameters={"slot": "staging"}, dry_run=True)
    )
    assert swap.changed and swap.diff["after"] == {"production": "staging", "staging": "production"}
    with pytest.raises(InvalidRequest, match="thumbnailer has no slot 'canary' \\(it has: staging\\)"):
        await azure.execute_action(
            Action(type="azure_swap_slot", resource_id=THUMBNAILER, parameters={"slot": "canary"}, dry_run=True)
        )
    with pytest.raises(InvalidRequest, match="restart needs a running app; ingest is Stopped"):
        await azure.execute_action(Action(type="restart", resource_id=INGEST, dry_run=True))


async def test_swap_stop_and_rollback_from_a_second_process(azure_sandbox: AzureSandbox) -> None:
    assert azure_sandbox.app_settings(THUMBNAILER)["APP_VERSION"] == "1.4.2"
    async with connect("azure", config=azure_sandbox.config) as azure:
        snapshot = await azure.create_snapshot(THUMBNAILER)
        # Values only of the settings the environment opted in (APP_VERSION); the others as digests.
        assert snapshot.state["settings_values"] == {"APP_VERSION": "1.4.2"}
        assert set(snapshot.state["settings_digests"]) >= {"AzureWebJobsStorage__accountName", "APP_VERSION"}
        assert "stthumbnailer" not in str(snapshot.model_dump())
        swapped = await azure.execute_action(
            Action(type="azure_swap_slot", resource_id=THUMBNAILER, parameters={"slot": "staging"}, reason="t")
        )
        assert swapped.status == "succeeded" and swapped.snapshot_id
        assert azure_sandbox.app_settings(THUMBNAILER)["APP_VERSION"] == "1.5.0"
        stopped = await azure.execute_action(Action(type="stop", resource_id=THUMBNAILER, reason="test"))
        assert stopped.diff["after"] == {"state": "Stopped"}
        assert azure_sandbox.resource(THUMBNAILER)["properties"]["state"] == "Stopped"
    result = rollback_in_new_process(Sandbox(azure_sandbox.directory, azure_sandbox.config, {}), "azure", snapshot.id)
    assert result["success"] and result["restored"] == ["slot staging swapped back", "state Running"], result
    assert azure_sandbox.app_settings(THUMBNAILER)["APP_VERSION"] == "1.4.2"
    assert azure_sandbox.app_settings(f"{THUMBNAILER}/slots/staging")["APP_VERSION"] == "1.5.0"
    assert azure_sandbox.resource(THUMBNAILER)["properties"]["state"] == "Running"
