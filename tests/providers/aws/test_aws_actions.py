"""Actions, snapshots and rollback through the real path, checked against moto's state with boto3."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from shieldops_ansible import Action, ActionNotSupported, InfraConnector, InvalidRequest, SnapshotNotFound, connect
from tests.support import Sandbox, arrange_client, rollback_in_new_process

pytestmark = pytest.mark.integration


@pytest.fixture
async def aws(sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect("aws", config=sandbox.config) as conn:
        yield conn


def _ec2_state(sandbox: Sandbox, instance_id: str) -> str:
    ec2 = arrange_client(sandbox, "ec2")
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def _ecs_desired(sandbox: Sandbox, service: str) -> int:
    ecs = arrange_client(sandbox, "ecs")
    return int(ecs.describe_services(cluster="sandbox", services=[service])["services"][0]["desiredCount"])


async def test_ec2_dry_run_changes_nothing_then_stop_start(aws: InfraConnector, sandbox: Sandbox) -> None:
    web1 = sandbox.aws("instance/web-1")
    dry = await aws.execute_action(Action(type="stop", resource_id=web1, dry_run=True))
    assert dry.status == "dry_run" and dry.success and dry.changed
    assert dry.diff == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    assert dry.snapshot_id is None
    assert _ec2_state(sandbox, web1) == "running"

    stop = await aws.execute_action(Action(type="stop", resource_id=web1, reason="test"))
    assert stop.status == "succeeded" and stop.changed and stop.snapshot_id
    assert _ec2_state(sandbox, web1) == "stopped"
    # The snapshot taken before the destructive action holds real EBS snapshots.
    snap = json.loads((sandbox.state_dir / "snapshots" / f"{stop.snapshot_id}.json").read_text())
    ebs = arrange_client(sandbox, "ec2").describe_snapshots(
        SnapshotIds=[v["snapshot_id"] for v in snap["handles"]["volumes"]]
    )["Snapshots"]
    assert len(ebs) == len(snap["handles"]["volumes"]) >= 1

    start = await aws.execute_action(Action(type="start", resource_id=web1))
    assert start.success and start.snapshot_id is None  # start is not destructive
    assert _ec2_state(sandbox, web1) == "running"
    restart = await aws.execute_action(Action(type="restart", resource_id=web1))
    assert restart.success and _ec2_state(sandbox, web1) == "running"


async def test_ecs_scale_redeploy_restart(aws: InfraConnector, sandbox: Sandbox) -> None:
    api = sandbox.aws("service/api")
    dry = await aws.execute_action(Action(type="scale", resource_id=api, parameters={"replicas": 5}, dry_run=True))
    assert dry.status == "dry_run" and dry.diff == {
        "before": {"desired_count": 2, "task_definition": dry.diff["before"]["task_definition"]},  # type: ignore[index]
        "after": {"desired_count": 5, "task_definition": dry.diff["before"]["task_definition"]},  # type: ignore[index]
    }
    assert _ecs_desired(sandbox, "api") == 2
    scaled = await aws.execute_action(Action(type="scale", resource_id=api, parameters={"replicas": 5}))
    assert scaled.success and scaled.changed and _ecs_desired(sandbox, "api") == 5
    assert (await aws.get_health(api)).metrics["desired"] == 5
    for verb in ("redeploy", "restart"):
        result = await aws.execute_action(Action(type=verb, resource_id=api))
        assert result.success and result.changed, result
    assert _ecs_desired(sandbox, "api") == 5
    with pytest.raises(InvalidRequest):
        await aws.execute_action(Action(type="scale", resource_id=api, parameters={"replicas": -1}))


async def test_lambda_alias_shift(aws: InfraConnector, sandbox: Sandbox) -> None:
    thumbs = sandbox.aws("function/thumbnailer")
    lam = arrange_client(sandbox, "lambda")
    lam.update_function_code(FunctionName="thumbnailer", ZipFile=_zip("v2"))
    version = lam.publish_version(FunctionName="thumbnailer")["Version"]
    result = await aws.execute_action(
        Action(type="aws_shift_alias", resource_id=thumbs, parameters={"alias": "live", "version": version})
    )
    assert result.success and result.changed and result.diff["after"]["version"] == version  # type: ignore[index]
    assert lam.get_alias(FunctionName="thumbnailer", Name="live")["FunctionVersion"] == version
    # Rolled back by its snapshot (taken automatically before the shift).
    assert result.snapshot_id
    await aws.rollback(result.snapshot_id)
    assert lam.get_alias(FunctionName="thumbnailer", Name="live")["FunctionVersion"] == "1"


async def test_unsupported_actions_raise_before_any_run(aws: InfraConnector, sandbox: Sandbox) -> None:
    with pytest.raises(ActionNotSupported):
        await aws.execute_action(Action(type="scale", resource_id=sandbox.aws("instance/web-1")))
    with pytest.raises(ActionNotSupported):
        await aws.execute_action(Action(type="stop", resource_id=sandbox.aws("cluster/sandbox")))


async def test_ecs_snapshot_change_rollback(aws: InfraConnector, sandbox: Sandbox) -> None:
    ecs = arrange_client(sandbox, "ecs")
    worker = sandbox.aws("service/worker")
    before = ecs.describe_services(cluster="sandbox", services=["worker"])["services"][0]
    snapshot = await aws.create_snapshot(worker)
    assert snapshot.kind == "ecs_service" and snapshot.handles["task_definition"] == before["taskDefinition"]
    # A real change: a new task definition revision and another count, made outside the connector.
    new_td = ecs.register_task_definition(
        family="worker", containerDefinitions=[{"name": "worker", "image": "example/worker:2", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="sandbox", service="worker", taskDefinition=new_td, desiredCount=7)
    result = await aws.rollback(snapshot.id)
    assert result.success and result.snapshot_id == snapshot.id
    after = ecs.describe_services(cluster="sandbox", services=["worker"])["services"][0]
    assert after["taskDefinition"] == before["taskDefinition"]
    assert after["desiredCount"] == before["desiredCount"]


async def test_ec2_snapshot_rollback_from_a_second_process(aws: InfraConnector, sandbox: Sandbox) -> None:
    ec2 = arrange_client(sandbox, "ec2")
    web2 = sandbox.aws("instance/web-2")
    instance = ec2.describe_instances(InstanceIds=[web2])["Reservations"][0]["Instances"][0]
    old_volume = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    snapshot = await aws.create_snapshot(web2)
    assert snapshot.kind == "ec2_ebs" and snapshot.state["state"] == "stopped"
    assert [v["volume_id"] for v in snapshot.handles["volumes"]] == [old_volume]
    # The real change: start it. Rollback must put the volume back from the snapshot and the state to stopped.
    await aws.execute_action(Action(type="start", resource_id=web2))
    result = rollback_in_new_process(sandbox, "aws", snapshot.id)
    assert result["success"] and result["snapshot_id"] == snapshot.id
    after = ec2.describe_instances(InstanceIds=[web2])["Reservations"][0]["Instances"][0]
    assert after["State"]["Name"] == "stopped"
    new_volume = after["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert new_volume != old_volume
    restored = ec2.describe_volumes(VolumeIds=[new_volume])["Volumes"][0]
    assert restored["SnapshotId"] == snapshot.handles["volumes"][0]["snapshot_id"]
    # Nothing lost: the replaced volume still exists, detached.
    assert ec2.describe_volumes(VolumeIds=[old_volume])["Volumes"][0]["State"] == "available"


async def test_snapshot_errors(aws: InfraConnector, sandbox: Sandbox) -> None:
    with pytest.raises(SnapshotNotFound):
        await aws.rollback("snap-doesnotexist0000")
    with pytest.raises(SnapshotNotFound):
        await aws.rollback("../../etc/passwd")
    with pytest.raises(ActionNotSupported):
        await aws.create_snapshot(sandbox.aws("cluster/sandbox"))


def _zip(marker: str) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", f"def handler(event, context):\n    return {marker!r}\n")
    return buf.getvalue()
