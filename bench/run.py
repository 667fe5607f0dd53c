"""The benchmark of issue 5: warm engine, runner engine and the direct-SDK floor, interleaved, in one run.

    make bench                      # the full run (10,000 EC2 instances, RSS over 10,000 calls)
    .venv/bin/python bench/run.py --rounds 10 --runner-rounds 3 --rss-calls 1000

It starts a sandbox of its own, then measures, for every provider and operation, one call of each path per round
(warm, floor, and the runner engine for the first --runner-rounds rounds), so that all paths see the same
machine load. Then: a naive ``ansible_runner.run`` baseline (DESIGN.md's reference), throughput of warm reads at
concurrency 1/2/4/8, list_resources over 10,000 EC2 instances, and the warm server's RSS over many calls.
Results: ``bench/results.json`` and ``bench/RESULTS.md``. Tests never assert on any of these times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import fleet  # bench/fleet.py: a script's own folder is first on sys.path
import requests
from stats import summary  # bench/stats.py

from shieldops_ansible import Action, InfraConnector, TimeRange, connect
from shieldops_ansible.config import load_config
from shieldops_ansible.engines.processes import descendants
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from shieldops_ansible.paths import project_dir
from shieldops_ansible.providers.azure.sandbox import SUBSCRIPTION as AZURE_SUBSCRIPTION
from shieldops_ansible.sandbox import manager

HERE = Path(__file__).resolve().parent
Call = Callable[[], Awaitable[Any]]
READ_TARGET_MS, ACTION_TARGET_MS = 150.0, 250.0  # issue 17
PROVIDERS = ["aws", "linux", "kubernetes", "gcp", "azure"]


async def timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int) -> int:
    total = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            total += rss_kib(member)
    return total


class Floors:
    """The direct calls each provider's operation boils down to, with warm clients: the latency floor."""

    def __init__(self, directory: Path, config: Path, creds: dict[str, dict[str, str]]) -> None:
        cfg = load_config(config)
        aws_settings = cfg.environment("aws").settings
        self.ec2 = boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=getattr(aws_settings, "endpoint_url", None),
            aws_access_key_id=creds["aws"]["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["aws"]["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["aws"]["AWS_SESSION_TOKEN"],
        )
        kube = directory / "kubernetes"
        self.kube_url = f"https://127.0.0.1:{json.loads((kube / 'server.json').read_text())['port']}"
        self.kube_token = (kube / "agent.token").read_text()
        self.kube_tls = ssl.create_default_context(cafile=str(kube / "ca.pem"))
        linux = creds["linux"]
        self.ssh = [
            "ssh",
            *shlex.split(linux["ANSIBLE_SSH_COMMON_ARGS"]),
            "-p",
            "22",
            f"root@{json.loads((directory / 'sandbox.json').read_text())['resources']['linux']['web-1']}",
            "true",
        ]
        self.ssh_env = {**os.environ, "SSH_AUTH_SOCK": linux["SSH_AUTH_SOCK"]}
        gcp = creds["gcp"]
        self.gcp = requests.Session()  # what google-auth's AuthorizedSession does with a minted token
        self.gcp.trust_env = False  # this process's CA bundle variables would win over the session's verify
        self.gcp.headers["Authorization"] = f"Bearer {gcp['GCP_ACCESS_TOKEN']}"
        self.gcp.proxies = {"https": gcp["HTTPS_PROXY"]}
        self.gcp.verify = gcp["REQUESTS_CA_BUNDLE"]
        self.gcp_instance = f"https://compute.googleapis.com/compute/v1/projects/{gcp['GCP_PROJECT']}/zones/europe-west1-b/instances/web-1"
        # What an Azure SDK client with a cached managed-identity token does: one GET of the VM.
        azure = creds["azure"]
        imds = requests.get(
            f"{azure['AZURE_POD_IDENTITY_AUTHORITY_HOST']}/metadata/identity/oauth2/token",
            params={
                "api-version": "2018-02-01",
                "resource": "https://management.azure.com/",
                "client_id": azure["AZURE_CLIENT_ID"],
            },
            headers={"Metadata": "true"},
            timeout=10,
        )
        imds.raise_for_status()
        self.azure = requests.Session()
        self.azure.trust_env = False
        self.azure.headers["Authorization"] = f"Bearer {imds.json()['access_token']}"
        self.azure.proxies = {"https": azure["HTTPS_PROXY"]}
        self.azure.verify = azure["REQUESTS_CA_BUNDLE"]
        self.azure_vm = (
            f"https://management.azure.com/subscriptions/{azure['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-web"
            "/providers/Microsoft.Compute/virtualMachines/web-1?api-version=2024-07-01"
        )

    async def aws(self, instance_id: str) -> None:
        await asyncio.to_thread(self.ec2.describe_instances, InstanceIds=[instance_id])

    def _kube_get(self, path: str) -> None:
        request = urllib.request.Request(self.kube_url + path, headers={"Authorization": f"Bearer {self.kube_token}"})
        with urllib.request.urlopen(request, context=self.kube_tls, timeout=10) as response:
            response.read()

    async def kubernetes(self) -> None:
        await asyncio.to_thread(self._kube_get, "/apis/apps/v1/namespaces/shop/deployments/web")

    async def linux(self) -> None:
        await asyncio.to_thread(subprocess.run, self.ssh, env=self.ssh_env, capture_output=True, check=True)

    async def gcp_call(self) -> None:
        response = await asyncio.to_thread(self.gcp.get, self.gcp_instance, timeout=10)
        response.raise_for_status()

    async def azure_call(self) -> None:
        response = await asyncio.to_thread(self.azure.get, self.azure_vm, timeout=10)
        response.raise_for_status()


