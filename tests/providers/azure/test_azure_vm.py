"""Azure VMs through the real path: facade -> engine -> playbook -> azure role -> azure.azcollection and our
modules -> HTTPS through the intercepting proxy -> the wire-level ARM fake, authenticated by a managed identity
(azure-identity at the fake identity endpoint, per module run)."""

from __future__ import annotations

import json

import pytest

from shieldops_ansible import (
    Action,
    ActionNotSupported,
    InfraConnector,
    InvalidRequest,
    PermissionDenied,
    ResourceNotFound,
    TimeRange,
    connect,
)
from shieldops_ansible.config import load_config
from shieldops_ansible.snapshots import signing
from tests.providers.azure.conftest import RG_WEB, WEB_1, WEB_2, AzureSandbox
from tests.support import Sandbox, rollback_in_new_process

pytestmark = pytest.mark.integration

OTHER_SUBSCRIPTION = "/subscriptions/99999999-9999-4999-8999-999999999999/resourceGroups/rg-web"


async def test_list_across_the_subscription_with_filters(azure: InfraConnector) -> None:
    vms = await azure.list_resources("instance", {})
    assert [(v.name, v.state, v.native_type) for v in vms] == [("web-1", "running", "vm"), ("web-2", "stopped", "vm")]
    assert vms[0].id == WEB_1 and vms[0].region == "westeurope" and vms[0].tags == {"app": "web", "tier": "frontend"}
    assert vms[1].raw["power_state"] == "deallocated"
    assert [v.name for v in await azure.list_resources("vm", {"state": "running"})] == ["web-1"]
    assert len(await azure.list_resources("instance", {"resource_group": "RG-WEB", "location": "West Europe"})) == 2
    assert await azure.list_resources("instance", {"resource_group": "rg-functions"}) == []
    assert await azure.list_resources("instance", {"location": "eastus"}) == []
    assert await azure.list_resources("service", {}) == []
    with pytest.raises(InvalidRequest, match=r"filters\.resource_group is not a resource group name"):
        await azure.list_resources("instance", {"resource_group": "rg/../other"})


