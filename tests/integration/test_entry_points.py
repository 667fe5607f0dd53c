"""The same operation through the facade, the CLI and plain ansible-playbook gives the same result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import connect
from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from tests.support import Sandbox

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def _run_playbook(
    playbook: str, request: Path, env: dict[str, str], *, ok: bool, check: bool = False
) -> tuple[Any, bytes]:
    """Run one of our playbooks as an operator would, with ``env`` as its whole environment and the json callback
    (``ok``: the run must succeed, else fail; ``check``: in check mode); its parsed output, and all it printed (for
    the scans)."""
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), f"playbooks/{playbook}", "-e", f"@{request}"] + (["--check"] if check else []),
        cwd=project_dir(),
        env=env | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert (proc.returncode == 0) == ok, (proc.stdout[-2000:], proc.stderr[-2000:])
    return json.loads(proc.stdout), proc.stdout + proc.stderr


def _ansible_playbook(playbook: str, request: Path, credentials: dict[str, str], *, ok: bool = True) -> Any:
    """``_run_playbook`` in our environment with ``credentials`` added (and no SHIELDOPS_CONFIG); its output."""
    run_env = dict(os.environ) | credentials
    run_env.pop("SHIELDOPS_CONFIG", None)
    return _run_playbook(playbook, request, run_env, ok=ok)[0]


async def test_ansible_playbook_direct_matches_facade(sandbox: Sandbox, tmp_path: Path) -> None:
    rid = sandbox.aws("service/worker")
    async with connect("aws", config=sandbox.config) as conn:
        facade = (await conn.get_health(rid)).model_dump(mode="json")
    config = load_config(sandbox.config)
    env = config.environment("aws")
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "shieldops_request": {"provider": "aws", "environment": "aws", "resource_id": rid},
                "shieldops_settings": env.settings.role_settings(),
            }
        )
    )
    # An operator's shell: temporary credentials in the environment (here from the same AssumeRole).
    output = _ansible_playbook("get_health.yml", request, await env.provider.credentials_env(env.settings))
    stats = output["global_custom_stats"]["shieldops_result"]
    assert stats["ok"] is True
    direct = stats["value"]
    for doc in (facade, direct):
        doc.pop("observed_at")
    assert direct == facade


def test_cli_list_health_and_errors(sandbox: Sandbox) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "shieldops-ansible"), *args, "--env", "aws", "--config", str(sandbox.config)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    listed = cli("list", "function", "--json", "--tag", "app=ingest")
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["ingest"]
    health = cli("health", sandbox.aws("function/ingest"))
    assert health.returncode == 0 and "unhealthy" in health.stdout and "errors" in health.stdout
    bad = cli("health", "not-an-id")
    assert bad.returncode == 1 and "InvalidRequest" in bad.stderr
    dry = cli("act", "scale", sandbox.aws("service/api"), "--param", "replicas=3", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["status"] == "dry_run"


def test_sandbox_cli_status(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        [str(BIN / "shieldops-ansible"), "sandbox", "status", "--dir", str(sandbox.directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["backends"]["aws"]["alive"] is True


async def test_aws_ec2_inventory_plugin_lists_sandbox_instances(sandbox: Sandbox) -> None:
    env = load_config(sandbox.config).environment("aws")
    run_env = dict(os.environ) | await env.provider.credentials_env(env.settings)
    run_env["ANSIBLE_CONFIG"] = str(project_dir() / "ansible.cfg")
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "inventories/aws/shieldops.aws_ec2.yml", "--list"],
        cwd=project_dir(),
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    inventory = json.loads(proc.stdout)
    ids = {sandbox.aws("instance/web-1"), sandbox.aws("instance/web-2")}
    assert set(inventory["aws_ec2"]["hosts"]) == ids
    assert set(inventory["tag_app_web"]["hosts"]) == ids
    hostvars = inventory["_meta"]["hostvars"][sandbox.aws("instance/web-1")]
    # ansible-inventory --list writes values that came from the API as {"__ansible_unsafe": ...}.
    resource_id = hostvars["shieldops_resource_id"]
    if isinstance(resource_id, dict):
        resource_id = resource_id["__ansible_unsafe"]
    assert resource_id == sandbox.aws("instance/web-1")


async def test_execute_action_playbook_snapshots_first_in_the_same_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """An operator's (or AWX template's) execute_action run that names a snapshot takes it before its write, and
    the facade's own transaction is the same single run: a snapshot step, then the act step."""
    replicas = int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])
    env = load_config(sandbox.config).environment("kubernetes")
    state_dir = load_config(sandbox.config).state_dir
    request = tmp_path / "request.json"
    action = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": replicas + 1}}
    request.write_text(
        json.dumps(
            {
                "shieldops_request": {
                    "provider": "kubernetes",
                    "environment": "kubernetes",
                    "action": action,
                    "snapshot_id": "snap-byoperator01",
                },
                "shieldops_settings": env.settings.role_settings(),
                "shieldops_state_dir": str(state_dir),
                # The installation's key, as the facade passes it: the facade rolls this snapshot back below.
                "shieldops_snapshot_key_file": str(load_config(sandbox.config).snapshot_key_file),
                "shieldops_config": str(sandbox.config),
            }
        )
    )
    output = _ansible_playbook("execute_action.yml", request, await env.provider.credentials_env(env.settings))
    tasks = [t["task"]["name"] for t in output["plays"][0]["tasks"]]
    stored = tasks.index("shieldops.connectors.operation : Keep the snapshot as a fact and write its document")
    assert stored < tasks.index("shieldops.connectors.kubernetes : Scale through the scale subresource")
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas + 1
    snapshot = json.loads((state_dir / "snapshots" / "snap-byoperator01.json").read_text())
    assert snapshot["resource_id"] == "deployment/shop/web"
    async with connect("kubernetes", config=sandbox.config) as conn:
        await conn.rollback("snap-byoperator01")
        assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas
        result = await conn.execute_action(action | {"parameters": {"replicas": replicas + 2}})
        steps = result.details["transaction"]
        assert [s["step"] for s in steps] == ["snapshot", "act"]
        assert all(s["outcome"] == "ok" and s["ms"] > 0 for s in steps)
        assert result.snapshot_id and (state_dir / "snapshots" / f"{result.snapshot_id}.json").is_file()
        await conn.rollback(result.snapshot_id)
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas


async def test_a_direct_destructive_action_snapshots_first_under_require_snapshot(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A direct (or AWX) run of a destructive action that names no snapshot, under the policy's require_snapshot
    (the default), snapshots the resource first with a new id, as the facade does, and its result names it."""
    config = load_config(sandbox.config)
    env = config.environment("kubernetes")
    replicas = int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])
    action = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": replicas + 1}}
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "shieldops_request": {"provider": "kubernetes", "environment": "kubernetes", "action": action},
                "shieldops_settings": env.settings.role_settings(),
                "shieldops_state_dir": str(config.state_dir),
                "shieldops_snapshot_key_file": str(config.snapshot_key_file),
                "shieldops_config": str(sandbox.config),
            }
        )
    )
    output = _ansible_playbook("execute_action.yml", request, await env.provider.credentials_env(env.settings))
    tasks = [t["task"]["name"] for t in output["plays"][0]["tasks"]]
    stored = tasks.index("shieldops.connectors.operation : Keep the snapshot as a fact and write its document")
    assert stored < tasks.index("shieldops.connectors.kubernetes : Scale through the scale subresource")
    value = output["global_custom_stats"]["shieldops_result"]["value"]
    snapshot_id = value["snapshot_id"]
    assert json.loads((config.state_dir / "snapshots" / f"{snapshot_id}.json").read_text())["resource_id"] == (
        "deployment/shop/web"
    )
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas + 1
    async with connect("kubernetes", config=sandbox.config) as conn:
        await conn.rollback(snapshot_id)
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas


async def test_direct_real_actions_fail_closed_and_take_no_approval_from_a_variable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A direct run of a real action with no policy to load is refused, saying what to configure, while its dry
    run runs; under require_approval, neither an approved_by variable nor a forged grant approves it."""
    replicas = int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])
    env = load_config(sandbox.config).environment("kubernetes")
    credentials = await env.provider.credentials_env(env.settings)
    action = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": replicas + 1}}
    base = {
        "shieldops_request": {"provider": "kubernetes", "environment": "kubernetes", "action": action},
        "shieldops_settings": env.settings.role_settings(),
        "shieldops_state_dir": str(tmp_path / "state"),
        "shieldops_config": str(tmp_path / "missing.yaml"),
    }

    def run(doc: dict[str, Any], *, ok: bool) -> dict[str, Any]:
        request = tmp_path / "request.json"
        request.write_text(json.dumps(doc))
        output = _ansible_playbook("execute_action.yml", request, credentials, ok=ok)
        return dict(output["global_custom_stats"]["shieldops_result"])

    refused = run(base, ok=False)
    assert refused["error"]["kind"] == "policy_denied" and "no ShieldOps config file" in refused["error"]["message"]
    dry = run(
        {**base, "shieldops_request": {**base["shieldops_request"], "action": {**action, "dry_run": True}}}, ok=True
    )
    assert dry["ok"] and dry["value"]["message"].startswith("would scale")
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["kubernetes"]["policy"] = {"require_approval": ["scale"]}
    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(yaml.safe_dump(doc))
    forged = {
        "kind": "facade_grant",
        "action": "x",
        "approved_by": "me",
        "expires_at": 2**40,
        "signature": "hmac-sha256:00",
    }
    for claim in ({"shieldops_approved_by": "me"}, {"shieldops_facade_grant": forged}):
        denied = run({**base, "shieldops_config": str(guarded), **claim}, ok=False)
        assert denied["error"]["kind"] == "policy_denied" and "needs approval" in denied["error"]["message"]
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas


# Every session token this emulator's STS issues starts so (moto's SESSION_TOKEN_PREFIX); an unmasked secret key
# would follow its module argument's name.
_SESSION_TOKEN = b"FQoGZXIvYXdzEBYaD"
_SECRET_ARGUMENT = re.compile(rb'"(secret_key|session_token)": "(?!VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")')


async def test_a_direct_run_assumes_the_role_itself_with_only_the_bootstrap_identity(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """ansible-playbook with no AWS credentials in its environment, only the settings' role, profile and file: the
    role assumes the role (the bootstrap identity alone may not read), and no assumed credential is written or
    printed anywhere. (amazon.aws modules echo the access key id, which is not a secret, in their invocation, as
    they do for any credentials; the secret key and the session token are masked there.)"""
    env = load_config(sandbox.config).environment("aws")
    settings = env.settings.role_settings()
    assert settings["role_arn"] and settings["credentials_file"]
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "SHIELDOPS_AWS_ASSUMED_ROLE"}
    web1 = sandbox.aws("instance/web-1")

    def run(playbook: str, request: dict[str, Any], extra_env: dict[str, str], *, ok: bool) -> tuple[Any, bytes]:
        path = tmp_path / "request.json"
        path.write_text(json.dumps(request))
        return _run_playbook(playbook, path, bare | extra_env, ok=ok)

    envelope = {"provider": "aws", "environment": "aws"}
    health, out1 = run(
        "get_health.yml",
        {"shieldops_request": {**envelope, "resource_id": web1}, "shieldops_settings": settings},
        {},
        ok=True,
    )
    assert health["global_custom_stats"]["shieldops_result"]["value"]["status"] == "healthy"
    stop = {"type": "stop", "resource_id": web1, "parameters": {}, "dry_run": True}
    dry, out2 = run(
        "execute_action.yml",
        {"shieldops_request": {**envelope, "action": stop}, "shieldops_settings": settings},
        {},
        ok=True,
    )
    assert dry["global_custom_stats"]["shieldops_result"]["ok"] is True
    # The control: the same bootstrap identity used directly (no role in the settings) may not read.
    no_role = {k: v for k, v in settings.items() if k in ("region", "endpoint_url")}
    bootstrap = {"AWS_SHARED_CREDENTIALS_FILE": settings["credentials_file"], "AWS_PROFILE": settings["profile"]}
    refused, out3 = run(
        "get_health.yml",
        {"shieldops_request": {**envelope, "resource_id": web1}, "shieldops_settings": no_role},
        bootstrap,
        ok=False,
    )
    assert refused["global_custom_stats"]["shieldops_result"]["error"]["kind"] == "permission_denied"
    written = [p for p in tmp_path.rglob("*") if p.is_file()] + [p for p in sandbox.state_dir.rglob("*") if p.is_file()]
    for blob in (out1, out2, out3, *(p.read_bytes() for p in written)):
        assert _SESSION_TOKEN not in blob and not _SECRET_ARGUMENT.search(blob)
        assert b"SessionToken" not in blob and b"AWS_SECRET_ACCESS_KEY" not in blob
    assert b'"session_token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in out1  # the scan looked where they would be