def operations(conn: InfraConnector, provider: str, ids: dict[str, str]) -> dict[str, tuple[str, Call]]:
    """name -> (kind, call); kind is "read" or "action" (the target that applies)."""
    window = TimeRange(start=datetime.now(UTC) - timedelta(hours=1), end=datetime.now(UTC) + timedelta(hours=1))
    if provider == "aws":
        vm, svc = ids["instance"], ids["service"]
        state = {"replicas": 2}

        async def scale() -> None:
            state["replicas"] = 3 if state["replicas"] == 2 else 2
            await conn.execute_action(Action(type="scale", resource_id=svc, parameters=dict(state)))

        return {
            "get_health ec2_instance": ("read", lambda: conn.get_health(vm)),
            "list_resources instance": ("read", lambda: conn.list_resources("instance", {})),
            "get_events ec2_instance": ("read", lambda: conn.get_events(vm, window)),
            "execute_action dry_run scale ecs": (
                "read",
                lambda: conn.execute_action(
                    Action(type="scale", resource_id=svc, parameters={"replicas": 3}, dry_run=True)
                ),
            ),
            "create_snapshot ecs_service": ("read", lambda: conn.create_snapshot(svc)),
            "execute_action scale ecs (snapshot first)": ("action", scale),
        }
    if provider == "linux":
        return {
            "get_health host": ("read", lambda: conn.get_health("host/web-1")),
            "list_resources instance": ("read", lambda: conn.list_resources("instance", {})),
            "get_health service": ("read", lambda: conn.get_health("service/web-1/web")),
            "list_resources service": ("read", lambda: conn.list_resources("service", {})),
            "get_events service": ("read", lambda: conn.get_events("service/web-2/worker", window)),
            "execute_action dry_run restart": (
                "read",
                lambda: conn.execute_action(Action(type="restart", resource_id="service/web-1/web", dry_run=True)),
            ),
            "create_snapshot service": ("read", lambda: conn.create_snapshot("service/web-1/web")),
            "execute_action restart service (snapshot first)": (
                "action",
                lambda: conn.execute_action(Action(type="restart", resource_id="service/web-1/web")),
            ),
        }
    if provider == "azure":
        vms = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines"
        app = (
            f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/rg-functions/providers/Microsoft.Web/sites/thumbnailer"
        )
        return {
            "get_health vm": ("read", lambda: conn.get_health(f"{vms}/web-1")),
            "list_resources instance": ("read", lambda: conn.list_resources("instance", {})),
            "get_events vm": ("read", lambda: conn.get_events(f"{vms}/web-2", window)),
            "execute_action dry_run stop": (
                "read",
                lambda: conn.execute_action(Action(type="stop", resource_id=f"{vms}/web-1", dry_run=True)),
            ),
            "get_health function_app": ("read", lambda: conn.get_health(app)),
            "create_snapshot function_app": ("read", lambda: conn.create_snapshot(app)),
            "create_snapshot vm (disk snapshots)": ("read", lambda: conn.create_snapshot(f"{vms}/web-1")),
            "execute_action restart function_app (snapshot first)": (
                "action",
                lambda: conn.execute_action(Action(type="restart", resource_id=app)),
            ),
        }
    if provider == "gcp":
        web1 = "projects/shieldops-sandbox/zones/europe-west1-b/instances/web-1"
        api = "projects/shieldops-sandbox/locations/europe-west1/services/api"
        minimum = {"replicas": 1}

        async def run_scale() -> None:
            minimum["replicas"] = 2 if minimum["replicas"] == 1 else 1
            await conn.execute_action(Action(type="scale", resource_id=api, parameters=dict(minimum)))

        return {
            "get_health gce_instance": ("read", lambda: conn.get_health(web1)),
            "list_resources instance": ("read", lambda: conn.list_resources("instance", {})),
            "get_events gce_instance": ("read", lambda: conn.get_events(web1.replace("web-1", "web-2"), window)),
            "execute_action dry_run stop": (
                "read",
                lambda: conn.execute_action(Action(type="stop", resource_id=web1, dry_run=True)),
            ),
            "get_health cloud_run_service": ("read", lambda: conn.get_health(api)),
            "create_snapshot cloud_run_service": ("read", lambda: conn.create_snapshot(api)),
            "create_snapshot gce_instance (disk snapshots)": ("read", lambda: conn.create_snapshot(web1)),
            "execute_action scale cloud_run (snapshot first)": ("action", run_scale),
        }
    state = {"replicas": 2}

    async def kube_scale() -> None:
        state["replicas"] = 3 if state["replicas"] == 2 else 2
        await conn.execute_action(Action(type="scale", resource_id="deployment/shop/web", parameters=dict(state)))

    return {
        "get_health deployment": ("read", lambda: conn.get_health("deployment/shop/web")),
        "list_resources service": ("read", lambda: conn.list_resources("service", {})),
        "get_events deployment": ("read", lambda: conn.get_events("deployment/shop/checkout", window)),
        "execute_action dry_run scale": (
            "read",
            lambda: conn.execute_action(
                Action(type="scale", resource_id="deployment/shop/web", parameters={"replicas": 4}, dry_run=True)
            ),
        ),
        "create_snapshot deployment": ("read", lambda: conn.create_snapshot("deployment/shop/web")),
        "execute_action scale deployment (snapshot first)": ("action", kube_scale),
    }


