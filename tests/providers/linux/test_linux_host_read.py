"""get_health of a host in one remote round trip (issue 16): the fixed sh script of roles/linux/tasks/host_read.yml
and the linux_host_read filter that parses what it prints into the facts, load average and services the old
setup + slurp + linux_service_managers_info tasks gave linux_host_health.

The unit tests run the script itself on this machine with sh (it is fixed text plus two quoted inventory paths) and
compare the parse with what setup's own Linux hardware collector computes here; the integration test compares the
product's get_health of the sandbox hosts with an independent read of the same host (they share this machine's
filesystem and kernel)."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import jinja2.nodes as jn
import pytest
import yaml

from shieldops_ansible import connect
from shieldops_ansible.paths import project_dir
from tests.support import Sandbox
from tests.unit.test_command_lines import _references_in

ROLE = project_dir() / "collections" / "ansible_collections" / "shieldops" / "connectors" / "roles" / "linux"
HOST_READ = ROLE / "tasks" / "host_read.yml"
RAW_TASK = "Read each host in one round trip"
# The script's variable parts: two inventory paths (or their fixed default) and the read's depth (a fixed word:
# tests/unit/test_command_lines.py holds every definition of it to brief or full).
QUOTED_VALUES = {
    "hostvars[linux_target].shieldops_supervisor_config",
    "linux_supervisor_config_default",
    "hostvars[linux_target].shieldops_supervisorctl_path",
    "linux_read_depth",
}


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(project_dir() / "collections"))
    return importlib.import_module(f"ansible_collections.shieldops.connectors.plugins.filter.{name}")


_load("core")
linux = _load("linux")
THRESHOLDS = {
    "load_per_core": {"degraded": 1.5, "unhealthy": 4.0},
    "memory_percent": {"degraded": 85, "unhealthy": 95},
    "disk_percent": {"degraded": 85, "unhealthy": 95},
}


def _raw_task() -> dict[str, Any]:
    tasks = yaml.safe_load(HOST_READ.read_text())
    return next(t for t in tasks if t.get("name") == RAW_TASK)


def _script(conf: str, ctl: str = "supervisorctl", depth: str = "full") -> str:
    """The task's script as the host's sh gets it: each template replaced by the quoted value (what quote does)."""
    text = _raw_task()["ansible.builtin.raw"]
    exprs = re.findall(r"\{\{.*?\}\}", text)
    assert len(exprs) == 3 and "shieldops_supervisor_config" in exprs[0] and "supervisorctl_path" in exprs[1]
    assert "linux_read_depth" in exprs[2]
    for expr, value in zip(exprs, (conf, ctl, depth), strict=True):
        text = text.replace(expr, shlex.quote(value))
    return text


def _run(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout


# ---------------------------------------------------------------------------------------------------------------
# The task itself


def test_the_script_is_fixed_text_but_three_quoted_values() -> None:
    task = _raw_task()
    text = task["ansible.builtin.raw"]
    assert "{%" not in text and "{#" not in text
    body = jinja2.Environment().parse(text).body
    assert len(body) == 1 and isinstance(body[0], jn.Output)
    expressions = [node for node in body[0].nodes if not isinstance(node, jn.TemplateData)]
    assert len(expressions) == 3
    seen: set[str] = set()
    for expr in expressions:
        # The whole value is quoted, last: nothing the value holds leaves its single quotes.
        assert isinstance(expr, jn.Filter) and expr.name == "ansible.builtin.quote" and not expr.args, expr
        names = set(_references_in(expr))
        assert names <= QUOTED_VALUES, names
        seen |= names
    assert seen == QUOTED_VALUES
    # Each value is assigned to a variable of its own and used only in double quotes.
    assert re.search(r"^conf=\{\{[^}]*shieldops_supervisor_config[^}]*\}\}$", text, re.M)
    assert re.search(r"^ctl=\{\{[^}]*shieldops_supervisorctl_path[^}]*\}\}$", text, re.M)
    assert re.search(r"^depth=\{\{[^}]*linux_read_depth[^}]*\}\}$", text, re.M)
    assert re.findall(r"\$\{?(conf|ctl|depth)\b", text)
    assert not re.search(r'(?<!")\$(conf|ctl|depth)\b(?!")', text)
    assert task["args"] == {"executable": "/bin/sh"}
    assert task["delegate_to"] == "{{ linux_target }}"
    assert task["ignore_unreachable"] is True and task["changed_when"] is False and task["check_mode"] is False
    assert task["loop"] == "{{ linux_targets }}" and task["loop_control"] == {"loop_var": "linux_target"}


def test_health_host_uses_the_one_round_trip_read() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "health" / "host.yml").read_text())
    assert [t.get("ansible.builtin.import_tasks") for t in tasks if "ansible.builtin.import_tasks" in t] == [
        "host_read.yml"
    ]
    text = (ROLE / "tasks" / "health" / "host.yml").read_text()
    assert "setup" not in text and "slurp" not in text and "linux_service_managers_info" not in text


def test_no_linux_read_starts_python_on_a_supervisord_host() -> None:
    """Listings, health, events, snapshots' and actions' reads: every task file but the changes' own (the modules
    that restart, reboot, capture and restore) and package_facts runs raw only, or service_facts on systemd."""
    allowed_python = {
        "act/linux_service_change.yml": {
            "shieldops.connectors.linux_supervisor_program",
            "community.general.supervisorctl",
            "ansible.builtin.systemd_service",
        },
        "act/host.yml": {"ansible.builtin.reboot"},
        "snapshot/host.yml": {"ansible.builtin.package_facts"},
        "snapshot/linux_service.yml": {"ansible.builtin.package_facts", "ansible.builtin.command"},
        "capture_files.yml": {"shieldops.connectors.linux_file_capture"},
        "restore_files.yml": {"shieldops.connectors.linux_file_restore"},
        "rollback/linux_service.yml": {"ansible.builtin.command", "ansible.builtin.systemd_service"},
        "health/linux_service_details.yml": {"ansible.builtin.command", "ansible.builtin.wait_for"},  # systemd, probes
        "read_logs.yml": {"ansible.builtin.command"},  # journalctl, on systemd hosts only
        "host_read_systemd.yml": {"ansible.builtin.service_facts"},  # on systemd hosts only
    }
    local = {"ansible.builtin.set_fact", "ansible.builtin.fail", "ansible.builtin.assert", "ansible.builtin.raw"}
    includes = {"ansible.builtin.import_tasks", "ansible.builtin.include_tasks"}
    for path in sorted((ROLE / "tasks").rglob("*.yml")):
        name = str(path.relative_to(ROLE / "tasks"))
        for task in yaml.safe_load(path.read_text()) or []:
            modules = {key for key in task if "." in key} - local - includes
            assert modules <= allowed_python.get(name, set()), (name, task.get("name"), modules)


def test_a_hostile_inventory_path_stays_one_word(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    conf = f"/nonexistent/x'; touch {canary}; echo '$(touch {canary})"
    out = _run(_script(conf, f"$(touch {canary})"))
    assert not canary.exists()
    assert linux.linux_host_read(out)["supervisor"]["found"] is False


# ---------------------------------------------------------------------------------------------------------------
# The script on this machine, parsed, against setup's own collector


class _Module:
    """What setup's LinuxHardware collector asks of its module, for the facts compared here: no helper programs
    (findmnt, lsblk, udevadm: bind mounts and uuids, which linux_host_health does not read)."""

    def get_bin_path(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_command(self, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        return 1, "", ""

    def warn(self, *args: Any) -> None:
        pass

    def debug(self, *args: Any) -> None:
        pass


def _setup_facts() -> dict[str, Any]:
    import platform

    from ansible.module_utils.facts.hardware.linux import LinuxHardware

    hardware = LinuxHardware(_Module())
    facts: dict[str, Any] = {}
    cpu = hardware.get_cpu_facts(collected_facts={"ansible_architecture": platform.machine()})
    facts["ansible_processor_vcpus"] = cpu.get("processor_vcpus")
    facts["ansible_processor_cores"] = cpu.get("processor_cores")
    facts["ansible_memory_mb"] = hardware.get_memory_facts()["memory_mb"]
    facts["ansible_mounts"] = hardware.get_mount_facts()["mounts"]
    return facts


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux")
def test_the_parse_of_this_machine_matches_setup() -> None:
    # Sandboxes of tests running beside this one add and remove mounts (network namespaces are bind-mounted under
    # /run/netns): a mount table that changed between the two reads is read again, up to three times.
    for _ in range(3):
        read = linux.linux_host_read(_run(_script("/nonexistent/supervisord.conf")))
        setup = _setup_facts()
        if [m["mount"] for m in read["facts"]["ansible_mounts"]] == [m["mount"] for m in setup["ansible_mounts"]]:
            break
    facts = read["facts"]
    assert read["complete"] and read["service_mgr"] in ("systemd", "other")
    assert facts["ansible_processor_vcpus"] == setup["ansible_processor_vcpus"]
    assert facts["ansible_processor_cores"] == setup["ansible_processor_cores"]
    assert facts["ansible_processor_vcpus"] == sum(
        1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.split(":")[0].strip() == "processor"
    )
    memory, expected = facts["ansible_memory_mb"], setup["ansible_memory_mb"]
    assert memory["real"]["total"] == expected["real"]["total"]
    assert abs(memory["nocache"]["used"] - expected["nocache"]["used"]) <= max(64, expected["real"]["total"] // 50)
    assert set(memory) == set(expected) and all(set(memory[k]) == set(expected[k]) for k in memory)
    mounts = {m["mount"]: m for m in facts["ansible_mounts"]}
    theirs = {m["mount"]: m for m in setup["ansible_mounts"]}
    assert list(mounts) == list(theirs)
    for mount, m in theirs.items():
        assert mounts[mount]["fstype"] == m["fstype"], mount
        assert mounts[mount].get("size_total") == m.get("size_total"), mount
        if m.get("size_total"):
            # Free space moves between two reads; the percentage linux_host_health reports must not.
            assert abs(mounts[mount]["size_available"] - m["size_available"]) < m["size_total"] * 0.0005, mount
    assert len(read["loadavg"].split()) == 5
    thresholds = THRESHOLDS
    ours = linux.linux_host_health("host/x", facts, read["loadavg"], [], thresholds)
    old = linux.linux_host_health("host/x", setup, read["loadavg"], [], thresholds)
    assert [(c["name"], c["status"]) for c in ours["checks"]] == [(c["name"], c["status"]) for c in old["checks"]]
    assert set(ours["metrics"]) == set(old["metrics"])
    for key, value in old["metrics"].items():
        assert abs(ours["metrics"][key] - value) <= (2.0 if key == "memory_percent" else 0.1), key


@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="needs an os-release file")
def test_the_identity_of_this_machine_matches_setup() -> None:
    """The host listing's hostname, kernel and distribution (setup's platform and distribution collectors before
    issue 16), read by the script and compared with those collectors run here."""
    from ansible.module_utils.facts.system.distribution import DistributionFactCollector
    from ansible.module_utils.facts.system.platform import PlatformFactCollector

    facts = linux.linux_host_read(_run(_script("/nonexistent/supervisord.conf")))["facts"]
    setup = {**PlatformFactCollector().collect(_Module()), **DistributionFactCollector().collect(_Module())}
    assert facts["ansible_hostname"] == setup["hostname"]
    assert facts["ansible_kernel"] == setup["kernel"]
    assert facts["ansible_distribution"] == setup["distribution"]
    assert facts["ansible_distribution_version"] == setup["distribution_version"]


def test_a_brief_read_leaves_out_load_memory_cpus_and_mounts() -> None:
    brief = linux.linux_host_read(_run(_script("/nonexistent/supervisord.conf", depth="brief")))
    full = linux.linux_host_read(_run(_script("/nonexistent/supervisord.conf")))
    assert brief["complete"] and not brief["loadavg"]
    assert set(full["facts"]) - set(brief["facts"]) == {
        "ansible_processor_vcpus",
        "ansible_processor_cores",
        "ansible_memory_mb",
        "ansible_mounts",
    }
    identity = ("ansible_hostname", "ansible_kernel", "ansible_distribution", "ansible_service_mgr")
    assert all(brief["facts"][key] == full["facts"][key] for key in identity)


@pytest.mark.parametrize(
    ("os_release", "debian_version", "distribution", "version"),
    [
        ('ID=debian\nVERSION_ID="12"\n', "12.11", "Debian", "12.11"),
        ('ID=debian\nVERSION_ID="13"\n', "trixie/sid", "Debian", "13"),
        ('ID=ubuntu\nVERSION_ID="22.04"\n', "bookworm/sid", "Ubuntu", "22.04"),
        ('ID="rhel"\nVERSION_ID="9.3"\n', "", "RedHat", "9.3"),
        ("ID=amzn\nVERSION_ID=2023\n", "", "Amazon", "2023"),
        ("ID='opensuse-leap'\nVERSION_ID='15.5'\n", "", "openSUSE Leap", "15.5"),
        ("", "", None, None),
    ],
)
def test_distribution_names_from_os_release(
    os_release: str, debian_version: str, distribution: str | None, version: str | None
) -> None:
    out = f"@@shieldops os_release\n{os_release}\n@@shieldops debian_version\n{debian_version}\n@@shieldops end\n"
    facts = linux.linux_host_read(out)["facts"]
    assert facts.get("ansible_distribution") == distribution
    assert facts.get("ansible_distribution_version") == version


def test_supervisord_found_answered_and_its_stderr_kept_apart(tmp_path: Path) -> None:
    conf = tmp_path / "a conf; dir" / "supervisord.conf"
    conf.parent.mkdir()
    conf.write_text("[supervisord]\n")
    ctl = tmp_path / "fake ctl"
    ctl.write_text(
        "#!/bin/sh\n"
        'test "$1 $2 $3" = "-c ' + str(conf) + ' status" || { echo "bad argv: $*" >&2; exit 9; }\n'
        "echo 'web                              RUNNING   pid 3707, uptime 0:00:02'\n"
        "echo 'worker                           FATAL     Exited too quickly (process log may have details)'\n"
        "echo 'a warning' >&2\n"
        "exit 3\n"
    )
    ctl.chmod(0o755)
    read = linux.linux_host_read(_run(_script(str(conf), str(ctl))))
    assert read["supervisor"] == {
        "found": True,
        "rc": 3,
        "stdout": "web                              RUNNING   pid 3707, uptime 0:00:02\n"
        "worker                           FATAL     Exited too quickly (process log may have details)",
        "stderr": "a warning",
        "via": "supervisorctl",  # the conf names no socket: the script asked supervisorctl
    }
    programs = linux.linux_supervisor_status(read["supervisor"]["stdout"])
    assert [(p["name"], p["native_state"], p["pid"]) for p in programs] == [
        ("web", "RUNNING", 3707),
        ("worker", "FATAL", None),
    ]
    missing = linux.linux_host_read(_run(_script(str(conf), str(tmp_path / "no-such-ctl"))))
    assert missing["supervisor"]["found"] and missing["supervisor"]["rc"] == 127
    assert "no-such-ctl" in missing["supervisor"]["stderr"] and missing["complete"]


# ---------------------------------------------------------------------------------------------------------------
# The parser on captured and broken output

# Captured from sandbox host web-1 (supervisord running `web`) as raw runs it: `ssh -tt HOST "/bin/sh -c 'SCRIPT'"`,
# so its lines end \r\n; the first line is added, a shell rc file's greeting before the first section.
CAPTURED = (
    "welcome from .bashrc\r\n"  # added: a shell rc file's greeting
    "\r\n"
    "@@shieldops loadavg\r\n"
    "1.17 1.22 1.17 2/137 32639\r\n"
    "\r\n"
    "@@shieldops meminfo\r\n"
    "MemTotal:       24683584 kB\r\n"
    "MemFree:        22708856 kB\r\n"
    "MemAvailable:   23023496 kB\r\n"
    "Buffers:            8368 kB\r\n"
    "Cached:           283472 kB\r\n"
    "SwapCached:            0 kB\r\n"
    "Active:           207316 kB\r\n"
    "Inactive:        1200616 kB\r\n"
    "Active(anon):       1644 kB\r\n"
    "Inactive(anon):  1123804 kB\r\n"
    "Active(file):     205672 kB\r\n"
    "Inactive(file):    76812 kB\r\n"
    "Unevictable:       11416 kB\r\n"
    "Mlocked:           10348 kB\r\n"
    "SwapTotal:             0 kB\r\n"
    "SwapFree:              0 kB\r\n"
    "Zswap:                 0 kB\r\n"
    "Zswapped:              0 kB\r\n"
    "Dirty:              3160 kB\r\n"
    "Writeback:             0 kB\r\n"
    "AnonPages:       1127592 kB\r\n"
    "Mapped:            41320 kB\r\n"
    "Shmem:              9356 kB\r\n"
    "KReclaimable:     337344 kB\r\n"
    "Slab:             379540 kB\r\n"
    "SReclaimable:     337344 kB\r\n"
    "SUnreclaim:        42196 kB\r\n"
    "KernelStack:        2160 kB\r\n"
    "PageTables:         7108 kB\r\n"
    "SecPageTables:         0 kB\r\n"
    "NFS_Unstable:          0 kB\r\n"
    "Bounce:                0 kB\r\n"
    "WritebackTmp:          0 kB\r\n"
    "CommitLimit:    12341792 kB\r\n"
    "Committed_AS:    1298208 kB\r\n"
    "VmallocTotal:   34359738367 kB\r\n"
    "VmallocUsed:       14980 kB\r\n"
    "VmallocChunk:          0 kB\r\n"
    "Percpu:              816 kB\r\n"
    "AnonHugePages:         0 kB\r\n"
    "ShmemHugePages:        0 kB\r\n"
    "ShmemPmdMapped:        0 kB\r\n"
    "FileHugePages:         0 kB\r\n"
    "FilePmdMapped:         0 kB\r\n"
    "Balloon:               0 kB\r\n"
    "HugePages_Total:       0\r\n"
    "HugePages_Free:        0\r\n"
    "HugePages_Rsvd:        0\r\n"
    "HugePages_Surp:        0\r\n"
    "Hugepagesize:       2048 kB\r\n"
    "Hugetlb:               0 kB\r\n"
    "DirectMap4k:       28672 kB\r\n"
    "DirectMap2M:     2068480 kB\r\n"
    "DirectMap1G:    25165824 kB\r\n"
    "\r\n"
    "@@shieldops arch\r\n"
    "x86_64\r\n"
    "\r\n"
    "@@shieldops cpuinfo\r\n"
    "processor\t: 0\r\n"
    "vendor_id\t: GenuineIntel\r\n"
    "model name\t: Intel(R) Xeon(R) Processor\r\n"
    "physical id\t: 0\r\n"
    "siblings\t: 2\r\n"
    "core id\t\t: 0\r\n"
    "cpu cores\t: 2\r\n"
    "processor\t: 1\r\n"
    "vendor_id\t: GenuineIntel\r\n"
    "model name\t: Intel(R) Xeon(R) Processor\r\n"
    "physical id\t: 0\r\n"
    "siblings\t: 2\r\n"
    "core id\t\t: 1\r\n"
    "cpu cores\t: 2\r\n"
    "\r\n"
    "@@shieldops xen\r\n"
    "\r\n"
    "@@shieldops mounts\r\n"
    "/ ext4 4096 66053021 20409475\r\n"
    "/run/netns ext4 4096 66053021 20409475\r\n"
    "/proc/sys/kernel/random/boot_id ext4 4096 66053021 20409475\r\n"
    "/tmp/sb-linux16/linux/web-1/shutdown.orig ext4 4096 66053021 20409475\r\n"
    "/usr/bin/systemctl ext4 4096 66053021 20409475\r\n"
    "\r\n"
    "@@shieldops service_mgr\r\n"
    "other\r\n"
    "\r\n"
    "@@shieldops supervisor\r\n"
    "web                              RUNNING   pid 31761, uptime 0:00:28\r\n"
    "\r\n"
    "@@shieldops supervisor_rc\r\n"
    "0\r\n"
    "\r\n"
    "@@shieldops supervisor_stderr\r\n"
    "\r\n"
    "\r\n"
    "@@shieldops end\r\n"
)


def test_captured_output() -> None:
    read = linux.linux_host_read(CAPTURED)
    assert read["complete"] and read["loadavg"] == "1.17 1.22 1.17 2/137 32639" and read["service_mgr"] == "other"
    assert read["supervisor"] == {
        "found": True,
        "rc": 0,
        "stdout": "web                              RUNNING   pid 31761, uptime 0:00:28",
        "stderr": "",
        "via": "",  # captured before the script said which way it asked
    }
    facts = read["facts"]
    assert facts["ansible_processor_vcpus"] == 2 and facts["ansible_processor_cores"] == 2
    # MemTotal 24683584 kB, MemFree 22708856, Buffers 8368, Cached 283472: each // 1024, then summed, as setup does.
    assert facts["ansible_memory_mb"]["real"] == {"total": 24105, "used": 1929, "free": 22176}
    assert facts["ansible_memory_mb"]["nocache"] == {"free": 22460, "used": 1645}
    assert facts["ansible_memory_mb"]["swap"] == {"total": 0, "free": 0, "used": 0, "cached": 0}
    size = {"fstype": "ext4", "size_total": 4096 * 66053021, "size_available": 4096 * 20409475}
    assert facts["ansible_mounts"] == [
        {"mount": mount, **size}
        for mount in [
            "/",
            "/run/netns",
            "/proc/sys/kernel/random/boot_id",
            "/tmp/sb-linux16/linux/web-1/shutdown.orig",
            "/usr/bin/systemctl",
        ]
    ]
    services = linux.linux_supervisor_status(read["supervisor"]["stdout"])
    assert [(p["name"], p["native_state"], p["pid"]) for p in services] == [("web", "RUNNING", 31761)]
    health = linux.linux_host_health("host/web-1", facts, read["loadavg"], services, THRESHOLDS)
    assert health["metrics"] == {
        "load1": 1.17,
        "load_per_core": 0.585,
        "memory_percent": 6.8,
        **{f"disk_percent:{m['mount']}": 69.1 for m in facts["ansible_mounts"]},
        "failed_services": 0,
    }
    assert [(c["name"], c["status"]) for c in health["checks"]] == [
        (name, "healthy") for name in ("reachable", "load", "memory", "disk", "services")
    ]


def test_mount_points_with_escapes_and_without_sizes() -> None:
    read = linux.linux_host_read("@@shieldops mounts\n/mnt/with\\040space xfs 4096 1000 250\n/mnt/gone nfs4 \n")
    assert read["facts"]["ansible_mounts"] == [
        {"mount": "/mnt/with space", "fstype": "xfs", "size_total": 4096000, "size_available": 1024000},
        {"mount": "/mnt/gone", "fstype": "nfs4"},
    ]
    health = linux.linux_host_health("host/h", read["facts"], "", [], THRESHOLDS)
    assert health["metrics"] == {"disk_percent:/mnt/with space": 75.0, "failed_services": 0}


def test_a_systemd_host() -> None:
    text = CAPTURED.replace("@@shieldops service_mgr\r\nother", "@@shieldops service_mgr\r\nsystemd")
    assert linux.linux_host_read(text)["service_mgr"] == "systemd"


def test_unreadable_proc_files_leave_their_facts_out() -> None:
    out = _run(_script("/nonexistent/supervisord.conf").replace("/proc/", "/nonexistent-proc/"))
    read = linux.linux_host_read(out)
    assert read["complete"] and read["loadavg"] == ""
    assert "ansible_memory_mb" not in read["facts"] and "ansible_processor_vcpus" not in read["facts"]
    assert read["facts"]["ansible_mounts"] == [] or os.path.exists("/etc/mtab")
    health = linux.linux_host_health("host/h", read["facts"], read["loadavg"], [], THRESHOLDS)
    assert {c["name"] for c in health["checks"]} <= {"reachable", "disk", "services"}


def test_missing_sections_and_malformed_lines() -> None:
    assert linux.linux_host_read("") == {
        "complete": False,
        "loadavg": "",
        "facts": {},
        "service_mgr": "",
        "supervisor": {"found": False, "rc": None, "stdout": "", "stderr": "", "via": ""},
    }
    assert linux.linux_host_read(None)["facts"] == {}
    text = (
        "@@shieldops meminfo\nMemTotal: lots kB\nMemFree:\nnonsense\n"
        "@@shieldops cpuinfo\ncpu cores\t: many\nprocessor\t: 0\n"
        "@@shieldops mounts\n/\n/x ext4 a b c\n/y ext4 4096 10 5\n"
        "@@shieldops supervisor\nweb RUNNING pid 1, uptime 0:00:01\n@@shieldops supervisor_rc\n"
    )
    read = linux.linux_host_read(text)
    assert not read["complete"] and "ansible_memory_mb" not in read["facts"]
    assert read["facts"]["ansible_processor_vcpus"] == 1
    assert read["facts"]["ansible_mounts"] == [
        {"mount": "/x", "fstype": "ext4"},
        {"mount": "/y", "fstype": "ext4", "size_total": 40960, "size_available": 20480},
    ]
    assert read["supervisor"]["found"] and read["supervisor"]["rc"] is None
    # A mount point listed twice: the later entry, in the first one's place (as setup's dict keeps it).
    twice = linux.linux_host_read("@@shieldops mounts\n/a ext4 1 10 5\n/b xfs 1 10 1\n/a tmpfs 1 4 4\n")
    assert twice["facts"]["ansible_mounts"] == [
        {"mount": "/a", "fstype": "tmpfs", "size_total": 4, "size_available": 4},
        {"mount": "/b", "fstype": "xfs", "size_total": 10, "size_available": 1},
    ]


def test_processor_counts_as_setup_counts_them() -> None:
    def vcpus(cpuinfo: str, arch: str = "x86_64", xen: str = "") -> Any:
        text = f"@@shieldops arch\n{arch}\n@@shieldops xen\n{xen}\n@@shieldops cpuinfo\n{cpuinfo}"
        return linux.linux_host_read(text)["facts"].get("ansible_processor_vcpus")

    # Two sockets of four cores, two threads each.
    lines = []
    for n in range(16):
        lines += [
            f"processor\t: {n}",
            "vendor_id\t: GenuineIntel",
            "model name\t: X",
            f"physical id\t: {n // 8}",
            "siblings\t: 8",
            f"core id\t\t: {n % 4}",
            "cpu cores\t: 4",
        ]
    assert vcpus("\n".join(lines)) == 16
    # ARM: no sockets, the processor lines count.
    assert vcpus("processor\t: 0\nBogoMIPS\t: 50\nprocessor\t: 1\n", arch="aarch64") == 2
    # Xen paravirt: every counted line.
    assert vcpus("processor\t: 0\nvendor_id\t: X\nmodel name\t: Y\n", xen="xen\n1") == 1
    assert vcpus("# processors    : 4\nmax thread id   : 1\n", arch="s390x") == 4


# ---------------------------------------------------------------------------------------------------------------
# Through the product, against an independent read of the same host


def _disk_percent(path: str) -> float | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    size = st.f_frsize * st.f_blocks
    return None if not size else 100.0 * (size - st.f_frsize * st.f_bavail) / size


@pytest.mark.integration
async def test_get_health_of_the_sandbox_hosts_matches_the_host(sandbox: Sandbox) -> None:
    meminfo = dict(
        (line.split(":")[0], int(line.split()[1])) for line in Path("/proc/meminfo").read_text().splitlines()
    )
    total_mb = meminfo["MemTotal"] // 1024
    cpus = sum(
        1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.split(":")[0].strip() == "processor"
    )
    expected_failed = {"host/web-1": 0, "host/web-2": 1, "host/local-1": 0}
    async with connect("linux", config=sandbox.config) as conn:
        for rid, failed in expected_failed.items():
            health = await conn.get_health(rid)
            checks = {c.name: c for c in health.checks}
            assert list(checks) == ["reachable", "load", "memory", "disk", "services"], health.checks
            assert checks["reachable"].status == "healthy"
            assert health.metrics["failed_services"] == failed
            assert checks["services"].status == ("unhealthy" if failed else "healthy")
            assert f"of {total_mb} MB used" in checks["memory"].message
            assert f"on {cpus} cores" in checks["load"].message
            load1 = os.getloadavg()[0]
            assert abs(health.metrics["load1"] - load1) < max(2.0, load1)
            disks = {k.split(":", 1)[1]: v for k, v in health.metrics.items() if k.startswith("disk_percent:")}
            assert disks, health.metrics
            for path, pct in disks.items():
                ours = _disk_percent(path)
                if ours is not None:  # a mount of the host's own namespace may not be one of this machine's
                    assert abs(ours - pct) <= 0.2, (rid, path, ours, pct)


@pytest.mark.integration
def test_supervisord_is_asked_over_its_socket_as_supervisorctl_asks_it(sandbox: Sandbox) -> None:
    """The script asks supervisord over its unix socket with the host's python3 (no supervisorctl start): the same
    lines and exit code as `supervisorctl status`. A supervisorctl that does not exist proves the socket answered."""
    for host in ("web-1", "web-2"):
        conf = sandbox.linux_dir / host / "supervisord.conf"
        read = linux.linux_host_read(_run(_script(str(conf), "/nonexistent/supervisorctl", depth="brief")))
        ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), "status"]
        expected = subprocess.run(ctl, capture_output=True, text=True, timeout=30, check=False)
        assert read["supervisor"]["rc"] == expected.returncode, read["supervisor"]
        # The same lines but for the uptime, which may tick between the two reads.
        ticking = re.compile(r", uptime [\d:]+(?: days?, [\d:]+)?")
        assert [ticking.sub("", line.rstrip()) for line in read["supervisor"]["stdout"].splitlines()] == [
            ticking.sub("", line.rstrip()) for line in expected.stdout.strip().splitlines()
        ]
        assert read["supervisor"]["stderr"] == "" and read["supervisor"]["via"] == "socket"


def test_supervisorctl_answers_where_the_socket_cannot(tmp_path: Path) -> None:
    """A [supervisorctl] section with credentials, or an inet server: the script leaves it to supervisorctl."""
    for section in ("serverurl=unix:///nonexistent.sock\nusername=u\npassword=p\n", "serverurl=http://127.0.0.1:9\n"):
        conf = tmp_path / "supervisord.conf"
        conf.write_text("[supervisorctl]\n" + section)
        ctl = tmp_path / "ctl"
        ctl.write_text("#!/bin/sh\necho 'web                              RUNNING   pid 1, uptime 0:00:01'\n")
        ctl.chmod(0o755)
        read = linux.linux_host_read(_run(_script(str(conf), str(ctl), depth="brief")))
        assert read["supervisor"]["rc"] == 0 and read["supervisor"]["stdout"].startswith("web "), section


def test_reads_of_several_hosts_and_their_systemd_units() -> None:
    """The loop's results into reads per host (an unreachable one empty), supervisord's programs from the read,
    systemd's units (service_facts of the systemd hosts) added before them."""
    program = "web                              RUNNING   pid 3707, uptime 0:00:02"
    out = (
        "@@shieldops service_mgr\nsystemd\n@@shieldops supervisor\n" + program + "\n@@shieldops supervisor_rc\n0\n"
        "@@shieldops end\n"
    )
    results = [
        {"linux_target": "a", "stdout": out, "rc": 0},
        {"linux_target": "b", "unreachable": True, "msg": "ssh: connect to host b port 22: No route to host"},
    ]
    reads = linux.linux_host_reads(results)
    assert reads["a"]["reachable"] and [s["name"] for s in reads["a"]["services"]] == ["web"]
    assert not reads["b"]["reachable"] and reads["b"]["services"] == [] and "No route" in reads["b"]["unreachable_msg"]
    assert linux.linux_read_failures(reads) == []
    units = {"cron.service": {"source": "systemd", "state": "running", "status": "enabled"}}
    merged = linux.linux_read_services(reads, [{"linux_target": "a", "ansible_facts": {"services": units}}])
    assert [(s["name"], s["manager"]) for s in merged["a"]["services"]] == [
        ("cron.service", "systemd"),
        ("web", "supervisor"),
    ]
    broken = linux.linux_host_reads([{"linux_target": "a", "stdout": "@@shieldops service_mgr\nother\n", "rc": 1}])
    assert linux.linux_read_failures(broken) == ["the read of host a printed no end mark (rc 1)"]
