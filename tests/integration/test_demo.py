"""`shieldops-ansible demo`: the sample agent runs unchanged against every sandbox environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_the_sample_agent(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "shieldops-ansible"
    try:
        proc = subprocess.run(
            [str(cli), "demo", "--dir", str(tmp_path / "sandbox")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        subprocess.run([str(cli), "sandbox", "down", "--dir", str(tmp_path / "sandbox")], check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for environment in ("aws", "gcp", "azure"):
        lines = [line.split() for line in proc.stdout.splitlines() if line.startswith(f"{environment} ")]
        steps = [cols[1] for cols in lines]
        for step in ("list", "health", "snapshot", "dry", "act", "events", "rollback"):
            assert step in steps, (environment, step, proc.stdout)
        assert any(cols[1] == "rollback" and "success=True" in cols for cols in lines), (environment, proc.stdout)
    assert "unhealthy" in proc.stdout and "status=dry_run" in proc.stdout
    # It ends with a short MCP session over stdio: the tools, one health (twice), one dry run.
    mcp = [line for line in proc.stdout.splitlines() if line.startswith("mcp ")]
    assert len(mcp) == 4, proc.stdout[-3000:]
    assert "get_health" in mcp[0] and "execute_action" in mcp[0] and "rollback" not in mcp[0]
    assert all(line.startswith("mcp get_health ") and "status=" in line for line in mcp[1:3])
    assert mcp[3].startswith("mcp execute_action ") and "status=dry_run" in mcp[3]
