"""`molecule test -s linux` (driver default, unmanaged) converges and verifies the linux role on the sandbox hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from tests.support import Sandbox

pytestmark = pytest.mark.integration


async def test_molecule_linux_scenario(sandbox: Sandbox, tmp_path: Path) -> None:
    # Give converge real work: the service it converges is stopped first.
    bindir = Path(sys.executable).parent
    conf = sandbox.linux_dir / "web-1" / "supervisord.conf"
    subprocess.run([str(bindir / "supervisorctl"), "-c", str(conf), "stop", "web"], check=True, timeout=30)
    assert sandbox.supervisor_status("web-1")["web"] == "STOPPED"
    env_cfg = load_config(sandbox.config).environment("linux")
    run_env = await env_cfg.provider.credentials_env(env_cfg.settings)
    # The scenario's environment, "molecule", in a config of its own: a real action (converge's start) needs the
    # policy of its environment, and is refused when none can be loaded.
    doc = yaml.safe_load(sandbox.config.read_text())
    doc["environments"]["molecule"] = doc["environments"]["linux"]
    config = tmp_path / "molecule.yaml"
    config.write_text(yaml.safe_dump(doc))
    env = {
        **os.environ,
        "SHIELDOPS_CONFIG": str(config),
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        "SHIELDOPS_MOLECULE_INVENTORY": str(sandbox.linux_dir / "inventory.yml"),
        "SSH_AUTH_SOCK": run_env["SSH_AUTH_SOCK"],
        "ANSIBLE_SSH_COMMON_ARGS": run_env["ANSIBLE_SSH_COMMON_ARGS"],
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        [str(bindir / "molecule"), "test", "-s", "linux"],
        cwd=project_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for step in ("syntax", "converge", "idempotence", "verify"):
        assert f"{step}: Executed: Successful" in output.replace("➜ ", "").replace("linux ", ""), step
    assert sandbox.supervisor_status("web-1")["web"] == "RUNNING"
