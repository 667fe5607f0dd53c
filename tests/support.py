"""Test helpers: the sandbox handle and clients for arranging state that a test then observes via the product."""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from shieldops_ansible import Action, ShieldOpsError, TimeRange, connect
from shieldops_ansible.audit import AuditLog
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from shieldops_ansible.sandbox import manager
from shieldops_ansible.sandbox.backend import ActionSample, Samples, SandboxBackend


def sampled_environments() -> list[str]:
    """The environments the sandbox publishes samples of, known before it starts (for parametrize): those its
    backends, found through the provider registry, declare."""
    return sorted(name for backend in manager.found_backends() for name in backend.sampled_environments)


def offline_config(tmp_path: Path, environments: str, *, audit_log: bool = False) -> Path:
    """A config file in ``tmp_path`` for tests that reach no backend (the engine seam's test double): its own state
    directory and snapshot key, maybe an audit log, and ``environments`` (the YAML lines under ``environments:``)."""
    path = tmp_path / "shieldops.yaml"
    audit = f"audit_log: {tmp_path / 'audit.jsonl'}\n" if audit_log else ""
    path.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"snapshot_key_file: {tmp_path / 'keys' / 'snapshot.key'}\n"
        f"{audit}environments:\n{environments}"
    )
    return path


def action(sample: ActionSample, **fields: Any) -> Action:
    """The Action of a sample, with ``fields`` (dry_run, reason) added."""
    return Action(type=sample["type"], resource_id=sample["resource_id"], parameters=sample["parameters"], **fields)


@dataclass(frozen=True)
class Sandbox:
    directory: Path
    config: Path
    resources: dict[str, dict[str, str]]
    # Environment -> what its backend published for the cross-provider tests (sandbox/backend.py: Samples).
    published: dict[str, Samples] = field(default_factory=dict)

    @property
    def sampled_environments(self) -> list[str]:
        return sorted(self.published)

    def samples(self, environment: str) -> Samples:
        if environment not in self.published:
            raise KeyError(f"the sandbox published no samples of {environment!r}, only of {self.sampled_environments}")
        return self.published[environment]

    async def secrets(self, environment: str) -> list[str]:
        """The secrets of ``environment``, found where its samples say: the values of the credential variables its
        provider hands a run, and the content of the secret files the sandbox made."""
        samples = self.samples(environment)
        settings = load_config(self.config).environment(environment)
        env = await settings.provider.credentials_env(settings.settings)
        missing = [name for name in samples["secret_env"] if name not in env]
        assert not missing, f"{environment}: credentials_env gives no {missing} (it gives {sorted(env)})"
        files = [(self.directory / name).read_text().strip() for name in samples["secret_files"]]
        lines = [
            line.strip()
            for name in samples.get("secret_line_files", [])
            for line in (self.directory / name).read_text().splitlines()
            if line.strip()
        ]
        return [env[name] for name in samples["secret_env"]] + files + lines

    def aws(self, key: str) -> str:
        return self.resources["aws"][key]

    def kube(self) -> Any:
        """A client of the sandbox's Kubernetes API server, acting as the agent account (for arranging state)."""
        return _KubeClient(self.directory / "kubernetes")

    @property
    def linux_dir(self) -> Path:
        return self.directory / "linux"

    def _supervisorctl(self, host: str, *words: str, check: bool) -> str:
        """supervisorctl on a sandbox host, run directly (not through the product)."""
        import subprocess
        import sys

        conf = self.linux_dir / host / "supervisord.conf"
        ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), *words]
        return subprocess.run(ctl, capture_output=True, text=True, timeout=30, check=check).stdout

    def supervisor_status(self, host: str) -> dict[str, str]:
        """What supervisord itself says on a sandbox host."""
        out = self._supervisorctl(host, "status", check=False)
        return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}

    def supervisor_pid(self, host: str, program: str) -> str:
        """The pid supervisord gives a program on a sandbox host."""
        return self._supervisorctl(host, "pid", program, check=True).strip()

    def linux_config_with(self, folder: Path, host: str, **host_vars: Any) -> Path:
        """A copy of the sandbox's config (in ``folder``) whose Linux inventory gives web group ``host`` these vars."""
        doc = yaml.safe_load(self.config.read_text())
        inventory = yaml.safe_load(Path(doc["environments"]["linux"]["inventory"]).read_text())
        inventory["all"]["children"]["web"]["hosts"][host].update(host_vars)
        (folder / "inventory.yml").write_text(yaml.safe_dump(inventory))
        doc["environments"]["linux"]["inventory"] = str(folder / "inventory.yml")
        (folder / "variant.yaml").write_text(yaml.safe_dump(doc))
        return folder / "variant.yaml"

    def supervisor_reread(self, host: str) -> str:
        """`supervisorctl reread` on a sandbox host: the program definitions edited and not yet applied."""
        return self._supervisorctl(host, "reread", check=True)

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


def run_local_play(play: dict[str, Any], directory: Path, env: dict[str, str], timeout_s: float = 300) -> Any:
    """`ansible-playbook` of one play on localhost (the local connection, our interpreter), written to
    ``directory``, in the environment ``env``: for tests that drive upstream modules directly, not the product."""
    import subprocess
    import sys

    from shieldops_ansible.paths import project_dir

    path = directory / "play.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, **play}]))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
    command += ["-e", f"ansible_python_interpreter={sys.executable}", str(path)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout_s, check=False, env=env, cwd=project_dir()
    )