@pytest.mark.parametrize("azure", ["warm", "runner"], indirect=True)
async def test_health_of_a_running_and_a_deallocated_vm(azure: InfraConnector) -> None:
    healthy = await azure.get_health(WEB_1)
    assert healthy.status == "healthy" and healthy.metrics["cpu_percent"] == pytest.approx(23, abs=2)
    assert {c.name for c in healthy.checks} == {"power_state", "provisioning", "vm_agent", "resource_health", "cpu"}
    stopped = await azure.get_health(WEB_2)
    assert stopped.status == "unhealthy" and "cpu_percent" not in stopped.metrics
    checks = {c.name: c for c in stopped.checks}
    assert checks["power_state"].message == "VM deallocated"
    assert checks["resource_health"].status == "unhealthy"
    # ARM ids are case-insensitive; the answer names the VM as ARM spells it.
    shouted = await azure.get_health(WEB_1.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
    assert shouted.resource_id == WEB_1
    with pytest.raises(ResourceNotFound, match=r"ResourceNotFound|no virtual machine"):
        await azure.get_health(f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/nope")
    with pytest.raises(InvalidRequest, match="is not a azure resource id"):
        await azure.get_health(f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/bad name")
    # The modules take the subscription from the environment: an id of another subscription must not reach the
    # same-named VM of this one.
    with pytest.raises(InvalidRequest, match="is in subscription 99999999"):
        await azure.get_health(f"{OTHER_SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachines/web-1")


async def test_events_from_the_activity_log_and_resource_health(azure: InfraConnector) -> None:
    events = await azure.get_events(WEB_2, TimeRange.last(minutes=48 * 60))
    sources = {e.source for e in events}
    assert {"activity_log/Administrative", "resource_health"} <= sources
    assert "deallocate" in {e.type for e in events}
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    assert all(e.resource_id == WEB_2 for e in events)
    assert any(e.source == "resource_health" and e.severity == "error" for e in events)


async def test_a_dry_run_reports_the_change_and_writes_nothing(
    azure: InfraConnector, azure_sandbox: AzureSandbox
) -> None:
    before = len(azure_sandbox.activity_log())
    result = await azure.execute_action(Action(type="stop", resource_id=WEB_1, dry_run=True, reason="check"))
    assert result.status == "dry_run" and result.changed
    assert result.diff == {"before": {"power_state": "running"}, "after": {"power_state": "deallocated"}}
    off = await azure.execute_action(
        Action(type="stop", resource_id=WEB_1, parameters={"deallocate": False}, dry_run=True)
    )
    assert off.diff["after"] == {"power_state": "stopped"}
    unchanged = await azure.execute_action(Action(type="start", resource_id=WEB_1, dry_run=True))
    assert unchanged.status == "dry_run" and not unchanged.changed
    assert azure_sandbox.power_state(WEB_1) == "running"
    assert len(azure_sandbox.activity_log()) == before  # not one write reached ARM
    with pytest.raises(ActionNotSupported, match="it supports: restart, start, stop"):
        await azure.execute_action(Action(type="scale", resource_id=WEB_1, parameters={"replicas": 2}, dry_run=True))
    with pytest.raises(InvalidRequest, match="deallocate must be true or false"):
        await azure.execute_action(
            Action(type="stop", resource_id=WEB_1, parameters={"deallocate": "yes"}, dry_run=True)
        )


async def test_stop_start_restart_snapshot_first_and_keep_the_vm(azure_sandbox: AzureSandbox) -> None:
    before = azure_sandbox.resource(WEB_1)
    async with connect("azure", config=azure_sandbox.config) as azure:
        stopped = await azure.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
        assert stopped.status == "succeeded" and stopped.snapshot_id
        assert stopped.diff == {"before": {"power_state": "running"}, "after": {"power_state": "deallocated"}}
        assert azure_sandbox.power_state(WEB_1) == "deallocated"
        started = await azure.execute_action(Action(type="start", resource_id=WEB_1, reason="test"))
        assert started.status == "succeeded" and started.diff["after"] == {"power_state": "running"}
        off = await azure.execute_action(
            Action(type="stop", resource_id=WEB_1, parameters={"deallocate": False}, reason="test")
        )
        assert off.diff["after"] == {"power_state": "stopped"} and azure_sandbox.power_state(WEB_1) == "stopped"
        await azure.execute_action(Action(type="start", resource_id=WEB_1, reason="test"))
        restarted = await azure.execute_action(Action(type="restart", resource_id=WEB_1, reason="test"))
        assert restarted.status == "succeeded" and restarted.details["powerstate_change"] == "restarted"
        snapshot = await azure.create_snapshot(WEB_1)
    after = azure_sandbox.resource(WEB_1)
    # Power changes are POSTs of the power actions: no PUT of the VM changed its size, tags or disks.
    for key in ("tags", "location"):
        assert after[key] == before[key]
    assert after["properties"]["hardwareProfile"] == before["properties"]["hardwareProfile"]
    assert after["properties"]["storageProfile"] == before["properties"]["storageProfile"]
    assert snapshot.kind == "azure_vm_disks" and snapshot.state["power_state"] == "running"
    assert [d["role"] for d in snapshot.handles["disks"]] == ["os", "data"]
    assert azure_sandbox.power_state(WEB_1) == "running"


async def test_rollback_from_a_second_process_restores_every_disk(azure_sandbox: AzureSandbox) -> None:
    os_disk, data_disk = azure_sandbox.os_disk_id(WEB_1), azure_sandbox.data_disk_ids(WEB_1)[0]
    async with connect("azure", config=azure_sandbox.config) as azure:
        azure_sandbox.disk_content(os_disk, write="os release 41")
        azure_sandbox.disk_content(data_disk, write="data of release 41")
        snapshot = await azure.create_snapshot(WEB_1)
        azure_sandbox.disk_content(os_disk, write="os release 42, broken")
        azure_sandbox.disk_content(data_disk, write="data of release 42")
        await azure.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
    result = rollback_in_new_process(Sandbox(azure_sandbox.directory, azure_sandbox.config, {}), "azure", snapshot.id)
    assert result["success"], result
    new_os, new_data = azure_sandbox.os_disk_id(WEB_1), azure_sandbox.data_disk_ids(WEB_1)
    assert new_os.lower() != os_disk.lower() and len(new_data) == 1 and new_data[0].lower() != data_disk.lower()
    assert azure_sandbox.disk_content(new_os) == "os release 41"
    assert azure_sandbox.disk_content(new_data[0]) == "data of release 41"
    # The disks taken off stay, detached, with what they held.
    assert azure_sandbox.disk_content(os_disk) == "os release 42, broken"
    assert azure_sandbox.resource(data_disk)["properties"]["diskState"] == "Unattached"
    assert azure_sandbox.power_state(WEB_1) == "running"
    assert azure_sandbox.resource(WEB_1)["tags"] == {"app": "web", "tier": "frontend"}


async def test_a_snapshot_of_another_vm_is_refused(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure", config=azure_sandbox.config) as azure:
        snapshot = await azure.create_snapshot(WEB_2)
    # A document that fails its signature never gets this far; one signed with the installation's key that names
    # another VM is checked against the disk snapshots' tags and sources before the first write.
    settings = load_config(azure_sandbox.config)
    path = settings.state_dir / "snapshots" / f"{snapshot.id}.json"
    document = json.loads(path.read_text()) | {"resource_id": WEB_1}
    path.write_text(json.dumps(signing().sign(document, signing().load_or_create_key(str(settings.snapshot_key_file)))))
    async with connect("azure", config=azure_sandbox.config) as azure:
        with pytest.raises(InvalidRequest, match="is tagged for another snapshot or VM"):
            await azure.rollback(snapshot.id)
    assert azure_sandbox.power_state(WEB_1) == "running"


async def test_the_reader_identity_reads_and_is_refused_a_write(azure_sandbox: AzureSandbox) -> None:
    async with connect("azure-readonly", config=azure_sandbox.config) as ro:
        assert len(await ro.list_resources("instance", {})) == 2
        assert (await ro.execute_action(Action(type="stop", resource_id=WEB_1, dry_run=True))).changed
        with pytest.raises(PermissionDenied, match=r"AuthorizationFailed.*Microsoft\.Compute/snapshots/write"):
            await ro.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
    assert azure_sandbox.power_state(WEB_1) == "running"
