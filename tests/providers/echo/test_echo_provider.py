"""The provider seam's proof: a provider that exists only in this folder serves all six operations.

It is registered the way a provider of another distribution is, by an entry point (a dist-info folder this test
writes on PYTHONPATH), and driven through the facade on both engines and through the CLI, each in a process of
its own: the processes find it through the registry, the operation role dispatches to its role by path, and no
file outside tests/providers/echo names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible.paths import project_dir
from shieldops_ansible.providers import PROVIDER_TYPES, register

from . import EchoProvider

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _state() -> dict[str, Any]:
    recent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {
        "resources": [
            {"id": "box/alpha", "name": "alpha", "state": "running", "tags": {"team": "blue"}},
            {"id": "box/beta", "name": "beta", "state": "stopped", "tags": {"team": "red"}},
        ],
        "events": [
            {
                "id": "e1",
                "resource_id": "box/alpha",
                "timestamp": recent,
                "type": "started",
                "severity": "info",
                "message": "alpha started",
                "source": "echo",
            },
            {
                "id": "e2",
                "resource_id": "box/beta",
                "timestamp": recent,
                "type": "stopped",
                "severity": "warning",
                "message": "beta stopped",
                "source": "echo",
            },
        ],
    }


@pytest.fixture
def echo(tmp_path: Path) -> dict[str, Any]:
    """A config with an echo environment per engine, and an environment whose processes find the provider by
    its entry point only."""
    site = tmp_path / "site"
    dist = site / "shieldops_echo_provider-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shieldops-echo-provider\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[shieldops_ansible.providers]\necho = tests.providers.echo:EchoProvider\n")
    config = tmp_path / "shieldops.yaml"
    files = {}
    environments = {}
    for engine in ("warm", "runner"):
        files[engine] = tmp_path / f"boxes-{engine}.json"
        files[engine].write_text(json.dumps(_state()))
        environments[f"echo-{engine}"] = {"provider": "echo", "engine": engine, "state_file": str(files[engine])}
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "snapshot_key_file": str(tmp_path / "keys" / "snapshot.key"),
                "audit_log": str(tmp_path / "audit.jsonl"),
                "environments": environments,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(project_dir())])
    return {"config": config, "env": env, "files": files, "tmp": tmp_path}


def _boxes(path: Path) -> dict[str, str]:
    return {r["id"]: r["state"] for r in json.loads(path.read_text())["resources"]}


@pytest.mark.parametrize("engine", ["warm", "runner"])
def test_the_six_operations_through_the_facade(echo: dict[str, Any], engine: str) -> None:
    out = subprocess.run(
        [sys.executable, str(HERE / "agent.py"), f"echo-{engine}", str(echo["config"])],
        env=echo["env"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert [(r["id"], r["type"], r["provider"], r["environment"]) for r in got["listed"]] == [
        ("box/alpha", "instance", "echo", f"echo-{engine}")
    ]
    assert got["before"]["status"] == "healthy"
    assert [e["id"] for e in got["events"]] == ["e1"]
    assert got["snapshot"]["provider"] == "echo" and got["snapshot"]["state"] == {"state": "running"}
    assert got["dry"]["status"] == "dry_run" and got["dry"]["diff"]["after"] == {"state": "stopped"}
    assert got["after_dry"]["status"] == "healthy"  # a dry run writes nothing
    # A destructive action snapshots first, in the same run; health afterwards is the facade's own check.
    assert got["stop"]["success"] and got["stop"]["snapshot_id"], got["stop"]
    assert got["stopped"]["status"] == "unhealthy"
    assert got["rollback"]["success"] and got["rollback"]["restored"] == ["state"]
    assert got["restored"]["status"] == "healthy"
    assert got["errors"] == {
        "bad_id": "InvalidRequest",
        "unknown_box": "ResourceNotFound",
        "bad_action": "ActionNotSupported",
    }
    assert _boxes(echo["files"][engine]) == {"box/alpha": "running", "box/beta": "stopped"}
    # The audit trail has the actions, like any provider's.
    audit = [json.loads(line) for line in (echo["tmp"] / "audit.jsonl").read_text().splitlines()]
    assert {r["operation"] for r in audit} >= {"execute_action", "rollback"}


def test_the_cli(echo: dict[str, Any]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "shieldops-ansible"), *args, "--env", "echo-warm", "--config", str(echo["config"])],
            env=echo["env"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    listed = cli("list", "instance", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == ["box/alpha", "box/beta"]
    stop = cli("act", "stop", "box/alpha", "--json")
    assert stop.returncode == 0, stop.stderr
    snapshot_id = json.loads(stop.stdout)["snapshot_id"]
    assert _boxes(echo["files"]["warm"])["box/alpha"] == "stopped"
    health = cli("health", "box/alpha")
    assert health.returncode == 0 and "unhealthy" in health.stdout
    rolled = cli("rollback", snapshot_id)
    assert rolled.returncode == 0, rolled.stderr
    assert _boxes(echo["files"]["warm"])["box/alpha"] == "running"
    bad = cli("health", "not-a-box")
    assert bad.returncode == 1 and "InvalidRequest" in bad.stderr


def test_register_makes_it_known_in_process() -> None:
    assert "echo" not in PROVIDER_TYPES
    register(EchoProvider)
    try:
        caps = PROVIDER_TYPES["echo"]().capabilities
        assert caps.native_types_for("instance") == ["echo_box"]
        assert caps.native_type_of("box/alpha").name == "echo_box"
    finally:
        PROVIDER_TYPES.unregister("echo")
    assert "echo" not in PROVIDER_TYPES


def test_nothing_outside_this_folder_names_it() -> None:
    root = project_dir()
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        path = root / name
        # Docs may point here (the README's "Adding a provider" does).
        if path.is_relative_to(HERE) or not path.is_file() or path.suffix == ".md" or name.startswith("changelogs/"):
            continue
        text = path.read_text(errors="replace").lower()
        assert "echo_box" not in text and "providers.echo" not in text and "providers/echo" not in text, name