def _direct_runs(
    tmp_path: Path, settings: dict[str, Any], env: dict[str, str], runs: list[tuple[str, dict[str, Any]]]
) -> list[bytes]:
    """Each (playbook, request) run as an operator would, with ``env`` as its whole environment and ``settings``
    as its shieldops_settings; each must succeed. Their outputs, for the scans."""
    outputs = []
    for playbook, request in runs:
        path = tmp_path / "request.json"
        path.write_text(json.dumps({"shieldops_request": request, "shieldops_settings": settings}))
        output, printed = _run_playbook(playbook, path, env, ok=True)
        assert output["global_custom_stats"]["shieldops_result"]["ok"] is True
        outputs.append(printed)
    return outputs


async def test_a_direct_kubernetes_run_reads_the_token_file_itself(sandbox: Sandbox, tmp_path: Path) -> None:
    """ansible-playbook with no K8S_AUTH_* in its environment: the role reads the settings' ServiceAccount token
    file at run time; the token is in no output or file of the run."""
    env = load_config(sandbox.config).environment("kubernetes")
    settings = env.settings.role_settings()
    token = Path(settings["token_file"]).read_text().strip()
    bare = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    envelope = {"provider": "kubernetes", "environment": "kubernetes"}
    scale = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": 9}, "dry_run": True}
    outputs = _direct_runs(
        tmp_path,
        settings,
        bare,
        [
            ("get_health.yml", {**envelope, "resource_id": "deployment/shop/web"}),
            ("execute_action.yml", {**envelope, "action": scale}),
        ],
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for blob in (*outputs, *(p.read_bytes() for p in written)):
        assert token.encode() not in blob


async def test_a_direct_gcp_run_mints_its_own_token(sandbox: Sandbox, tmp_path: Path) -> None:
    """ansible-playbook with no GCP_ACCESS_TOKEN: the role mints one from the settings' Workload Identity
    Federation config on the controller (through the settings' proxy and CA), and neither that token (every token
    of the sandbox's fake starts ya29.fake-) nor the subject token is in any output or file of the run."""
    env = load_config(sandbox.config).environment("gcp")
    settings = env.settings.role_settings()
    federation = json.loads(Path(settings["credentials_file"]).read_text())
    subject = Path(federation["credential_source"]["file"]).read_text().strip()
    samples = sandbox.samples("gcp")
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GOOGLE_")) and k != "HTTPS_PROXY"}
    envelope = {"provider": "gcp", "environment": "gcp"}
    action = samples["dry_run_action"]
    dry = {k: action[k] for k in ("type", "resource_id", "parameters")} | {"dry_run": True}
    outputs = _direct_runs(
        tmp_path,
        settings,
        bare,
        [
            ("get_health.yml", {**envelope, "resource_id": samples["service"]}),
            ("execute_action.yml", {**envelope, "action": dry}),
        ],
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    for blob in (*outputs, *(p.read_bytes() for p in written)):
        assert b"ya29.fake-" not in blob and subject.encode() not in blob


async def test_a_direct_azure_run_finds_the_managed_identity_from_the_settings(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """ansible-playbook with no AZURE_*, ANSIBLE_AZURE_* or proxy variables: the role's task environment says where
    the managed identity is (from the settings, as the facade's runs have it), and a read and a dry run work."""
    env = load_config(sandbox.config).environment("azure")
    settings = env.settings.role_settings()
    samples = sandbox.samples("azure")
    bare = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "ANSIBLE_AZURE_", "IDENTITY_", "MSI_")) and k not in ("HTTPS_PROXY", "NO_PROXY")
    }
    envelope = {"provider": "azure", "environment": "azure"}
    action = samples["dry_run_action"]
    dry = {k: action[k] for k in ("type", "resource_id", "parameters")} | {"dry_run": True}
    _direct_runs(
        tmp_path,
        settings,
        bare,
        [
            ("get_health.yml", {**envelope, "resource_id": samples["service"]}),
            ("execute_action.yml", {**envelope, "action": dry}),
        ],
    )


