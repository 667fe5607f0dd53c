"""The GCP provider through the real path: facade -> engine -> playbook -> gcp role -> google.cloud and our
modules -> HTTPS through the intercepting proxy -> the wire-level fake, with access tokens minted by Workload
Identity Federation (STS + impersonation at the fake)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

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
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.snapshots import signing
from tests.providers.gcp.conftest import WEB_1, WEB_2, GcpSandbox
from tests.support import Sandbox, rollback_in_new_process, run_local_play

pytestmark = pytest.mark.integration

BOTH_ENGINES = pytest.mark.parametrize("gcp", ["warm", "runner"], indirect=True)


@pytest.fixture(params=["warm"])
async def gcp(request: pytest.FixtureRequest, gcp_sandbox: GcpSandbox, tmp_path: Path) -> AsyncIterator[InfraConnector]:
    """A connector of the `gcp` environment through the warm engine, or through each engine for a test marked
    BOTH_ENGINES: one read test per type runs on the runner too (engine parity and secrets hygiene run every GCP
    operation on both engines, so each further runner case repeated them at ~15-45 s)."""
    engine = RunnerEngine(keep_artifacts_in=tmp_path / "artifacts") if request.param == "runner" else None
    async with connect("gcp", config=gcp_sandbox.config, engine=engine) as conn:
        yield conn


async def test_list_across_zones_with_filters(gcp: InfraConnector) -> None:
    found = {r.id: r for r in await gcp.list_resources("instance", {})}
    assert sorted(found) == [WEB_1, WEB_2]
    web1 = found[WEB_1]
    assert (web1.type, web1.native_type, web1.provider, web1.region) == (
        "instance",
        "gce_instance",
        "gcp",
        "europe-west1-b",
    )
    assert web1.state == "running" and found[WEB_2].state == "stopped"
    assert web1.tags == {"app": "web", "tier": "frontend"} and web1.raw["machine_type"] == "e2-small"
    assert [r.id for r in await gcp.list_resources("gce_instance", {"zone": "europe-west1-c"})] == [WEB_2]
    assert [r.id for r in await gcp.list_resources("instance", {"location": "europe-west1"})] == [WEB_1, WEB_2]
    assert await gcp.list_resources("instance", {"location": "us-central1"}) == []
    assert [r.id for r in await gcp.list_resources("instance", {"state": "running", "tags": {"app": "web"}})] == [WEB_1]
    assert [r.id for r in await gcp.list_resources("instance", {"name": "web-*2"})] == [WEB_2]
    with pytest.raises(InvalidRequest, match="unknown filter"):
        await gcp.list_resources("instance", {"namespace": "x"})


@BOTH_ENGINES
async def test_health_of_a_running_and_a_stopped_instance(gcp: InfraConnector) -> None:
    healthy = await gcp.get_health(WEB_1)
    assert healthy.status == "healthy" and healthy.metrics["cpu_percent"] == pytest.approx(23.0)
    assert {c.name for c in healthy.checks} == {"status", "cpu"}
    stopped = await gcp.get_health(WEB_2)
    assert stopped.status == "unhealthy" and stopped.checks[0].message == "instance is TERMINATED"
    assert "cpu_percent" not in stopped.metrics
    with pytest.raises(ResourceNotFound, match="no Compute Engine instance"):
        await gcp.get_health("projects/shieldops-sandbox/zones/europe-west1-b/instances/nope")
    with pytest.raises(InvalidRequest, match="is not a gcp resource id"):
        await gcp.get_health("projects/shieldops-sandbox/zones/europe-west1-b/instances/Bad_Name")
    # The modules take the project from the environment: an id of another project must not reach the same-named
    # instance of this one.
    with pytest.raises(InvalidRequest, match="is in project acme-other; this environment works in shieldops-sandbox"):
        await gcp.get_health("projects/acme-other/zones/europe-west1-b/instances/web-1")
    with pytest.raises(InvalidRequest, match="is in project acme-other"):
        await gcp.execute_action(
            Action(type="stop", resource_id="projects/acme-other/zones/europe-west1-b/instances/web-1", dry_run=True)
        )


async def test_events_from_the_audit_logs(gcp: InfraConnector) -> None:
    events = await gcp.get_events(WEB_2, TimeRange.last(minutes=48 * 60))
    kinds = [(e.type, e.source) for e in events]
    assert ("insert", "cloud_audit_logs/activity") in kinds
    assert ("guestTerminate", "cloud_audit_logs/system_event") in kinds
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    assert all(e.resource_id == WEB_2 for e in events)
    assert await gcp.get_events(WEB_2, TimeRange.last(minutes=5)) == []


async def test_a_dry_run_reports_the_change_and_writes_nothing(gcp: InfraConnector, gcp_sandbox: GcpSandbox) -> None:
    result = await gcp.execute_action(Action(type="stop", resource_id=WEB_1, dry_run=True, reason="check"))
    assert result.status == "dry_run" and result.changed
    assert result.diff == {"before": {"status": "RUNNING"}, "after": {"status": "TERMINATED"}}
    assert gcp_sandbox.instance(WEB_1)["status"] == "RUNNING"
    unchanged = await gcp.execute_action(Action(type="start", resource_id=WEB_1, dry_run=True))
    assert unchanged.status == "dry_run" and not unchanged.changed
    with pytest.raises(ActionNotSupported, match="it supports: restart, start, stop"):
        await gcp.execute_action(Action(type="scale", resource_id=WEB_1, parameters={"replicas": 2}, dry_run=True))


async def test_restart_of_a_stopped_instance_says_to_start_it(gcp: InfraConnector) -> None:
    with pytest.raises(InvalidRequest, match="restart \\(reset\\) needs a RUNNING instance; web-2 is TERMINATED"):
        await gcp.execute_action(Action(type="restart", resource_id=WEB_2, dry_run=True))


async def test_stop_and_start_snapshot_first_and_keep_the_labels(gcp_sandbox: GcpSandbox) -> None:
    """The labels survive a power change: google.cloud's gcp_compute_instance, given a status, wipes them (see
    test_the_upstream_module_wipes_labels, which shows the fake reproduces that)."""
    before = gcp_sandbox.instance(WEB_1)
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        stopped = await gcp.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
        assert stopped.status == "succeeded" and stopped.snapshot_id
        assert stopped.diff == {"before": {"status": "RUNNING"}, "after": {"status": "TERMINATED"}}
        assert gcp_sandbox.instance(WEB_1)["status"] == "TERMINATED"
        started = await gcp.execute_action(Action(type="start", resource_id=WEB_1, reason="test"))
        assert started.status == "succeeded" and started.diff["after"] == {"status": "RUNNING"}
        reset = await gcp.execute_action(Action(type="restart", resource_id=WEB_1, reason="test"))
        assert reset.status == "succeeded" and reset.details["operations"]
        snapshot = await gcp.create_snapshot(WEB_1)
    after = gcp_sandbox.instance(WEB_1)
    assert after["labels"] == before["labels"] == {"app": "web", "tier": "frontend"}
    assert after["labelFingerprint"] == before["labelFingerprint"]
    assert after["machineType"] == before["machineType"] and after["deletionProtection"] is False
    assert snapshot.kind == "gce_disks" and snapshot.state["status"] == "RUNNING"
    assert [d["device_name"] for d in snapshot.handles["disks"]] == ["persistent-disk-0"]


async def test_rollback_from_a_second_process_restores_the_disk(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        gcp_sandbox.disk_content(WEB_1, write="release 41")
        snapshot = await gcp.create_snapshot(WEB_1)
        gcp_sandbox.disk_content(WEB_1, write="release 42, broken")
        await gcp.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
    old_disk = gcp_sandbox.disk_content(WEB_1)["disk"]
    result = rollback_in_new_process(Sandbox(gcp_sandbox.directory, gcp_sandbox.config, {}), "gcp", snapshot.id)
    assert result["success"] and result["restored"] == ["disk persistent-disk-0", "status RUNNING"]
    now = gcp_sandbox.disk_content(WEB_1)
    assert now["content"] == "release 41" and now["disk"] != old_disk
    instance = gcp_sandbox.instance(WEB_1)
    assert instance["status"] == "RUNNING" and instance["disks"][0]["boot"] is True
    assert instance["labels"] == {"app": "web", "tier": "frontend"}


async def test_a_snapshot_of_another_instance_is_refused(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        snapshot = await gcp.create_snapshot(WEB_2)
    # A document that fails its signature never gets this far; one signed with the installation's key (an
    # operator's mistake, or a key that leaked) that names another instance is checked against the disk
    # snapshots' labels before the first write.
    settings = load_config(gcp_sandbox.config)
    path = settings.state_dir / "snapshots" / f"{snapshot.id}.json"
    document = json.loads(path.read_text()) | {"resource_id": WEB_1}
    path.write_text(json.dumps(signing().sign(document, signing().load_or_create_key(str(settings.snapshot_key_file)))))
    async with connect("gcp", config=gcp_sandbox.config) as gcp:
        with pytest.raises(InvalidRequest, match="is labelled for another snapshot or instance"):
            await gcp.rollback(snapshot.id)
    assert gcp_sandbox.instance(WEB_1)["status"] == "RUNNING"


async def test_the_readonly_identity_reads_and_is_refused_a_write(gcp_sandbox: GcpSandbox) -> None:
    async with connect("gcp-readonly", config=gcp_sandbox.config) as ro:
        assert len(await ro.list_resources("instance", {})) == 2
        assert (await ro.execute_action(Action(type="stop", resource_id=WEB_1, dry_run=True))).changed
        with pytest.raises(PermissionDenied, match=r"compute\.disks\.createSnapshot"):
            await ro.execute_action(Action(type="stop", resource_id=WEB_1, reason="test"))
    assert gcp_sandbox.instance(WEB_1)["status"] == "RUNNING"


def test_the_upstream_module_wipes_labels(gcp_sandbox: GcpSandbox, tmp_path: Path) -> None:
    """Why we do not use google.cloud.gcp_compute_instance for power changes: given only a status, it also sends
    setLabels with null labels (and setMachineType, setDeletionProtection) and reports success. The fake does what
    GCE did on the wire, so the label check of the test above can fail."""
    import asyncio

    environment = load_config(gcp_sandbox.config).environment("gcp")
    env = asyncio.run(environment.provider.credentials_env(environment.settings))
    task = {"google.cloud.gcp_compute_instance": {"name": "web-2", "zone": "europe-west1-c", "status": "RUNNING"}}
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "HTTPS_PROXY", "REQUESTS_CA"))}
    proc = run_local_play({"tasks": [task]}, tmp_path, run_env | env, timeout_s=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert gcp_sandbox.instance(WEB_2)["labels"] == {}