NAIVE_READ = """
- hosts: localhost
  gather_facts: false
  tasks:
    - amazon.aws.ec2_instance_info:
        instance_ids: ["{{ iid }}"]
"""


def naive_baseline(iid: str, env: dict[str, str], n: int) -> list[float]:
    """DESIGN.md's reference: one ansible_runner.run of a one-module playbook per call."""
    import ansible_runner

    work = Path(tempfile.mkdtemp(prefix="shieldops-bench-"))
    try:
        (work / "project").mkdir()
        (work / "project" / "play.yml").write_text(NAIVE_READ)
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            run = ansible_runner.run(
                private_data_dir=str(work),
                playbook="play.yml",
                inventory="localhost ansible_connection=local",
                extravars={"iid": iid, "ansible_python_interpreter": sys.executable},
                envvars=env,
                quiet=True,
            )
            samples.append((time.perf_counter() - started) * 1000)
            if run.rc != 0:
                raise RuntimeError(f"baseline run failed: {run.status}")
        return samples
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def throughput(conn: InfraConnector, call: Callable[[InfraConnector], Call], requests: int) -> dict[str, Any]:
    rows = {}
    for concurrency in (1, 2, 4, 8):
        gate = asyncio.Semaphore(concurrency)
        errors = 0

        async def one(gate: asyncio.Semaphore = gate) -> None:
            nonlocal errors
            async with gate:
                try:
                    await call(conn)()
                except Exception:  # counted, reported
                    errors += 1

        count = max(requests, concurrency * 3)
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - started
        rows[str(concurrency)] = {"requests": count, "ops_per_s": round(count / elapsed, 2), "errors": errors}
        print(f"  throughput c={concurrency}: {rows[str(concurrency)]}", flush=True)
    return rows


