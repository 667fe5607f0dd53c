"""Test helpers: the sandbox handle and clients for arranging state that a test then observes via the product."""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from shieldops_ansible.sandbox import manager


@dataclass(frozen=True)
class Sandbox:
    directory: Path
    config: Path
    resources: dict[str, dict[str, str]]

    def aws(self, key: str) -> str:
        return self.resources["aws"][key]

    def kube(self) -> Any:
        """A client of the sandbox's Kubernetes API server, acting as the agent account (for arranging state)."""
        return _KubeClient(self.directory / "kubernetes")

    @property
    def linux_dir(self) -> Path:
        return self.directory / "linux"

    def supervisor_status(self, host: str) -> dict[str, str]:
        """What supervisord itself says on a sandbox host (read directly, not through the product)."""
        import subprocess
        import sys

        conf = self.linux_dir / host / "supervisord.conf"
        out = subprocess.run(
            [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), "status"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}

    @property
    def aws_endpoint(self) -> str:
        return str(yaml.safe_load(self.config.read_text())["environments"]["aws"]["endpoint_url"])

    @property
    def state_dir(self) -> Path:
        return Path(yaml.safe_load(self.config.read_text())["state_dir"])


def rollback_in_new_process(sandbox: Sandbox, environment: str, snapshot_id: str) -> dict[str, Any]:
    """`shieldops-ansible rollback` in a process of its own: snapshots must outlive the process that took them."""
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shieldops_ansible.cli",
            "rollback",
            snapshot_id,
            "--env",
            environment,
            "--config",
            str(sandbox.config),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def start_sandbox(directory: Path) -> Sandbox:
    config = manager.up(directory)
    state = json.loads((directory / "sandbox.json").read_text())
    return Sandbox(directory, config, state["resources"])


def arrange_client(sandbox: Sandbox, service: str) -> Any:
    """A boto3 client acting as the agent role, used only to set up or inspect state around a test."""
    parser = configparser.ConfigParser()
    parser.read(sandbox.directory / "aws" / "credentials")
    keys = parser["shieldops-sandbox"]
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint,
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
    )
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/shieldops-agent", RoleSessionName="test-arrange")[
        "Credentials"
    ]
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=sandbox.aws_endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


class _KubeClient:
    def __init__(self, base: Path) -> None:
        import ssl

        self.port = json.loads((base / "server.json").read_text())["port"]
        self.token = (base / "agent.token").read_text()
        self.context = ssl.create_default_context(cafile=str(base / "ca.pem"))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        import urllib.request

        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        return result
