"""Reads through the real path: facade -> runner engine -> playbook -> aws role -> amazon.aws/community.aws -> moto."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shieldops_ansible import Action, InfraConnector, InvalidRequest, ResourceNotFound, TimeRange, connect
from tests.support import Sandbox, arrange_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def aws(sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect("aws", config=sandbox.config) as conn:
        yield conn


async def test_list_every_common_type(aws: InfraConnector, sandbox: Sandbox) -> None:
    instances = await aws.list_resources("instance", {})
    assert {r.name: r.state for r in instances} == {"web-1": "running", "web-2": "stopped"}
    assert {r.id for r in instances} == {sandbox.aws("instance/web-1"), sandbox.aws("instance/web-2")}
    assert all(r.provider == "aws" and r.environment == "aws" and r.native_type == "ec2_instance" for r in instances)

    services = await aws.list_resources("service", {})
    assert {(r.name, r.capacity) for r in services} == {("api", 2), ("worker", 2)}
    assert {r.name: r.state for r in services} == {"api": "running", "worker": "pending"}

    functions = await aws.list_resources("function", {})
    assert {r.id for r in functions} == {sandbox.aws("function/thumbnailer"), sandbox.aws("function/ingest")}
    clusters = await aws.list_resources("cluster", {})
    assert [r.id for r in clusters] == [sandbox.aws("cluster/sandbox")]


async def test_list_filters(aws: InfraConnector) -> None:
    assert [r.name for r in await aws.list_resources("instance", {"name": "web-*", "state": "stopped"})] == ["web-2"]
    assert [r.name for r in await aws.list_resources("service", {"tags": {"app": "api"}})] == ["api"]
    assert [r.name for r in await aws.list_resources("ecs_service", {"cluster": "sandbox", "name": "w*"})] == ["worker"]
    with pytest.raises(InvalidRequest, match="colour"):
        await aws.list_resources("instance", {"colour": "red"})


async def test_list_is_paginated_past_one_page(aws: InfraConnector, sandbox: Sandbox) -> None:
    # ECS DescribeServices takes 10 services per call and ListServices pages: 12 services cross both limits.
    ecs = arrange_client(sandbox, "ecs")
    ecs.create_cluster(clusterName="paged")
    taskdef = ecs.register_task_definition(
        family="paged", containerDefinitions=[{"name": "c", "image": "x", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    for n in range(12):
        ecs.create_service(cluster="paged", serviceName=f"svc-{n:02d}", taskDefinition=taskdef, desiredCount=1)
    listed = await aws.list_resources("service", {"cluster": "paged"})
    assert sorted(r.name for r in listed) == [f"svc-{n:02d}" for n in range(12)]


async def test_health_healthy_and_unhealthy_per_type(aws: InfraConnector, sandbox: Sandbox) -> None:
    expected = {
        "instance/web-1": "healthy",
        "instance/web-2": "unhealthy",
        "service/api": "healthy",
        "service/worker": "unhealthy",
        "function/thumbnailer": "healthy",
        "function/ingest": "unhealthy",
        "cluster/sandbox": "degraded",
    }
    for key, status in expected.items():
        health = await aws.get_health(sandbox.aws(key))
        assert health.status == status, (key, health.checks)
        assert health.resource_id == sandbox.aws(key)
        assert health.checks and all(c.message for c in health.checks)
    web1 = await aws.get_health(sandbox.aws("instance/web-1"))
    assert web1.metrics["cpu_percent"] == pytest.approx(12.5)
    ingest = await aws.get_health(sandbox.aws("function/ingest"))
    assert ingest.metrics["error_rate"] == pytest.approx(0.4)
    assert any(c.name == "errors" and c.status == "unhealthy" for c in ingest.checks)


async def test_missing_resources_raise_not_found(aws: InfraConnector) -> None:
    for rid in (
        "i-0123456789abcdef0",
        "arn:aws:ecs:us-east-1:123456789012:service/sandbox/nope",
        "arn:aws:ecs:us-east-1:123456789012:cluster/nope",
        "arn:aws:lambda:us-east-1:123456789012:function:nope",
    ):
        with pytest.raises(ResourceNotFound):
            await aws.get_health(rid)


async def test_an_arn_of_another_region_or_account_is_not_the_same_named_resource(
    aws: InfraConnector, sandbox: Sandbox
) -> None:
    # The modules take the region and account from the environment and the name from the ARN: an ARN of another
    # region or account must not reach the same-named resource of this one, for reads or actions.
    for key in ("service/api", "function/thumbnailer", "cluster/sandbox"):
        arn = sandbox.aws(key)
        for other in (arn.replace(":us-east-1:", ":eu-west-1:"), arn.replace(":123456789012:", ":210987654321:")):
            with pytest.raises(ResourceNotFound, match="not in this environment"):
                await aws.get_health(other)
            with pytest.raises(ResourceNotFound, match="not in this environment"):
                await aws.get_events(other, TimeRange.last(minutes=60))
    other_service = sandbox.aws("service/api").replace(":123456789012:", ":210987654321:")
    with pytest.raises(ResourceNotFound, match="not in this environment"):
        await aws.execute_action(Action(type="scale", resource_id=other_service, parameters={"replicas": 0}))


async def test_events_from_alarms_and_state_changes(aws: InfraConnector, sandbox: Sandbox) -> None:
    cw = arrange_client(sandbox, "cloudwatch")
    web2 = sandbox.aws("instance/web-2")
    cw.put_metric_alarm(
        AlarmName="web-2-status",
        Namespace="AWS/EC2",
        MetricName="StatusCheckFailed",
        Dimensions=[{"Name": "InstanceId", "Value": web2}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cw.set_alarm_state(AlarmName="web-2-status", StateValue="ALARM", StateReason="status check failed")
    events = await aws.get_events(web2, TimeRange.last(minutes=30))
    alarm = [e for e in events if e.source == "cloudwatch"]
    assert alarm and alarm[0].severity == "error" and "web-2-status" in alarm[0].message
    assert any(e.type == "state_change" and e.source == "ec2" for e in events)

    ingest = await aws.get_events(sandbox.aws("function/ingest"), TimeRange.last(minutes=30))
    assert [e.severity for e in ingest if e.source == "cloudwatch"] == ["error"]
    # Every other type answers too (moto records no ECS service events: the lists may be empty, not errors).
    for key in ("service/api", "cluster/sandbox", "function/thumbnailer"):
        assert all(e.resource_id == sandbox.aws(key) for e in await aws.get_events(sandbox.aws(key), TimeRange.last()))
    # An empty window has nothing.
    old = TimeRange(start=ingest[0].timestamp.replace(year=2020), end=ingest[0].timestamp.replace(year=2021))
    assert await aws.get_events(web2, old) == []
