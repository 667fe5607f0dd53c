"""The AWS part of the sandbox: a moto server on loopback, seeded, with IAM enforced.

Seeded per common type, one healthy and one unhealthy resource: EC2 `web-1` (running) and `web-2` (stopped);
ECS `api` (running = desired) and `worker` (nothing running); Lambda `thumbnailer` and `ingest` (with recent
Errors and an alarm in ALARM). IAM: a bootstrap user that may only assume roles, an agent role that may operate,
and a read-only role. The bootstrap user's key is a key of this throwaway emulator, kept in the sandbox dir.
"""

from __future__ import annotations

import io
import json
import re
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...sandbox.backend import (
    MAIN_PROCESS,
    Samples,
    StartedBackend,
    free_port,
    spawn,
    stop_process_groups,
    wait_http,
)

__all__ = ["ACCOUNT", "REGION", "AwsSandbox", "AwsSandboxBackend", "samples", "seed_aws"]

ACCOUNT = "123456789012"
_MOTO_SERVER = "shieldops_ansible.providers.aws.moto_server"  # moto with its two changes, as a program
REGION = "us-east-1"
_TRUST = {
    "Version": "2012-10-17",
    # moto matches the principal literally (no account-root expansion): name the bootstrap user.
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/shieldops-bootstrap"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_AGENT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ec2:*",
                "ecs:*",
                "lambda:*",
                "cloudwatch:*",
                "monitoring:*",
                "logs:*",
                "cloudtrail:LookupEvents",
                "sts:*",
            ],
            "Resource": "*",
        }
    ],
}
_READONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ec2:Describe*",
                "ecs:Describe*",
                "ecs:List*",
                "lambda:Get*",
                "lambda:List*",
                "cloudwatch:Describe*",
                "cloudwatch:Get*",
                "cloudwatch:List*",
                # moto names CloudWatch actions after its endpoint prefix, "monitoring".
                "monitoring:Describe*",
                "monitoring:Get*",
                "monitoring:List*",
                "logs:Describe*",
                "logs:FilterLogEvents",
                "cloudtrail:LookupEvents",
                "sts:GetCallerIdentity",
            ],
            "Resource": "*",
        }
    ],
}
_BOOTSTRAP_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetCallerIdentity"], "Resource": "*"}],
}


@dataclass(frozen=True)
class AwsSandbox:
    endpoint_url: str
    agent_role_arn: str
    readonly_role_arn: str
    credentials_file: Path
    profile: str
    resources: dict[str, str]

    def environment(self, **overrides: Any) -> dict[str, Any]:
        env: dict[str, Any] = {
            "provider": "aws",
            "region": REGION,
            "endpoint_url": self.endpoint_url,
            "role_arn": self.agent_role_arn,
            "profile": self.profile,
            "credentials_file": str(self.credentials_file),
        }
        env.update(overrides)
        return env


