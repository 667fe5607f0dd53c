"""Issue 17's figures: an agent fleet's load on the warm engine (mixed reads at concurrency, CPU per read, latency
under load, a CLI command with the per-user server running) and the table of every figure next to its target.

Used by ``bench/run.py``; tests never assert on any of these times.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stats import summary  # bench/stats.py

from shieldops_ansible import Action, InfraConnector, TimeRange

__all__ = ["TARGETS", "cli_command", "cpu_per_read", "mixed_reads", "target_rows"]

Call = Callable[[], Awaitable[Any]]

# figure -> (target, "max" if the figure must stay at or under it, "min" if at or over it)
TARGETS: dict[str, tuple[float, str]] = {
    "read P95 ms, every AWS and Kubernetes row, concurrency 1": (150.0, "max"),
    "action with its snapshot P95 ms": (250.0, "max"),
    "mixed reads ops/s at concurrency 8": (20.0, "min"),
    "mixed reads ops/s at concurrency 32": (20.0, "min"),
    "CPU ms per read (server's children, user + system)": (90.0, "max"),
    "P95 at concurrency 8 over P95 at concurrency 1 (Kubernetes get_health)": (2.0, "max"),
    "CLI command with the warm server running, ms end to end (P95)": (300.0, "max"),
}


def _mix(aws: InfraConnector, kube: InfraConnector, ids: dict[str, str]) -> list[Call]:
    """An agent's reads: list, health, events, dry runs, on AWS and Kubernetes."""
    now = datetime.now(UTC)
    window = TimeRange(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    vm, svc = ids["instance"], ids["service"]
    return [
        lambda: kube.get_health("deployment/shop/web"),
        lambda: aws.get_health(vm),
        lambda: kube.list_resources("service", {}),
        lambda: aws.list_resources("instance", {}),
        lambda: kube.get_events("deployment/shop/checkout", window),
        lambda: aws.get_events(vm, window),
        lambda: kube.execute_action(
            Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 3}, dry_run=True)
        ),
        lambda: aws.execute_action(Action(type="scale", resource_id=svc, parameters={"replicas": 3}, dry_run=True)),
    ]


async def _at_concurrency(calls: list[Call], concurrency: int, total: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(call: Call) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(calls[i % len(calls)]) for i in range(total)))
    elapsed = time.perf_counter() - started
    figures = summary(latencies)
    return {
        "concurrency": concurrency,
        "requests": total,
        "ops_per_s": round(total / elapsed, 2),
        "median_ms": figures["median_ms"],
        "p95_ms": figures["p95_ms"],
        "errors": len(errors),
        "first_errors": errors[:3],
    }


async def mixed_reads(
    aws: InfraConnector, kube: InfraConnector, ids: dict[str, str], *, per_level: int = 64
) -> dict[str, Any]:
    """Mixed reads at concurrency 8 and 32, and Kubernetes get_health alone at 1 and 8 (latency under load)."""
    mix = _mix(aws, kube, ids)
    for call in mix:  # warm connections and caches, as in steady use
        await call()
    out: dict[str, Any] = {}
    for level in (8, 32):
        out[f"mixed_c{level}"] = await _at_concurrency(mix, level, max(per_level, level * 2))
        print(f"  mixed reads c={level}: {out[f'mixed_c{level}']}", flush=True)
    health = [mix[0]]
    for level in (1, 8):
        out[f"kube_health_c{level}"] = await _at_concurrency(health, level, max(24, level * 4))
        print(f"  kubernetes get_health c={level}: {out[f'kube_health_c{level}']}", flush=True)
    return out


def _cpu_ticks(pid: int) -> tuple[int, int]:
    """(the process's own, its reaped children's) user + system clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return utime + stime, cutime + cstime


async def cpu_per_read(conn: InfraConnector, call: Callable[[InfraConnector], Call], server_pid: int, n: int) -> float:
    """CPU of a read, in ms: what the server's reaped request children (and everything they reaped: task workers,
    module processes) used, over ``n`` reads one at a time, plus the server's own accept loop."""
    await call(conn)()
    await asyncio.sleep(1.5)  # the warm-up's child reaped
    own_before, children_before = _cpu_ticks(server_pid)
    for _ in range(n):
        await call(conn)()
    await asyncio.sleep(1.5)  # the last child reaped (the accept loop reaps at least once a second)
    own_after, children_after = _cpu_ticks(server_pid)
    ticks = (own_after - own_before) + (children_after - children_before)
    return round(ticks * 1000 / os.sysconf("SC_CLK_TCK") / n, 1)


def cli_command(config: Path, rounds: int) -> dict[str, Any]:
    """``shieldops-ansible health`` as a user types it, with the per-user server running (and once without)."""
    cli = str(Path(sys.executable).parent / "shieldops-ansible")
    runtime = Path(tempfile.mkdtemp(prefix="xdg-bench-", dir="/tmp"))
    env = os.environ | {"XDG_RUNTIME_DIR": str(runtime)}
    command = [cli, "health", "--env", "kubernetes", "--config", str(config), "deployment/shop/web", "--json"]

    def once() -> float:
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        return (time.perf_counter() - started) * 1000

    try:
        without = once()
        subprocess.run([cli, "warm-server", "start"], env=env, check=True, capture_output=True, timeout=120)
        once()  # its first request
        samples = [once() for _ in range(rounds)]
    finally:
        subprocess.run([cli, "warm-server", "stop"], env=env, check=False, capture_output=True, timeout=120)
        shutil.rmtree(runtime, ignore_errors=True)
    return {**summary(samples), "without_server_ms": round(without, 1)}


def target_rows(report: dict[str, Any]) -> list[tuple[str, float | None, float, bool | None]]:
    """(figure, measured or None, target, met or None) for every figure of issue 17's table."""
    ops = [r for r in report.get("operations", []) if r["provider"] in ("aws", "kubernetes")]
    reads = [r["warm"]["p95_ms"] for r in ops if r["kind"] == "read"]
    actions = [r["warm"]["p95_ms"] for r in ops if r["kind"] == "action"]
    fleet = report.get("fleet", {})
    load = fleet.get("load", {})
    c1, c8 = load.get("kube_health_c1", {}).get("p95_ms"), load.get("kube_health_c8", {}).get("p95_ms")
    mixed_ok = all(load.get(k, {}).get("errors", 1) == 0 for k in ("mixed_c8", "mixed_c32"))
    measured: dict[str, float | None] = {
        "read P95 ms, every AWS and Kubernetes row, concurrency 1": max(reads) if reads else None,
        "action with its snapshot P95 ms": max(actions) if actions else None,
        "mixed reads ops/s at concurrency 8": load.get("mixed_c8", {}).get("ops_per_s"),
        "mixed reads ops/s at concurrency 32": load.get("mixed_c32", {}).get("ops_per_s"),
        "CPU ms per read (server's children, user + system)": fleet.get("cpu_ms_per_read"),
        "P95 at concurrency 8 over P95 at concurrency 1 (Kubernetes get_health)": (
            round(c8 / c1, 2) if c1 and c8 else None
        ),
        "CLI command with the warm server running, ms end to end (P95)": fleet.get("cli", {}).get("p95_ms"),
    }
    rows: list[tuple[str, float | None, float, bool | None]] = []
    for figure, (target, sense) in TARGETS.items():
        value = measured[figure]
        met = None if value is None else (value <= target if sense == "max" else value >= target)
        if met and "mixed reads" in figure and not mixed_ok:
            met = False  # the target is without errors
        rows.append((figure, value, target, met))
    return rows
