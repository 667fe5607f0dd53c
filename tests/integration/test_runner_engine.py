"""The runner engine on its own: results, events, timeouts, cancellation and cleanup, with a real ansible-runner."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible.engines.base import RunRequest
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.paths import project_dir

pytestmark = pytest.mark.integration

SLOW = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Report the request
      ansible.builtin.set_stats:
        data: {shieldops_result: {ok: true, value: "{{ shieldops_request.echo }}"}}
        per_host: false
    - name: Wait
      ansible.builtin.pause:
        seconds: "{{ shieldops_request.pause }}"
"""


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of this test only, so that other runs in parallel do not show up in the before/after comparisons."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="shieldops-project-"))
    shutil.copy(project_dir() / "ansible.cfg", root / "ansible.cfg")
    shutil.copytree(project_dir() / "inventories" / "localhost", root / "inventories" / "localhost")
    (root / "playbooks").mkdir()
    (root / "playbooks" / "slow.yml").write_text(SLOW)
    monkeypatch.setenv("SHIELDOPS_PROJECT_DIR", str(root))
    yield root
    shutil.rmtree(root)


def _runs_left() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("shieldops-run-*"))


async def test_result_and_events(project: Path) -> None:
    seen: list[str] = []

    def on_event(event: Mapping[str, Any]) -> None:
        seen.append(str(event.get("event")))

    before = set(_runs_left())
    result = await RunnerEngine().run(
        RunRequest("slow", {"shieldops_request": {"echo": "{{ 6 * 7 }}", "pause": 0}}, on_event=on_event)
    )
    assert result.status == "successful" and result.rc == 0
    assert result.result == {"ok": True, "value": "{{ 6 * 7 }}"}  # data, never templated
    assert "playbook_on_task_start" in seen and "playbook_on_stats" in seen
    assert set(_runs_left()) == before, "the private data dir is removed"


async def test_timeout(project: Path) -> None:
    result = await RunnerEngine().run(
        RunRequest("slow", {"shieldops_request": {"echo": "x", "pause": 30}}, timeout_s=3)
    )
    assert result.status == "timeout"
    assert not await _still_running(project), "the task worker of a timed-out run is killed too"


async def test_cancellation_stops_the_run(project: Path) -> None:
    started = asyncio.Event()

    def on_event(event: Mapping[str, Any]) -> None:
        if event.get("event") == "playbook_on_task_start" and "Wait" in str(event.get("event_data", {}).get("task")):
            started.set()

    before = set(_runs_left())
    task = asyncio.create_task(
        RunnerEngine().run(RunRequest("slow", {"shieldops_request": {"echo": "x", "pause": 60}}, on_event=on_event))
    )
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert set(_runs_left()) == before
    assert not await _still_running(project), "no ansible-playbook of the cancelled run is left"


async def _still_running(project: Path, within_s: float = 10.0) -> bool:
    """Whether an ansible-playbook of the slow playbook is still running after ``within_s``: a killed process may
    take a moment to go on a loaded machine (CI failed on an immediate look once)."""
    marker = str(project / "playbooks" / "slow.yml").encode()
    deadline = time.monotonic() + within_s
    while True:
        running = False
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes():
                    running = True
                    break
            except OSError:
                continue
        if not running or time.monotonic() > deadline:
            return running
        await asyncio.sleep(0.05)
