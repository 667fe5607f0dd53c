"""Latency of the six operations against the ansible-runner baseline, measured in one run on this machine.

The baseline is what DESIGN.md measured as "naive": one ``ansible_runner.run`` per call of a minimal playbook that
calls the same upstream module (no facade, no role, no normalisation). Each engine row reports median and P95 and
its ratio to the baseline of its kind (AWS read, AWS write, Linux read, Kubernetes read). Results go to
``bench/results.json``.

    make bench                # or: .venv/bin/python bench/run.py --reads 10 --writes 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from shieldops_ansible import Action, TimeRange, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.paths import project_dir
from shieldops_ansible.sandbox import manager

RESULTS = Path(__file__).with_name("results.json")
BASELINE_READ = """
- hosts: localhost
  gather_facts: false
  tasks:
    - amazon.aws.ec2_instance_info:
        instance_ids: ["{{ iid }}"]
"""
BASELINE_LINUX_READ = """
- hosts: web-1
  gather_facts: false
  tasks:
    - ansible.builtin.setup:
        gather_subset: [min]
"""
BASELINE_KUBE_READ = """
- hosts: localhost
  gather_facts: false
  tasks:
    - kubernetes.core.k8s_info: {api_version: apps/v1, kind: Deployment, namespace: shop, name: web}
"""
BASELINE_WRITE = """
- hosts: localhost
  gather_facts: false
  tasks:
    - amazon.aws.ec2_instance: {instance_ids: ["{{ iid }}"], state: stopped, wait: true}
    - amazon.aws.ec2_instance: {instance_ids: ["{{ iid }}"], state: running, wait: true}