def run_as_nobody(script: str, *args: str) -> str:
    """``/usr/bin/python3 -c script args...`` as uid/gid 65534 (root only): a client of another user. Its stdout."""
    import subprocess

    return subprocess.run(
        ["/usr/bin/python3", "-c", script, *args],
        user=65534,
        group=65534,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd="/",
    ).stdout


def start_sandbox(directory: Path, backends: Sequence[SandboxBackend] | None = None) -> Sandbox:
    config = manager.up(directory, backends=backends)
    state = json.loads((directory / "sandbox.json").read_text())
    return Sandbox(directory, config, state["resources"], state["samples"])


def sandbox_fixture(
    tmp_path_factory: pytest.TempPathFactory, backends: Sequence[SandboxBackend] | None = None
) -> Iterator[Sandbox]:
    """A seeded sandbox of its own for a test module (``backends``: only these; default every provider's), so that
    modules that change things stay independent; a provider's own modules start only its backend (a whole
    sandbox takes ~12 s to start)."""
    directory = tmp_path_factory.mktemp("sandbox")
    box = start_sandbox(directory, backends)
    try:
        yield box
    finally:
        manager.down(directory, backends=backends)


@dataclass(frozen=True)
class Written:
    """What a run of every operation wrote and said: what a secret must never be in."""

    # Every file of the state directory, the runner's artifacts and the warm server's private folder, the audit
    # log, the results, exception texts and events; but the snapshots' copies of a host's files.
    texts: list[str]
    # Those copies: they hold what the host's files hold, by design (0600, see test_linux).
    copies: list[Path]


async def run_every_operation(sandbox: Sandbox, environment: str, engine_name: str, tmp_path: Path) -> Written:
    """Every operation of ``environment`` on its samples through ``engine_name`` ("warm" or "runner"), with an
    audit log, state directory and artifacts of its own under ``tmp_path``; a real action and its rollback, and
    two failures. Returns everything written and said."""
    samples = sandbox.samples(environment)
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["audit_log"] = str(tmp_path / "audit.jsonl")
    doc["state_dir"] = str(tmp_path / "state")
    doc["environments"][environment]["policy"] = {"rate_limit": {"max_actions": 50, "per_seconds": 60}}
    config = tmp_path / "shieldops.yaml"
    config.write_text(yaml.safe_dump(doc))
    artifacts = tmp_path / "artifacts"
    server = WarmServer()
    engine = WarmEngine(server) if engine_name == "warm" else RunnerEngine(keep_artifacts_in=artifacts)
    events: list[Any] = []
    said: list[str] = []
    real = action(samples["repeatable_action"])
    try:
        async with connect(environment, config=config, engine=engine, on_event=events.append) as conn:
            await conn.list_resources("service", {})
            await conn.get_health(samples["service"])
            await conn.get_events(samples["service"], TimeRange.last(minutes=30))
            await conn.execute_action(real.model_copy(update={"dry_run": True}))
            acted = await conn.execute_action(real)
            said.append(acted.model_dump_json())
            said.append((await conn.rollback(acted.snapshot_id or "")).model_dump_json())
            for failing in (conn.get_health(samples["missing"]), conn.rollback("snap-doesnotexist0000")):
                try:
                    await failing
                except ShieldOpsError as exc:
                    said.append(f"{type(exc).__name__}: {exc}")
            if server.pid is not None:
                # The warm server's private dir (its Ansible temp dir and payload cache), read while it runs.
                files_while_running = [p for p in server.socket_path.parent.rglob("*") if p.is_file()]
                texts_while_running = [read_text(p) for p in files_while_running]
            else:
                texts_while_running = []
    finally:
        server.stop()
    assert len(said) == 4, said
    files = [p for base in (tmp_path / "state", artifacts) if base.exists() for p in base.rglob("*") if p.is_file()]
    files.append(tmp_path / "audit.jsonl")
    assert any("snapshots" in p.parts for p in files)
    copies = [p for p in files if p.is_relative_to(tmp_path / "state" / "snapshots") and "files" in p.parts]
    files = [p for p in files if p not in copies]
    if engine_name == "runner":
        assert any(p.name == "command" for p in files), "ansible-runner's record of the environment is scanned"
    texts = [read_text(p) for p in files] + texts_while_running + said + [json.dumps(events, default=str)]
    assert len(events) > 20 and len(list(AuditLog(tmp_path / "audit.jsonl").records())) == 8
    return Written(texts, copies)


def read_text(path: Path) -> str:
    """A file's text, whatever its bytes; "" for a file gone since it was listed (a lock file of a cache)."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def hostile_reason(canary: Path) -> str:
    """A reason that validation accepts and that runs `touch CANARY` wherever a shell sees it, however it is
    quoted: a single quote, then it closes a double quote, substitutes a command both ways and reopens it."""
    return f'it\'s ok"; touch {canary}; echo "`touch {canary}`$(touch {canary})'


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