class _AwxDumper(yaml.SafeDumper):
    """How AWX writes a job's extra vars under ALLOW_JINJA_IN_EXTRA_VARS "template" (its default) for survey
    answers and launch-time variables (awx/main/utils/safe_yaml.py): every string, key or value, tagged !unsafe."""


_AwxDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar("!unsafe", value, style="'"))


def _awx_job(
    tmp_path: Path, operation: str, answers: dict[str, Any], env: dict[str, str], *, check: bool = False, ok: bool
) -> tuple[dict[str, Any], bytes]:
    """playbooks/awx/<operation>.yml as an AWX job runs it: the answers in an extra vars file written as AWX
    writes one, ``env`` the whole environment (a credential's injected variables among it), ``check``: a check-mode
    job template. The published result, and all the run printed."""
    extravars = tmp_path / "extravars"
    extravars.write_text(yaml.dump(answers, Dumper=_AwxDumper))
    output, printed = _run_playbook(f"awx/{operation}.yml", extravars, env, ok=ok, check=check)
    return dict(output["global_custom_stats"].get("shieldops_result") or {}), printed


async def test_awx_job_templates_take_survey_answers_as_data(sandbox: Sandbox, tmp_path: Path) -> None:
    """The AWX job templates' playbooks: survey answers (written as AWX writes them) name an environment of the
    ShieldOps config, which gives the provider and settings; the answers are validated by the survey entry
    points and stay data (a template in the reason runs nothing); a check-mode job is a dry run; the ServiceAccount
    credential type's injected token file is how the job reaches the cluster."""
    replicas = int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])
    doc = yaml.safe_load(sandbox.config.read_text())
    # The config an AWX admin stores in the ShieldOps config credential names a token file this job does not
    # have; the ServiceAccount credential's token_file input says where the job's token is.
    token_file = doc["environments"]["kubernetes"]["token_file"]
    doc["environments"]["kubernetes"]["token_file"] = str(tmp_path / "no-token-here")
    config = tmp_path / "shieldops.yaml"
    config.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")} | {"SHIELDOPS_CONFIG": str(config)}
    credential = {"shieldops_kubernetes_credential": {"token_file": token_file, "server": "", "ca_file": ""}}

    health, _ = _awx_job(
        tmp_path,
        "get_health",
        {"shieldops_request_environment": "kubernetes", "shieldops_request_resource_id": "deployment/shop/web"}
        | credential,
        env,
        ok=True,
    )
    async with connect("kubernetes", config=sandbox.config) as conn:
        facade = (await conn.get_health("deployment/shop/web")).model_dump(mode="json")
    for value in (facade, health["value"]):
        value.pop("observed_at")
    assert health["value"] == facade

    marker = tmp_path / "templated"
    answers = {
        "shieldops_request_environment": "kubernetes",
        "shieldops_request_action_type": "scale",
        "shieldops_request_resource_id": "deployment/shop/web",
        "shieldops_request_action_parameters": json.dumps({"replicas": replicas + 3}),
        "shieldops_request_action_reason": "{{ lookup('ansible.builtin.pipe', 'touch " + str(marker) + "') }}",
    }
    dry, _ = _awx_job(tmp_path, "execute_action", answers | credential, env, check=True, ok=True)
    assert dry["value"]["message"].startswith(f"would scale deployment/shop/web: replicas {replicas} -> {replicas + 3}")
    assert not marker.exists()
    assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas

    # Without the credential's token file the job has no way to the cluster; a bad answer is refused by name.
    _awx_job(
        tmp_path,
        "get_health",
        {"shieldops_request_environment": "kubernetes", "shieldops_request_resource_id": "deployment/shop/web"},
        env,
        ok=False,
    )
    _, printed = _awx_job(
        tmp_path,
        "execute_action",
        answers | credential | {"shieldops_request_action_parameters": "[1]"},
        env,
        check=True,
        ok=False,
    )
    assert b"shieldops_request_action_parameters' is of type str and we were unable to convert to dict" in printed
    _, printed = _awx_job(
        tmp_path, "get_health", {"shieldops_request_environment": "kubernetes"} | credential, env, ok=False
    )
    assert b"shieldops_request_resource_id" in printed
    _, printed = _awx_job(
        tmp_path,
        "get_health",
        {"shieldops_request_environment": "nowhere", "shieldops_request_resource_id": "x"} | credential,
        env,
        ok=False,
    )
    assert b"no environment 'nowhere'" in printed
    # A credential's bad field is named, its value never shown.
    bad = {"shieldops_kubernetes_credential": {"token_file": token_file, "rollout_timeout_seconds": "VALUE-7f3a"}}
    _, printed = _awx_job(
        tmp_path,
        "get_health",
        {"shieldops_request_environment": "kubernetes", "shieldops_request_resource_id": "deployment/shop/web"} | bad,
        env,
        ok=False,
    )
    assert b"rollout_timeout_seconds" in printed and printed.count(b"VALUE-7f3a") == 0