"""


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 1), "p95_ms": round(p95, 1)}


async def _measure(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _baseline(
    playbook: str, iid: str, env: dict[str, str], n: int, inventory: str = "localhost ansible_connection=local"
) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="shieldops-bench-"))
    try:
        (work / "project").mkdir()
        (work / "project" / "play.yml").write_text(playbook)
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            run = ansible_runner.run(
                private_data_dir=str(work),
                playbook="play.yml",
                inventory=inventory,
                extravars={"iid": iid, "ansible_python_interpreter": sys.executable},
                envvars=env,
                quiet=True,
            )
            samples.append((time.perf_counter() - started) * 1000)
            if run.rc != 0:
                raise RuntimeError(f"baseline run failed: {run.status}: {run.stdout.read()[-2000:]}")
        return samples
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--writes", type=int, default=4)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="shieldops-bench-sandbox-"))
    config = manager.up(directory)
    try:
        state = json.loads((directory / "sandbox.json").read_text())["resources"]["aws"]
        web1, api = state["instance/web-1"], state["service/api"]
        env_cfg = load_config(config).environment("aws")
        creds = await env_cfg.provider.credentials_env(env_cfg.settings)
        # The naive baseline hands the credentials over as ansible-runner envvars (our engine never does).
        base_env = {
            **creds,
            "ANSIBLE_CONFIG": str(project_dir() / "ansible.cfg"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        rows: dict[str, dict[str, Any]] = {}
        read_base, write_base = "aws baseline read (ec2_instance_info)", "aws baseline write (stop+start)"
        linux_base = "linux baseline read (setup over ssh)"
        rows[read_base] = {"base": read_base, **_summary(_baseline(BASELINE_READ, web1, base_env, args.reads))}
        rows[write_base] = {"base": write_base, **_summary(_baseline(BASELINE_WRITE, web1, base_env, args.writes))}
        linux_cfg = load_config(config).environment("linux")
        linux_env = {**base_env, **await linux_cfg.provider.credentials_env(linux_cfg.settings)}
        inventory = str(directory / "linux" / "inventory.yml")
        rows[linux_base] = {
            "base": linux_base,
            **_summary(_baseline(BASELINE_LINUX_READ, "", linux_env, args.reads, inventory=inventory)),
        }
        kube_cfg = load_config(config).environment("kubernetes")
        kube_env = {**base_env, **await kube_cfg.provider.credentials_env(kube_cfg.settings)}
        kube_base = "kubernetes baseline read (k8s_info)"
        rows[kube_base] = {"base": kube_base, **_summary(_baseline(BASELINE_KUBE_READ, "", kube_env, args.reads))}
        async with connect("aws", config=config) as conn:
            reads: dict[str, Callable[[], Awaitable[Any]]] = {
                "get_health ec2_instance": lambda: conn.get_health(web1),
                "list_resources instance": lambda: conn.list_resources("instance", {}),
                "get_events ec2_instance": lambda: conn.get_events(web1, TimeRange.last(minutes=60)),
                "execute_action dry_run scale": lambda: conn.execute_action(
                    Action(type="scale", resource_id=api, parameters={"replicas": 3}, dry_run=True)
                ),
            }
            for name, call in reads.items():
                rows[f"aws runner engine {name}"] = {"base": read_base, **_summary(await _measure(args.reads, call))}

            async def stop_start() -> None:
                await conn.execute_action(Action(type="stop", resource_id=web1))
                await conn.execute_action(Action(type="start", resource_id=web1))

            rows["aws runner engine execute_action stop+start (with snapshot)"] = {
                "base": write_base,
                **_summary(await _measure(args.writes, stop_start)),
            }
            snapshot_ms = await _measure(args.writes, lambda: conn.create_snapshot(api))
            rows["aws runner engine create_snapshot ecs_service"] = {"base": write_base, **_summary(snapshot_ms)}
        async with connect("linux", config=config) as conn:
            linux_reads: dict[str, Callable[[], Awaitable[Any]]] = {
                "get_health host": lambda: conn.get_health("host/web-1"),
                "get_health service": lambda: conn.get_health("service/web-1/web"),
                "list_resources service": lambda: conn.list_resources("service", {}),
                "execute_action dry_run restart service": lambda: conn.execute_action(
                    Action(type="restart", resource_id="service/web-1/web", dry_run=True)
                ),
            }
            for name, call in linux_reads.items():
                rows[f"linux runner engine {name}"] = {
                    "base": linux_base,
                    **_summary(await _measure(args.reads, call)),
                }
        async with connect("kubernetes", config=config) as conn:
            web = "deployment/shop/web"
            kube_reads: dict[str, Callable[[], Awaitable[Any]]] = {
                "get_health deployment": lambda: conn.get_health(web),
                "list_resources service": lambda: conn.list_resources("service", {}),
                "get_events deployment": lambda: conn.get_events(web, TimeRange.last(minutes=60)),
                "execute_action dry_run scale": lambda: conn.execute_action(
                    Action(type="scale", resource_id=web, parameters={"replicas": 3}, dry_run=True)
                ),
                "create_snapshot deployment": lambda: conn.create_snapshot(web),
            }
            for name, call in kube_reads.items():
                rows[f"kubernetes runner engine {name}"] = {
                    "base": kube_base,
                    **_summary(await _measure(args.reads, call)),
                }
        for row in rows.values():
            ref = rows[row["base"]]
            row["median_vs_baseline"] = round(row["median_ms"] / ref["median_ms"], 2)
            row["p95_vs_baseline"] = round(row["p95_ms"] / ref["p95_ms"], 2)
        report = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "backend": "sandbox: moto server on loopback; sshd hosts in network namespaces; "
            "Kubernetes API test server over TLS",
            "rows": rows,
        }
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        width = max(len(n) for n in rows)
        print(
            f"{'path'.ljust(width)}  {'n':>3}  {'median ms':>9}  {'p95 ms':>8}  {'x base med':>10}  {'x base p95':>10}"
        )
        for name, row in rows.items():
            print(
                f"{name.ljust(width)}  {row['n']:>3}  {row['median_ms']:>9.0f}  {row['p95_ms']:>8.0f}  "
                f"{row['median_vs_baseline']:>10.2f}  {row['p95_vs_baseline']:>10.2f}"
            )
        print(f"written to {RESULTS}")
    finally:
        manager.down(directory)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