def _ec2(config: Path, creds: dict[str, str]) -> Any:
    settings = load_config(config).environment("aws").settings
    return boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=getattr(settings, "endpoint_url", None),
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )


def describe_all_ms(config: Path, creds: dict[str, str]) -> float:
    """The floor of the big listing: every instance described by a warm boto3 client, pages followed."""
    ec2 = _ec2(config, creds)
    started = time.perf_counter()
    for page in ec2.get_paginator("describe_instances").paginate():
        page["Reservations"]
    return round((time.perf_counter() - started) * 1000, 1)


def seed_instances(config: Path, creds: dict[str, str], total: int) -> float:
    ec2 = _ec2(config, creds)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    started = time.perf_counter()
    have = sum(
        len(r["Instances"]) for page in ec2.get_paginator("describe_instances").paginate() for r in page["Reservations"]
    )
    while have < total:
        batch = min(1000, total - have)
        ec2.run_instances(ImageId=image, MinCount=batch, MaxCount=batch, InstanceType="t3.micro")
        have += batch
    return time.perf_counter() - started


async def big_listing(conn: InfraConnector, server: WarmServer) -> dict[str, Any]:
    peak = {"kib": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if server.pid:
                peak["kib"] = max(peak["kib"], tree_rss_kib(server.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    found = await conn.list_resources("instance", {})
    elapsed = (time.perf_counter() - started) * 1000
    stop.set()
    sampler.join()
    return {"instances": len(found), "ms": round(elapsed, 1), "peak_tree_rss_mib": round(peak["kib"] / 1024, 1)}


async def rss_over_calls(conn: InfraConnector, server: WarmServer, calls: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(4)
    marks: list[dict[str, Any]] = []
    done = 0

    async def one() -> None:
        nonlocal done
        async with gate:
            await conn.get_health("deployment/shop/web")
            done += 1
            if done % max(1, calls // 10) == 0 and server.pid:
                marks.append(
                    {
                        "calls": done,
                        "server_rss_mib": round(rss_kib(server.pid) / 1024, 1),
                        "client_rss_mib": round(rss_kib(os.getpid()) / 1024, 1),
                    }
                )

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return {"calls": calls, "seconds": round(time.perf_counter() - started, 1), "marks": marks}


def _linux_mix(conn: InfraConnector) -> list[Call]:
    window = TimeRange(start=datetime.now(UTC) - timedelta(hours=1), end=datetime.now(UTC) + timedelta(hours=1))
    return [
        lambda: conn.get_health("service/web-1/web"),
        lambda: conn.get_health("host/web-2"),
        lambda: conn.list_resources("service", {}),
        lambda: conn.get_events("service/web-2/worker", window),
        lambda: conn.execute_action(Action(type="restart", resource_id="service/web-1/web", dry_run=True)),
    ]


async def linux_concurrent(conn: InfraConnector, total: int) -> dict[str, Any]:
    """``total`` Linux reads at once through one connector (a mix of health, listing, events and dry runs)."""
    mix = _linux_mix(conn)
    errors: list[str] = []

    async def one(call: Call) -> None:
        try:
            await call()
        except Exception as error:  # counted, reported
            errors.append(type(error).__name__)

    started = time.perf_counter()
    await asyncio.gather(*(one(mix[n % len(mix)]) for n in range(total)))
    elapsed = time.perf_counter() - started
    return {"operations": total, "seconds": round(elapsed, 2), "ops_per_s": round(total / elapsed, 2), "errors": errors}


def supervisor_restart_ms(directory: Path, rounds: int) -> dict[str, float]:
    """supervisorctl's own restart of web on web-1 (stop, start, then startsecs until RUNNING), run directly."""
    conf = directory / "linux" / "web-1" / "supervisord.conf"
    ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), "restart", "web"]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(ctl, capture_output=True, check=True, timeout=60)
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples)


async def many_hosts(server: WarmServer, hosts: int, rounds: int) -> dict[str, Any]:
    """list_resources of hosts and of services over a Linux sandbox of ``hosts`` hosts of its own."""
    from shieldops_ansible.providers.linux.sandbox import LinuxSandboxBackend

    directory = Path(tempfile.mkdtemp(prefix="shieldops-bench-hosts-"))
    try:
        config = await asyncio.to_thread(manager.up, directory, backends=[LinuxSandboxBackend(hosts=hosts)])
        out: dict[str, Any] = {"hosts": hosts}
        async with connect("linux", config=config, engine=WarmEngine(server)) as conn:
            for kind in ("instance", "service"):

                async def listing(kind: str = kind) -> Any:
                    return await conn.list_resources(kind, {})

                found = await listing()  # untimed: each host's SSH master as in steady use
                samples = [await timed(listing) for _ in range(rounds)]
                out[kind] = {**summary(samples), "resources": len(found)}
                print(f"  list_resources {kind} over {hosts} hosts: {out[kind]}", flush=True)
        return out
    finally:
        await asyncio.to_thread(manager.down, directory)
        shutil.rmtree(directory, ignore_errors=True)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (
        "ansible-core",
        "ansible",
        "ansible-runner",
        "boto3",
        "botocore",
        "kubernetes",
        "moto",
        "google-auth",
        "azure-identity",
        "azure-mgmt-compute",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _carried(phase: dict[str, Any]) -> str:
    return f" (not rerun in this run: measured {phase['carried_from']})" if phase.get("carried_from") else ""


def _carry_over(report: dict[str, Any], previous: dict[str, Any], phase: str) -> None:
    """A phase skipped in this run keeps its last figures, marked with when they were measured."""
    if phase in previous:
        report[phase] = {"carried_from": previous.get("measured_at"), **previous[phase]}


def _target_table(report: dict[str, Any]) -> list[str]:
    """Issue 17's figures next to their targets (what was not measured in this run says so)."""
    lines = [
        "Issue 17's targets (warm engine, sandbox backends, this machine)" + _carried(report.get("fleet", {})) + ":",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for figure, value, target, met in fleet.target_rows(report):
        shown = "not measured" if value is None else f"{value:g}"
        verdict = "-" if met is None else ("yes" if met else "no")
        lines.append(
            f"| {figure} | {shown} | {'>=' if fleet.TARGETS[figure][1] == 'min' else '<='} {target:g} | {verdict} |"
        )
    if rss := report.get("rss"):
        first, last = rss["marks"][0], rss["marks"][-1]
        flat = last["server_rss_mib"] <= first["server_rss_mib"] * 1.05
        lines.append(
            f"| server RSS from call {first['calls']} to call {last['calls']} | {first['server_rss_mib']} -> "
            f"{last['server_rss_mib']} MiB{_carried(rss)} | flat | {'yes' if flat else 'no'} |"
        )
    load = report.get("fleet", {}).get("load", {})
    if load:
        lines += [
            "",
            "Under load: "
            + "; ".join(
                f"{name.replace('_', ' ')}: {v['ops_per_s']} ops/s, median {v['median_ms']:.0f} / P95 "
                f"{v['p95_ms']:.0f} ms, {v['errors']} errors ({v['requests']} requests)"
                for name, v in load.items()
            )
            + ".",
        ]
    if cli := report.get("fleet", {}).get("cli"):
        lines.append(
            f"CLI `health` with `warm-server` running: median {cli['median_ms']:.0f} / P95 {cli['p95_ms']:.0f} ms "
            f"(n={cli['n']}); the same command without it: {cli['without_server_ms']:.0f} ms."
        )
    return [*lines, ""]


async def fleet_phase(config: Path, server: WarmServer, ids: dict[str, str], rounds: int) -> dict[str, Any]:
    async with (
        connect("aws", config=config, engine=WarmEngine(server)) as aws,
        connect("kubernetes", config=config, engine=WarmEngine(server)) as kube,
    ):
        load = await fleet.mixed_reads(aws, kube, ids)
        assert server.pid is not None
        cpu = await fleet.cpu_per_read(kube, lambda c: lambda: c.get_health("deployment/shop/web"), server.pid, 20)
    print(f"  cpu per read: {cpu} ms", flush=True)
    cli = await asyncio.to_thread(fleet.cli_command, config, rounds)
    print(f"  cli: {cli}", flush=True)
    return {"load": load, "cpu_ms_per_read": cpu, "cli": cli}


def write_results(report: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Benchmark results",
        "",
        f"Measured {report['measured_at']} by `bench/run.py` on {report['machine']['cpus']} CPUs "
        f"({report['machine']['platform']}), sandbox backends (moto server, sshd hosts in network namespaces, the",
        "Kubernetes API test server, the Google API and ARM fakes behind the TLS proxy). Versions: "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        + ".",
        "",
        f"Rounds: {report['rounds']} warm and floor calls per operation, {report['runner_rounds']} runner calls, "
        "interleaved (one call of each path per round). P95 of a small n is close to the maximum.",
        "",
        "| provider | operation | warm median / P95 ms | runner median / P95 ms | floor median / P95 ms "
        "| runner / warm (median) | target P95 | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["operations"]:
        w, r, f = row["warm"], row["runner"], row["floor"]
        target = READ_TARGET_MS if row["kind"] == "read" else ACTION_TARGET_MS
        lines.append(
            f"| {row['provider']} | {row['operation']} | {w['median_ms']:.0f} / {w['p95_ms']:.0f} "
            f"| {r['median_ms']:.0f} / {r['p95_ms']:.0f} | {f['median_ms']:.0f} / {f['p95_ms']:.0f} "
            f"| {row['runner_over_warm']:.1f}x | {target:.0f} | {'yes' if w['p95_ms'] <= target else 'no'} |"
            + (f" (measured {row['carried_from']})" if row.get("carried_from") else "")
        )
    lines.append("")
    lines += _target_table(report)
    if base := report.get("naive_baseline"):
        lines += [
            f"Naive baseline (one `ansible_runner.run` of a one-task ec2_instance_info playbook): median "
            f"{base['median_ms']:.0f} ms, P95 {base['p95_ms']:.0f} ms (n={base['n']}).",
            "",
        ]
    if tput := report.get("throughput"):
        lines += [
            "Throughput of warm reads (Kubernetes get_health), ops/s by concurrency: "
            + ", ".join(f"{c}: {v['ops_per_s']} ({v['errors']} errors)" for c, v in tput.items() if c != "carried_from")
            + "."
            + _carried(tput),
            "",
        ]
    if rss := report.get("rss"):
        lines += [
            f"RSS over {rss['calls']} warm calls ({rss['seconds']} s, concurrency 4): "
            + ", ".join(
                f"{m['calls']}: server {m['server_rss_mib']} MiB / client {m['client_rss_mib']} MiB"
                for m in rss["marks"]
            )
            + "."
            + _carried(rss),
            "",
        ]
    if big := report.get("big_listing"):
        lines += [
            f"list_resources over {big['instances']} EC2 instances: {big['ms']:.0f} ms, peak RSS of the warm "
            f"server's process tree {big['peak_tree_rss_mib']} MiB (seeding them took {big['seed_s']:.0f} s; the "
            f"floor, every page of DescribeInstances read by a warm boto3 client, {big.get('floor_ms', 0):.0f} ms)."
            + _carried(big),
            "",
        ]
    if linux := report.get("linux"):
        many, crowd, own = linux["many_hosts"], linux["concurrent"], linux["supervisor_restart"]
        restart = next(
            (r for r in report["operations"] if r["provider"] == "linux" and "(snapshot first)" in r["operation"]),
            None,
        )
        beyond = (
            f"; the restart with its snapshot minus it: median {restart['warm']['median_ms'] - own['median_ms']:.0f} "
            f"ms, P95 {restart['warm']['p95_ms'] - own['median_ms']:.0f} ms."
            if restart
            else "."
        )
        lines += [
            f"Linux over {many['hosts']} sandbox hosts (warm): list_resources instance "
            f"{many['instance']['median_ms']:.0f} / {many['instance']['p95_ms']:.0f} ms median / P95 "
            f"({many['instance']['resources']} hosts), list_resources service {many['service']['median_ms']:.0f} / "
            f"{many['service']['p95_ms']:.0f} ms ({many['service']['resources']} services).",
            "",
            f"{crowd['operations']} concurrent Linux reads through one connector (health, listing, events, dry runs): "
            f"{crowd['ops_per_s']} ops/s, {len(crowd['errors'])} errors, {crowd['seconds']} s.",
            "",
            f"supervisorctl's own restart of web (run directly; stop, start and startsecs=1): median "
            f"{own['median_ms']:.0f} ms, P95 {own['p95_ms']:.0f} ms{beyond}",
            "",
        ]
    analysis = HERE / "analysis.md"  # written by hand: where the time goes and what was tried
    if analysis.exists():
        lines += [analysis.read_text()]
    (HERE / "RESULTS.md").write_text("\n".join(lines))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runner-rounds", type=int, default=3)
    parser.add_argument("--throughput-requests", type=int, default=16)
    parser.add_argument("--instances", type=int, default=10_000, help="0: skip (the last figures are kept)")
    parser.add_argument("--rss-calls", type=int, default=10_000, help="0: skip (the last figures are kept)")
    parser.add_argument("--linux-hosts", type=int, default=30, help="the many-host listing's sandbox size")
    parser.add_argument("--linux-concurrent", type=int, default=50)
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="measure only these providers' operations; the other rows and every later phase keep their last figures",
    )
    args = parser.parse_args()
    chosen = [p for p in PROVIDERS if p in args.providers.split(",")]
    results = HERE / "results.json"
    previous: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
    directory = Path(tempfile.mkdtemp(prefix="shieldops-bench-sandbox-"))
    config = manager.up(directory)
    server = WarmServer()
    try:
        resources = json.loads((directory / "sandbox.json").read_text())["resources"]["aws"]
        cfg = load_config(config)
        creds = {}
        for name in PROVIDERS:
            env = cfg.environment(name)
            creds[name] = await env.provider.credentials_env(env.settings)
        floors = Floors(directory, config, creds)
        ids = {"instance": resources["instance/web-1"], "service": resources["service/api"]}
        floor_calls: dict[str, Call] = {
            "aws": lambda: floors.aws(ids["instance"]),
            "linux": floors.linux,
            "kubernetes": floors.kubernetes,
            "gcp": floors.gcp_call,
            "azure": floors.azure_call,
        }
        await asyncio.to_thread(server.start)
        rows = []
        for provider in chosen:
            async with (
                connect(provider, config=config, engine=WarmEngine(server)) as warm,
                connect(provider, config=config, engine=RunnerEngine()) as runner,
            ):
                warm_ops, runner_ops = operations(warm, provider, ids), operations(runner, provider, ids)
                samples: dict[str, dict[str, list[float]]] = {
                    op: {"warm": [], "runner": [], "floor": []} for op in warm_ops
                }
                for op in warm_ops:  # one untimed call each: connections and caches as in steady use
                    await warm_ops[op][1]()
                for round_ in range(args.rounds):
                    for op, (_kind, call) in warm_ops.items():
                        samples[op]["warm"].append(await timed(call))
                        samples[op]["floor"].append(await timed(floor_calls[provider]))
                        if round_ < args.runner_rounds:
                            samples[op]["runner"].append(await timed(runner_ops[op][1]))
                    print(f"{provider}: round {round_ + 1}/{args.rounds}", flush=True)
                for op, (kind, _call) in warm_ops.items():
                    w, r, f = (summary(samples[op][p]) for p in ("warm", "runner", "floor"))
                    rows.append(
                        {
                            "provider": provider,
                            "operation": op,
                            "kind": kind,
                            "warm": w,
                            "runner": r,
                            "floor": f,
                            "runner_over_warm": round(r["median_ms"] / w["median_ms"], 1),
                        }
                    )
                    print(f"  {op}: warm {w} runner {r} floor {f}", flush=True)
        naive_env = {
            **creds["aws"],
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": str(getattr(cfg.environment("aws").settings, "endpoint_url", "")),
            "ANSIBLE_CONFIG": str(project_dir() / "ansible.cfg"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        report: dict[str, Any] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "versions": versions(),
            "rounds": args.rounds,
            "runner_rounds": args.runner_rounds,
            "operations": rows,
        }
        if chosen != PROVIDERS:
            kept = [r for r in previous.get("operations", []) if r["provider"] not in chosen]
            by_provider = {p: [r for r in rows + kept if r["provider"] == p] for p in PROVIDERS}
            report["operations"] = [
                r if r["provider"] in chosen else {"carried_from": previous.get("measured_at"), **r}
                for p in PROVIDERS
                for r in by_provider[p]
            ]
            if {"aws", "kubernetes"} <= set(chosen):
                report["fleet"] = await fleet_phase(config, server, ids, args.rounds)
            else:
                _carry_over(report, previous, "fleet")
            for phase in ("linux", "naive_baseline", "throughput", "rss", "big_listing"):
                _carry_over(report, previous, phase)
            write_results(report)
            print(f"written to {HERE / 'RESULTS.md'} and results.json (only {', '.join(chosen)} measured)")
            return
        write_results(report)  # after each phase, so a failure later keeps what was measured
        async with connect("linux", config=config, engine=WarmEngine(server)) as linux_conn:
            crowd = await linux_concurrent(linux_conn, args.linux_concurrent)
        print(f"linux concurrent: {crowd}", flush=True)
        own = await asyncio.to_thread(supervisor_restart_ms, directory, max(3, args.runner_rounds))
        print(f"supervisorctl restart: {own}", flush=True)
        many = await many_hosts(server, args.linux_hosts, args.rounds)
        report["linux"] = {"many_hosts": many, "concurrent": crowd, "supervisor_restart": own}
        write_results(report)
        naive = summary(await asyncio.to_thread(naive_baseline, ids["instance"], naive_env, args.runner_rounds))
        print(f"naive baseline: {naive}", flush=True)
        report["naive_baseline"] = naive
        write_results(report)
        async with connect("kubernetes", config=config, engine=WarmEngine(server)) as kube:
            tput = await throughput(
                kube, lambda c: lambda: c.get_health("deployment/shop/web"), args.throughput_requests
            )
            report["throughput"] = tput
            write_results(report)
        report["fleet"] = await fleet_phase(config, server, ids, args.rounds)
        write_results(report)
        async with connect("kubernetes", config=config, engine=WarmEngine(server)) as kube:
            if args.rss_calls > 0:
                rss = await rss_over_calls(kube, server, args.rss_calls)
                print(f"rss: {rss}", flush=True)
                report["rss"] = rss
            else:
                _carry_over(report, previous, "rss")
            write_results(report)
        if args.instances <= 0:
            _carry_over(report, previous, "big_listing")
            write_results(report)
            print(f"written to {HERE / 'RESULTS.md'} and results.json")
            return
        seed_s = await asyncio.to_thread(seed_instances, config, creds["aws"], args.instances)
        async with connect("aws", config=config, engine=WarmEngine(server)) as aws:
            big = await big_listing(aws, server)
        big["seed_s"] = round(seed_s, 1)
        big["floor_ms"] = await asyncio.to_thread(describe_all_ms, config, creds["aws"])
        print(f"big listing: {big}", flush=True)
        report["big_listing"] = big
        write_results(report)
        print(f"written to {HERE / 'RESULTS.md'} and results.json")
    finally:
        server.stop()
        manager.down(directory)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