async def test_the_awx_templates_list_read_events_snapshot_and_roll_back(sandbox: Sandbox, tmp_path: Path) -> None:
    """The other AWX job templates' playbooks on the same path: a listing with a JSON filter, the last hour's
    events, and a snapshot that the rollback template restores (state dir and key from the config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")} | {
        "SHIELDOPS_CONFIG": str(sandbox.config)
    }
    where = {"shieldops_request_environment": "kubernetes"}
    listed, _ = _awx_job(
        tmp_path,
        "list_resources",
        where | {"shieldops_request_resource_type": "service", "shieldops_request_filters": '{"namespace": "shop"}'},
        env,
        ok=True,
    )
    assert "deployment/shop/web" in [r["id"] for r in listed["value"]]
    events, _ = _awx_job(
        tmp_path, "get_events", where | {"shieldops_request_resource_id": "deployment/shop/web"}, env, ok=True
    )
    assert isinstance(events["value"], list)
    snapshot, _ = _awx_job(
        tmp_path, "create_snapshot", where | {"shieldops_request_resource_id": "deployment/shop/web"}, env, ok=True
    )
    snapshot_id = snapshot["value"]["id"]
    document = load_config(sandbox.config).state_dir / "snapshots" / f"{snapshot_id}.json"
    written = document.read_bytes()
    # Whoever may name a snapshot may not replace one: an id whose document exists is refused, before any write.
    again, _ = _awx_job(
        tmp_path,
        "create_snapshot",
        where | {"shieldops_request_resource_id": "deployment/shop/web", "shieldops_request_snapshot_id": snapshot_id},
        env,
        ok=False,
    )
    assert again["error"] == {"kind": "invalid_request", "message": again["error"]["message"]}
    assert "exists already" in again["error"]["message"] and document.read_bytes() == written
    restored, _ = _awx_job(tmp_path, "rollback", where | {"shieldops_request_snapshot_id": snapshot_id}, env, ok=True)
    assert restored["value"]["success"] is True


async def test_an_awx_workflow_approval_approves_the_action_it_was_for(sandbox: Sandbox, tmp_path: Path) -> None:
    """With awx_approvals in the config, an action under require_approval runs as an AWX workflow's action node
    after an approved approval node, as the controller named in the config says; a pending, denied or timed-out
    approval, a job of another workflow or not running, another action or environment than the approved job's,
    another workflow or job template, an approval by the workflow's launcher, an approval used before, no approval
    node, no controller credential, or no awx_approvals, each refuses it. The token is in nothing the run
    printed."""
    from tests.fake_awx import fake_awx

    replicas = int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"])
    token = "awx-token-" + os.urandom(8).hex()
    answers = {
        "shieldops_request_environment": "kubernetes",
        "shieldops_request_action_type": "scale",
        "shieldops_request_resource_id": "deployment/shop/web",
        "shieldops_request_action_parameters": json.dumps({"replicas": replicas + 1}),
        "shieldops_request_action_reason": "approved in AWX",
    }
    approved = {
        "status": "successful",
        "timed_out": False,
        "summary_fields": {"approved_or_denied_by": {"id": 7, "username": "alice"}},
    }
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["kubernetes"]["policy"] = {"require_approval": ["scale"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "CONTROLLER_"))}
    with fake_awx(token) as awx:
        doc["awx_approvals"] = {"controller_url": awx.url}
        config = tmp_path / "shieldops.yaml"
        config.write_text(yaml.safe_dump(doc))
        job_env = env | {"SHIELDOPS_CONFIG": str(config), "CONTROLLER_OAUTH_TOKEN": token}
        run = answers | {"awx_job_id": 42, "awx_workflow_job_id": 40}

        def refused(why: str, *, job_env: dict[str, str] = job_env, extravars: dict[str, Any] = run) -> None:
            result, printed = _awx_job(tmp_path, "execute_action", extravars, job_env, ok=False)
            assert result["error"]["kind"] == "policy_denied" and "needs approval" in result["error"]["message"]
            assert why in result["error"]["message"], result["error"]["message"]
            assert token.encode() not in printed

        for approval, why in (
            ({"status": "pending", "timed_out": False}, "is pending, not approved"),
            ({"status": "failed", "timed_out": False}, "is failed, not approved"),
            ({"status": "failed", "timed_out": True}, "not approved"),
            (None, "no approval node comes before job 42"),
        ):
            awx.workflow(workflow_job=40, job=42, answers=answers, approval=approval)
            refused(why)
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved, job_status="successful")
        refused("job 42 is not running")
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved, launched_by=39)
        refused("job 42 was not launched by workflow job 40")
        for other in (
            answers | {"shieldops_request_action_parameters": json.dumps({"replicas": replicas + 5})},
            answers | {"shieldops_request_environment": "kubernetes-readonly"},
        ):
            awx.workflow(workflow_job=40, job=42, answers=other, approval=approved)
            refused("job 42 asked for another action than this run's")
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved, workflow_template="Mine")
        refused("workflow job 40 is not of the workflow template 'ShieldOps scale (approved)'")
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved, job_template="Mine")
        refused("job 42 is not of the job template 'ShieldOps execute_action'")
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved, launcher="alice")
        refused("workflow approval 41 is by alice, who launched the workflow")
        awx.workflow(workflow_job=40, job=42, answers=answers, approval=approved)
        refused("no controller credential", job_env=job_env | {"CONTROLLER_OAUTH_TOKEN": ""})
        refused("answered 401", job_env=job_env | {"CONTROLLER_OAUTH_TOKEN": "wrong"})
        refused("this run is no AWX workflow job", extravars=answers)
        assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas

        result, printed = _awx_job(tmp_path, "execute_action", run, job_env, ok=True)
        assert token.encode() not in printed
        assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas + 1
        assert "/api/v2/workflow_jobs/40/workflow_nodes/?page=2&page_size=200" in awx.requests  # AWX's paging
        async with connect("kubernetes", config=sandbox.config) as conn:
            await conn.rollback(result["value"]["snapshot_id"])
        assert int(sandbox.kube().deployment("shop", "web")["spec"]["replicas"]) == replicas
        # An approval approves one run: the same job's claim again is refused.
        refused("workflow approval 41 has already approved a run")

        # Without awx_approvals in the config, the same approved workflow approves nothing.
        del doc["awx_approvals"]
        config.write_text(yaml.safe_dump(doc))
        refused("no approval of the facade's approver came with this run")