class AwsSandboxBackend:
    """moto on a free loopback port (with moto_server.py's two changes), seeded; environments `aws` (the agent
    role) and `aws-readonly`."""

    name = "aws"
    sampled_environments = ("aws",)

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        port = free_port()
        server = [sys.executable, "-m", _MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)]
        proc = spawn(server, directory / "logs" / "moto.log")
        try:
            endpoint = f"http://127.0.0.1:{port}"
            wait_http(f"{endpoint}/moto-api/data.json", 30, proc)
            log(f"aws: moto on {endpoint}")
            aws = seed_aws(endpoint, directory)
        except BaseException:
            stop_process_groups([proc.pid])
            raise
        return StartedBackend(
            processes={MAIN_PROCESS: {"pid": proc.pid, "port": port}},
            environments={
                "aws": aws.environment(),
                "aws-readonly": aws.environment(role_arn=aws.readonly_role_arn),
            },
            resources=aws.resources,
            samples={"aws": samples(aws.resources)},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        """Nothing outlives moto's process."""


def samples(resources: Mapping[str, str]) -> Samples:
    """The `aws` environment's samples: the stopped instance web-2, the service api (desired count 2)."""
    instance, service = resources["instance/web-2"], resources["service/api"]
    return {
        "instance": instance,
        "service": service,
        "missing": "i-0123456789abcdef0",
        "dry_run_action": {"type": "start", "resource_id": instance, "parameters": {}},
        "live_action": {"type": "scale", "resource_id": service, "parameters": {"replicas": 3}},
        "repeatable_action": {"type": "scale", "resource_id": service, "parameters": {"replicas": 2}},
        # The session's own: the bootstrap key in aws/credentials is not in the run's environment.
        "secret_env": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
        "secret_files": [],
    }


def _lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


def seed_aws(endpoint_url: str, directory: Path) -> AwsSandbox:
    """Seed a fresh moto server (auth still off), then switch IAM enforcement on."""
    import boto3

    kw: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": endpoint_url,
        "aws_access_key_id": "seed",
        "aws_secret_access_key": "seed",
    }
    iam = boto3.client("iam", **kw)
    ec2 = boto3.client("ec2", **kw)
    ecs = boto3.client("ecs", **kw)
    lam = boto3.client("lambda", **kw)
    cw = boto3.client("cloudwatch", **kw)

    roles = {}
    for role, policy in (("shieldops-agent", _AGENT_POLICY), ("shieldops-readonly", _READONLY_POLICY)):
        roles[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName="access", PolicyDocument=json.dumps(policy))
    # The agent may not assume this one: its trust policy names another principal. (A Service principal would be
    # realistic, but moto 5.2 fails with HTTP 500 on AssumeRole against a policy without an AWS principal.)
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/lambda-deployer"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    lambda_role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(lambda_trust))["Role"][
        "Arn"
    ]
    iam.create_user(UserName="shieldops-bootstrap")
    iam.put_user_policy(
        UserName="shieldops-bootstrap", PolicyName="assume-only", PolicyDocument=json.dumps(_BOOTSTRAP_POLICY)
    )
    key = iam.create_access_key(UserName="shieldops-bootstrap")["AccessKey"]
    aws_dir = directory / "aws"
    aws_dir.mkdir(parents=True, exist_ok=True)
    credentials_file = aws_dir / "credentials"
    credentials_file.touch(mode=0o600)
    credentials_file.write_text(
        "[shieldops-sandbox]\n"
        f"aws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
    )

    resources: dict[str, str] = {}
    image = ec2.describe_images()["Images"][0]["ImageId"]
    for name, healthy in (("web-1", True), ("web-2", False)):
        inst = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": name}, {"Key": "app", "Value": "web"}],
                }
            ],
        )["Instances"][0]
        resources[f"instance/{name}"] = inst["InstanceId"]
        if not healthy:
            ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
        else:
            _put_metric(cw, "AWS/EC2", "CPUUtilization", "InstanceId", inst["InstanceId"], 12.5, "Percent")

    cluster = ecs.create_cluster(clusterName="sandbox")["cluster"]["clusterArn"]
    resources["cluster/sandbox"] = cluster
    for name, healthy in (("api", True), ("worker", False)):
        taskdef = ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": name, "image": f"example/{name}:1", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        svc = ecs.create_service(
            cluster="sandbox",
            serviceName=name,
            taskDefinition=taskdef,
            desiredCount=2,
            tags=[{"key": "app", "value": name}],
        )["service"]
        resources[f"service/{name}"] = svc["serviceArn"]
        if healthy:
            # moto marks tasks running when a desired count is set through UpdateService.
            ecs.update_service(cluster="sandbox", service=name, desiredCount=2)

    code = _lambda_zip()
    for name, healthy in (("thumbnailer", True), ("ingest", False)):
        fn = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=lambda_role,
            Handler="handler.handler",
            Code={"ZipFile": code},
            Publish=True,
            Tags={"app": name},
        )
        # The canonical id is the unqualified ARN (no :version suffix).
        resources[f"function/{name}"] = re.sub(r":(\d+|\$LATEST)$", "", fn["FunctionArn"])
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        _put_metric(cw, "AWS/Lambda", "Invocations", "FunctionName", name, 100.0, "Count")
        _put_metric(cw, "AWS/Lambda", "Errors", "FunctionName", name, 0.0 if healthy else 40.0, "Count")
        if not healthy:
            cw.put_metric_alarm(
                AlarmName=f"{name}-errors",
                Namespace="AWS/Lambda",
                MetricName="Errors",
                Dimensions=[{"Name": "FunctionName", "Value": name}],
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=5,
                ComparisonOperator="GreaterThanThreshold",
            )
            cw.set_alarm_state(AlarmName=f"{name}-errors", StateValue="ALARM", StateReason="Errors above 5 per minute")

    urllib.request.urlopen(
        urllib.request.Request(
            f"{endpoint_url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
    )
    return AwsSandbox(
        endpoint_url=endpoint_url,
        agent_role_arn=roles["shieldops-agent"],
        readonly_role_arn=roles["shieldops-readonly"],
        credentials_file=credentials_file,
        profile="shieldops-sandbox",
        resources=resources,
    )


def _put_metric(cw: Any, namespace: str, metric: str, dim: str, value_of_dim: str, value: float, unit: str) -> None:
    now = datetime.now(UTC)
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": dim, "Value": value_of_dim}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": value,
                "Unit": unit,
            }
            for minutes in (1, 3, 5)
        ],
    )
