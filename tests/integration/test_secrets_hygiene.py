"""No credential ever reaches what we write or say: state directory, snapshots, audit log, runner artifacts, the
warm server's private directory, events, or exception texts. Every operation of every provider, both engines."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import Action, ShieldOpsError, TimeRange, connect
from shieldops_ansible.audit import AuditLog
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from tests.support import Sandbox

pytestmark = pytest.mark.integration

CANARY = "canary-token-9d3e41"  # a secret-looking variable of our own environment
# What else an agent's process may hold: an LLM key, and a setting whose name no deny-list would catch.
AGENT_VARIABLES = {"OPENAI_API_KEY": "canary-openai-e02b77", "FOO_SETTING": "canary-foo-91d4aa"}
CONFIG_SECRET = "db-password-5b71c0e2"  # in a configuration file that Linux snapshots capture


def _targets(sandbox: Sandbox, provider: str) -> dict[str, Any]:
    if provider == "aws":
        return {
            "read": sandbox.aws("service/api"),
            "missing": "i-0123456789abcdef0",
            "type": "service",
            "action": Action(type="scale", resource_id=sandbox.aws("service/api"), parameters={"replicas": 2}),
        }
    if provider == "linux":
        return {
            "read": "service/web-1/web",
            "missing": "service/web-1/nope",
            "type": "service",
            "action": Action(type="restart", resource_id="service/web-1/web"),
        }
    return {
        "read": "deployment/shop/web",
        "missing": "deployment/shop/nope",
        "type": "service",
        "action": Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 2}),
    }


async def _secrets(sandbox: Sandbox, provider: str) -> list[str]:
    environment = load_config(sandbox.config).environment(provider)
    env = await environment.provider.credentials_env(environment.settings)
    found = [CANARY, *AGENT_VARIABLES.values()]
    if provider == "linux":
        # As written and as a module would carry the whole file (base64).
        web_conf = (sandbox.linux_dir / "web-1" / "etc" / "web.conf").read_bytes()
        found += [CONFIG_SECRET, base64.b64encode(web_conf).decode()]
    if provider == "aws":
        found += [env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]]
    if provider == "kubernetes":
        found.append((sandbox.directory / "kubernetes" / "agent.token").read_text().strip())
        found.append(env["K8S_AUTH_API_KEY"])
    return found


@pytest.mark.parametrize("engine_name", ["warm", "runner"])
@pytest.mark.parametrize("provider", ["aws", "linux", "kubernetes"])
async def test_no_secret_in_anything_we_write_or_say(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, engine_name: str
) -> None:
    monkeypatch.setenv("SHIELDOPS_TEST_API_TOKEN", CANARY)
    for name, value in AGENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["audit_log"] = str(tmp_path / "audit.jsonl")
    doc["state_dir"] = str(tmp_path / "state")
    doc["environments"][provider]["policy"] = {"rate_limit": {"max_actions": 50, "per_seconds": 60}}
    config = tmp_path / "shieldops.yaml"
    config.write_text(yaml.safe_dump(doc))
    artifacts = tmp_path / "artifacts"
    if provider == "linux":
        web_conf = sandbox.linux_dir / "web-1" / "etc" / "web.conf"
        if CONFIG_SECRET not in web_conf.read_text():
            web_conf.write_text(web_conf.read_text() + f"password = {CONFIG_SECRET}\n")
    server = WarmServer()
    engine = WarmEngine(server) if engine_name == "warm" else RunnerEngine(keep_artifacts_in=artifacts)
    events: list[Any] = []
    said: list[str] = []
    target = _targets(sandbox, provider)
    try:
        async with connect(provider, config=config, engine=engine, on_event=events.append) as conn:
            await conn.list_resources(target["type"], {})
            await conn.get_health(target["read"])
            await conn.get_events(target["read"], TimeRange.last(minutes=30))
            await conn.execute_action(target["action"].model_copy(update={"dry_run": True}))
            acted = await conn.execute_action(target["action"])
            said.append(acted.model_dump_json())
            said.append((await conn.rollback(acted.snapshot_id or "")).model_dump_json())
            for failing in (conn.get_health(target["missing"]), conn.rollback("snap-doesnotexist0000")):
                try:
                    await failing
                except ShieldOpsError as exc:
                    said.append(f"{type(exc).__name__}: {exc}")
            if server.pid is not None:
                # The warm server's private dir (its Ansible temp dir and payload cache), read while it runs.
                files_while_running = [p for p in server.socket_path.parent.rglob("*") if p.is_file()]
                texts_while_running = [_read(p) for p in files_while_running]
            else:
                texts_while_running = []
    finally:
        server.stop()
    assert len(said) == 4, said
    files = [p for base in (tmp_path / "state", artifacts) if base.exists() for p in base.rglob("*") if p.is_file()]
    files.append(tmp_path / "audit.jsonl")
    assert any("snapshots" in p.parts for p in files)
    # The snapshot's copies of the host's files hold what the files hold, by design (0600, see test_linux).
    copies = [p for p in files if p.is_relative_to(tmp_path / "state" / "snapshots") and "files" in p.parts]
    if provider == "linux":
        assert any(CONFIG_SECRET in _read(p) for p in copies)
    files = [p for p in files if p not in copies]
    if engine_name == "runner":
        assert any(p.name == "command" for p in files), "ansible-runner's record of the environment is scanned"
    texts = [_read(p) for p in files] + texts_while_running + said + [json.dumps(events, default=str)]
    assert len(events) > 20 and len(list(AuditLog(tmp_path / "audit.jsonl").records())) == 8
    for secret in await _secrets(sandbox, provider):
        assert len(secret) >= 8
        for text in texts:
            assert secret not in text


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:  # a lock file of a cache, gone between listing and reading
        return ""
