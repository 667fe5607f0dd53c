# -*- coding: utf-8 -*-
"""Normalise what Linux hosts report (facts, supervisorctl, systemd, journald, supervisord logs)."""
from __future__ import annotations

import datetime
import json
import os
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, threshold_status

DOCUMENTATION = ""

# "web    RUNNING   pid 3707, uptime 0:00:02" / "worker FATAL     Exited too quickly (...)"
_SUPERVISOR_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)\s*(?P<rest>.*)$")
_SUPERVISOR_PID = re.compile(r"pid (?P<pid>\d+), uptime (?P<uptime>[\d:]+(?: days?, [\d:]+)?)")
_SUPERVISOR_LOG = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d+) (?P<level>[A-Z]+) (?P<msg>.*)$"
)
_LEVELS = {"CRIT": "critical", "ERRO": "error", "WARN": "warning", "INFO": "info", "DEBG": "info", "TRAC": "info"}
_UNHEALTHY_SERVICE = {"FATAL", "EXITED", "BACKOFF", "failed"}
_STOPPED_SERVICE = {"STOPPED", "inactive"}


def linux_supervisor_status(stdout):
    """Parse `supervisorctl status` into [{name, manager, native_state, pid, uptime, message}]."""
    programs = []
    for line in (stdout or "").splitlines():
        match = _SUPERVISOR_LINE.match(line.strip())
        if not match:
            continue
        rest = match.group("rest").strip()
        pid = _SUPERVISOR_PID.search(rest)
        programs.append({
            "name": match.group("name"),
            "manager": "supervisor",
            "native_state": match.group("state"),
            "pid": int(pid.group("pid")) if pid else None,
            "uptime": pid.group("uptime") if pid else None,
            "message": "" if pid else rest,
        })
    return programs


def linux_systemd_services(services):
    """service_facts' services (systemd source) into the same shape; only .service units."""
    out = []
    for name, svc in (services or {}).items():
        if svc.get("source") != "systemd" or not name.endswith(".service"):
            continue
        state = svc.get("state", "unknown")
        native = {"running": "active", "stopped": "inactive", "failed": "failed"}.get(state, state)
        out.append({"name": name, "manager": "systemd", "native_state": native, "pid": None, "uptime": None,
                    "message": svc.get("status", "")})
    return out


def linux_systemd_show(stdout):
    """`systemctl show -p ActiveState -p SubState -p NRestarts -p MainPID -p FragmentPath UNIT` into a dict."""
    props = {}
    for line in (stdout or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    return props


def _tags(host, host_groups, extra):
    tags = {group: "true" for group in host_groups if group not in ("all", "ungrouped")}
    tags.update({str(k): str(v) for k, v in (extra or {}).items()})
    return tags


def linux_host_resource(host, env, host_groups, reachable, facts, extra_tags):
    facts = facts or {}
    raw = {"reachable": reachable}
    for key in ("ansible_hostname", "ansible_distribution", "ansible_distribution_version", "ansible_kernel",
                "ansible_service_mgr"):
        if key in facts:
            raw[key.replace("ansible_", "")] = facts[key]
    return {
        "id": "host/%s" % host, "type": "instance", "native_type": "host", "name": host, "environment": env,
        "provider": "linux", "region": None, "state": "running" if reachable else "unknown", "capacity": None,
        "tags": _tags(host, host_groups, extra_tags), "raw": raw,
    }


# What community.general.supervisorctl and ansible.builtin.systemd_service count as running when they decide
# whether a start or a stop would change anything (a restart always does).
_RUNNING_FOR_MANAGER = {"supervisor": {"RUNNING", "STARTING"}, "systemd": {"active", "activating"}}
_STOPPABLE_FOR_MANAGER = {"supervisor": {"RUNNING", "STARTING"}, "systemd": {"active", "activating", "deactivating"}}


def linux_action_would_change(svc, action):
    """Whether start, stop or restart would change the service, decided as the manager's module decides it in check
    mode, so that a dry run needs no remote task (and runs none of the module's own steps: the supervisorctl
    module runs `supervisorctl update`, a write, before it looks at check mode for a restart)."""
    manager, state = svc["manager"], svc["native_state"]
    if action == "restart":
        return True
    if action == "start":
        return state not in _RUNNING_FOR_MANAGER[manager]
    if action == "stop":
        return state in _STOPPABLE_FOR_MANAGER[manager]
    raise ValueError("no such service action: %s" % action)


def linux_service_resource(svc, host, env, host_groups, state_map, extra_tags):
    return {
        "id": "service/%s/%s" % (host, svc["name"]), "type": "service", "native_type": "linux_service",
        "name": svc["name"], "environment": env, "provider": "linux", "region": host,
        "state": state_map.get(svc["native_state"], "unknown"), "capacity": None,
        "tags": _tags(host, host_groups, extra_tags),
        "raw": {k: svc.get(k) for k in ("manager", "native_state", "pid", "uptime", "message")} | {"host": host},
    }


def _inventory_of(hostvars, host):
    variables = hostvars[host]
    return list(variables.get("group_names") or []), dict(variables.get("shieldops_tags") or {})


def linux_host_resources(reads, env, hostvars, hosts):
    """Every listed host (in the listing's order) as a resource; an unreachable one says why in raw."""
    resources = []
    for host in hosts:
        read = reads[host]
        groups, tags = _inventory_of(hostvars, host)
        resource = linux_host_resource(host, env, groups, read["reachable"], read["facts"], tags)
        if not read["reachable"]:
            resource["raw"]["unreachable"] = read["unreachable_msg"]
        resources.append(resource)
    return resources


def linux_service_resources(reads, env, hostvars, hosts, state_map):
    """The services of every reachable listed host, host by host, as resources."""
    resources = []
    for host in hosts:
        read = reads[host]
        if read["reachable"]:
            groups, tags = _inventory_of(hostvars, host)
            resources.extend(linux_service_resource(svc, host, env, groups, state_map, tags) for svc in read["services"])
    return resources


def linux_unreachable_health(rid, message):
    return health_report(rid, [_check("reachable", "unhealthy", "host unreachable: %s" % str(message)[:300])])


def linux_host_health(rid, facts, loadavg, services, thresholds):
    checks = [_check("reachable", "healthy", "the host answers over SSH")]
    metrics = {}
    cores = facts.get("ansible_processor_vcpus") or facts.get("ansible_processor_cores") or 1
    if loadavg:
        load1 = float(loadavg.split()[0])
        per_core = load1 / max(int(cores), 1)
        metrics.update({"load1": load1, "load_per_core": round(per_core, 3)})
        t = thresholds["load_per_core"]
        checks.append(_check("load", threshold_status(per_core, t), "load %.2f on %d cores (%.2f per core)"
                             % (load1, int(cores), per_core)))
    mem = (facts.get("ansible_memory_mb") or {}).get("nocache") or {}
    total = (facts.get("ansible_memory_mb") or {}).get("real", {}).get("total")
    if total and "used" in mem:
        used_pct = 100.0 * mem["used"] / total
        metrics["memory_percent"] = round(used_pct, 1)
        checks.append(_check("memory", threshold_status(used_pct, thresholds["memory_percent"]),
                             "%.1f%% of %d MB used (without cache)" % (used_pct, total)))
    worst_disk = None
    for mount in facts.get("ansible_mounts") or []:
        size = mount.get("size_total") or 0
        if not size or mount.get("fstype") in ("tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs"):
            continue
        pct = 100.0 * (size - mount.get("size_available", 0)) / size
        metrics["disk_percent:%s" % mount["mount"]] = round(pct, 1)
        if worst_disk is None or pct > worst_disk[1]:
            worst_disk = (mount["mount"], pct)
    if worst_disk:
        checks.append(_check("disk", threshold_status(worst_disk[1], thresholds["disk_percent"]),
                             "fullest mount %s at %.1f%%" % worst_disk))
    failed = [s["name"] for s in services or [] if s["native_state"] in _UNHEALTHY_SERVICE]
    checks.append(_check("services", "unhealthy" if failed else "healthy",
                         "failed: %s" % ", ".join(sorted(failed)) if failed
                         else "%d services, none failed" % len(services or [])))
    metrics["failed_services"] = len(failed)
    return health_report(rid, checks, metrics)


def linux_service_health(rid, svc, systemd_props, probe, probe_result):
    native = svc["native_state"]
    if native in ("RUNNING", "active"):
        status, why = "healthy", "running"
    elif native in ("STARTING", "activating", "reloading", "STOPPING", "deactivating"):
        status, why = "degraded", native.lower()
    else:
        status, why = "unhealthy", native.lower()
    message = "%s (%s)%s" % (why, svc["manager"], ": %s" % svc["message"] if svc.get("message") else "")
    checks = [_check("state", status, message)]
    metrics = {}
    restarts = (systemd_props or {}).get("NRestarts")
    if restarts not in (None, ""):
        metrics["restarts"] = float(restarts)
        checks.append(_check("restarts", "degraded" if int(restarts) > 3 else "healthy", "%s restarts" % restarts))
    if probe and probe_result is not None:
        ok = not probe_result.get("failed")
        target = "tcp %s:%s" % (probe.get("host", "127.0.0.1"), probe.get("port"))
        checks.append(_check("probe", "healthy" if ok else "unhealthy", "%s %s" % (
            target, "answers" if ok else "does not answer: %s" % probe_result.get("msg", ""))))
    if svc.get("pid"):
        metrics["pid"] = float(svc["pid"])
    return health_report(rid, checks, metrics)


def _priority_severity(priority):
    p = int(priority) if str(priority).isdigit() else 6
    return "critical" if p <= 2 else "error" if p == 3 else "warning" if p == 4 else "info"


def linux_journal_events(stdout, rid):
    events = []
    for line in (stdout or "").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        micros = int(entry.get("__REALTIME_TIMESTAMP", 0))
        ts = datetime.datetime.fromtimestamp(micros / 1e6, tz=datetime.timezone.utc).isoformat()
        events.append({
            "id": entry.get("__CURSOR", "%s-%d" % (rid, micros))[:200], "resource_id": rid, "timestamp": ts,
            "type": "journal:%s" % (entry.get("SYSLOG_IDENTIFIER") or entry.get("_SYSTEMD_UNIT") or "log"),
            "severity": _priority_severity(entry.get("PRIORITY")), "message": str(entry.get("MESSAGE", ""))[:2000],
            "source": "journal",
        })
    return events


def linux_supervisor_log_events(stdout, rid, program):
    """supervisord's own log; with a program, only lines that name it. Timestamps are the host's (UTC here)."""
    events = []
    for number, line in enumerate((stdout or "").splitlines()):
        match = _SUPERVISOR_LOG.match(line)
        if not match:
            continue
        msg = match.group("msg")
        if program and "'%s'" % program not in msg and not re.search(r"\b%s\b" % re.escape(program), msg):
            continue
        severity = _LEVELS.get(match.group("level"), "info")
        if "FATAL" in msg or "gave up" in msg:
            severity = "error"
        elif "not expected" in msg and severity == "info":
            severity = "warning"
        ts = datetime.datetime.strptime(match.group("ts"), "%Y-%m-%d %H:%M:%S").replace(
            microsecond=int(match.group("ms")) * 1000, tzinfo=datetime.timezone.utc)
        kind = msg.split(":", 1)[0].strip().replace(" ", "_") if ":" in msg else "log"
        events.append({"id": "%s-%s-%d" % (rid, match.group("ts").replace(" ", "T"), number), "resource_id": rid,
                       "timestamp": ts.isoformat(), "type": "supervisor:%s" % kind[:40], "severity": severity,
                       "message": msg[:2000], "source": "supervisor"})
    return events


def linux_package_versions(packages, names=None):
    """package_facts' packages into {name: version}; only `names` when given (missing ones map to None)."""
    packages = packages or {}
    wanted = names if names else sorted(packages)
    return {name: (packages.get(name) or [{}])[0].get("version") for name in wanted}


# Where systemd looks for unit files: a service's own unit file is captured with its configured files.
_UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
              "/usr/lib/systemd/system")


def _declared(path, declared):
    """Whether the capture of the declared paths could have found path: a declared path itself, or a file below a
    declared directory with no component starting with a dot (the capture skips those)."""
    for entry in declared or []:
        entry = os.path.normpath(str(entry))
        if path == entry:
            return True
        below = os.path.relpath(path, entry) if path.startswith(entry.rstrip("/") + "/") else None
        if below and not any(part.startswith(".") for part in below.split("/")):
            return True
    return False


def linux_snapshot_mismatch(snapshot, host, declared, service=None):
    """What in a Linux snapshot is not the host or service its resource id names, or not among the inventory's
    declared files for it ('' when everything is). service: the service name of the resource id (a service
    snapshot); its definition file counts as declared when it is the unit's own file in a systemd unit folder."""
    state = snapshot.get("state") or {}
    handles = snapshot.get("handles") or {}
    problems = []
    if state.get("host") != host:
        problems.append("it is of host %r, not %r" % (str(state.get("host"))[:80], host))
    unit_files = ()
    if service is not None:
        name = state.get("name")
        if name not in (service, service + ".service"):
            problems.append("it is of service %r, not %r" % (str(name)[:80], service))
        elif state.get("manager") == "systemd":
            unit = name if name.endswith(".service") else name + ".service"
            unit_files = tuple(os.path.join(folder, unit) for folder in _UNIT_DIRS)
    files = handles.get("files") or []
    if not isinstance(files, list):
        problems.append("its files are not a list")
        files = []
    for handle in files:
        path = handle.get("path") if isinstance(handle, dict) else None
        if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) != path:
            problems.append("file %r is not a normalised absolute path" % str(path)[:80])
        elif handle.get("host", host) != host:
            problems.append("file %s is of host %r" % (path[:200], str(handle.get("host"))[:80]))
        elif path not in unit_files and not _declared(path, declared):
            problems.append("file %s is not among the files the inventory declares for it" % path[:200])
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], "service %s on %s" % (service, host) if service else "host " + host,
        "; ".join(problems[:5]))


def linux_inventory_host(name, inventory_hosts):
    """The host a resource id names, if the inventory has it; the controller is never a target."""
    if name not in inventory_hosts or name == "localhost":
        raise AnsibleFilterError("not_found: no host %s in the inventory" % str(name)[:253])
    return name


# What roles/linux/tasks/host_read.yml's script prints: sections, each opened by a line "@@shieldops NAME".
_READ_MARK = "@@shieldops "
_OCTAL_ESCAPE = re.compile(r"\\[0-7]{3}")
# The /proc/cpuinfo keys setup counts as processor lines.
_CPU_KEYS = ("model name", "Processor", "vendor_id", "cpu", "Vendor", "processor")


def _read_sections(stdout):
    sections = {}
    current = None
    # Over an SSH tty the host's lines end in \r\n; text before the first mark (a shell's rc file) is not ours.
    for line in (stdout or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith(_READ_MARK):
            current = line[len(_READ_MARK):].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    for name, lines in sections.items():
        while lines and not lines[-1].strip():
            lines.pop()  # each mark begins with a newline of its own
        while lines and not lines[0].strip():
            lines.pop(0)
    return sections


def _int(text):
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _memory_mb(lines):
    """ansible_memory_mb as setup computes it: each /proc/meminfo value in kB // 1024, then the sums."""
    stats = {}
    for line in lines:
        key, sep, value = line.partition(":")
        number = _int(value.strip().split(" ")[0]) if sep and value.strip() else None
        if number is not None and key in ("MemTotal", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree",
                                          "SwapCached"):
            stats[key.lower()] = number // 1024
    if not stats:
        return None
    if None not in (stats.get("memtotal"), stats.get("memfree")):
        stats["real:used"] = stats["memtotal"] - stats["memfree"]
    if None not in (stats.get("cached"), stats.get("memfree"), stats.get("buffers")):
        stats["nocache:free"] = stats["cached"] + stats["memfree"] + stats["buffers"]
    if None not in (stats.get("memtotal"), stats.get("nocache:free")):
        stats["nocache:used"] = stats["memtotal"] - stats["nocache:free"]
    if None not in (stats.get("swaptotal"), stats.get("swapfree")):
        stats["swap:used"] = stats["swaptotal"] - stats["swapfree"]
    return {
        "real": {"total": stats.get("memtotal"), "used": stats.get("real:used"), "free": stats.get("memfree")},
        "nocache": {"free": stats.get("nocache:free"), "used": stats.get("nocache:used")},
        "swap": {"total": stats.get("swaptotal"), "free": stats.get("swapfree"), "used": stats.get("swap:used"),
                 "cached": stats.get("swapcached")},
    }


def _cpu_facts(lines, arch, xen):
    """ansible_processor_vcpus and _cores as setup's Linux hardware collector computes them from /proc/cpuinfo
    (the lines of its keys), the architecture and whether Xen paravirtualises the host."""
    i = vendor_id = model_name = processor = zp = zmt = 0
    physid = coreid = 0
    sockets, cores = {}, {}
    for line in lines:
        key, _sep, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key in _CPU_KEYS:
            vendor_id += key == "vendor_id"
            model_name += key == "model name"
            processor += key == "processor"
            i += 1
        elif key == "physical id":
            physid = val
            sockets.setdefault(physid, 1)
        elif key == "core id":
            coreid = val
            if coreid not in sockets:  # sic: setup tests sockets here
                cores[coreid] = 1
        elif key == "cpu cores" and _int(val) is not None:
            sockets[physid] = _int(val)
        elif key == "siblings" and _int(val) is not None:
            cores[coreid] = _int(val)
        elif key == "# processors" and _int(val) is not None:
            zp = _int(val)
        elif key == "max thread id" and _int(val) is not None:
            zmt = _int(val) + 1
        elif key == "ncpus active" and _int(val) is not None:
            i = _int(val)
    if not lines:
        return {}
    if vendor_id > 0 and vendor_id == model_name:
        i = vendor_id
    if arch.startswith(("armv", "aarch", "ppc")):
        i = processor
    if arch == "s390x":
        return {"ansible_processor_cores": round(zp / zmt) if zmt else None, "ansible_processor_vcpus": zp}
    if xen:
        return {"ansible_processor_cores": i, "ansible_processor_vcpus": i}
    count = len(sockets) if sockets else i
    socket_values = list(sockets.values())
    cores_per = socket_values[0] if socket_values and socket_values[0] else 1
    core_values = list(cores.values())
    threads = round(core_values[0] / cores_per) if core_values else round(1 / cores_per)
    return {"ansible_processor_cores": cores_per, "ansible_processor_vcpus": threads * count * cores_per}


def _mounts(lines):
    """ansible_mounts' mount, fstype, size_total and size_available: the script lists the mount table's entries
    setup keeps (a device path, not fstype none) with `stat -f` of each: fragment size, blocks, blocks available
    (statvfs's f_frsize, f_blocks, f_bavail, which setup multiplies). Later entries for a mount point win, as in
    setup; a mount stat could not read has no sizes."""
    mounts = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 2:
            continue
        mount = _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group()[1:], 8)), fields[0])
        entry = {"mount": mount, "fstype": fields[1]}
        sizes = [_int(f) for f in fields[2:5]]
        if len(sizes) == 3 and None not in sizes:
            entry.update(size_total=sizes[0] * sizes[1], size_available=sizes[0] * sizes[2])
        mounts[mount] = entry  # a dict keeps the first position, as setup's does
    return list(mounts.values())


# os-release IDs whose ansible_distribution differs from the capitalised ID (what setup reports for them).
_DISTRIBUTION_FOR_ID = {
    "rhel": "RedHat", "centos": "CentOS", "ol": "OracleLinux", "amzn": "Amazon", "almalinux": "AlmaLinux",
    "sles": "SLES", "sles_sap": "SLES_SAP", "opensuse-leap": "openSUSE Leap", "opensuse-tumbleweed": "openSUSE Tumbleweed",
    "arch": "Archlinux", "linuxmint": "Linux Mint", "kali": "Kali",
}


def _os_release(lines):
    fields = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            fields[key] = value
    return fields


def _identity(sections):
    """ansible_hostname, _kernel, _distribution and _distribution_version as setup gives them for the distributions
    it names from os-release (the ID, capitalised or as _DISTRIBUTION_FOR_ID says; Debian's version is its
    /etc/debian_version, as setup's is)."""
    facts = {}
    node = "".join(sections.get("hostname", [])).strip()
    if node:
        facts["ansible_hostname"] = node.split(".")[0]
    kernel = "".join(sections.get("kernel", [])).strip()
    if kernel:
        facts["ansible_kernel"] = kernel
    release = _os_release(sections.get("os_release", []))
    ident = release.get("ID", "").lower()
    if ident:
        facts["ansible_distribution"] = _DISTRIBUTION_FOR_ID.get(ident, ident.capitalize())
        version = release.get("VERSION_ID", "")
        debian = "".join(sections.get("debian_version", [])).strip()
        if ident == "debian" and re.fullmatch(r"\d+(\.\d+)*", debian):
            version = debian
        facts["ansible_distribution_version"] = version
    return facts


def linux_host_read(stdout):
    """What roles/linux/tasks/host_read.yml's script printed, in the shapes the other filters take: facts (the keys
    linux_host_health and linux_host_resource read, computed as setup computes them), loadavg (the text of
    /proc/loadavg), service_mgr (systemd or other) and supervisor (found, rc, stdout, stderr as `supervisorctl status`
    gives them, and via: socket when supervisord answered over its socket, else supervisorctl). A section the host
    could not print is empty: its facts are missing, as setup leaves them."""
    sections = _read_sections(stdout)
    arch = "".join(sections.get("arch", [])).strip()
    xen = sections.get("xen") or []
    facts = _cpu_facts(sections.get("cpuinfo", []), arch, bool(xen) and (_int(xen[-1]) or 0) > 0)
    memory = _memory_mb(sections.get("meminfo", []))
    if memory:
        facts["ansible_memory_mb"] = memory
    if "mounts" in sections:
        facts["ansible_mounts"] = _mounts(sections["mounts"])
    facts.update(_identity(sections))
    service_mgr = "".join(sections.get("service_mgr", [])).strip()
    if service_mgr:
        facts["ansible_service_mgr"] = service_mgr
    supervisor = {"found": "supervisor_rc" in sections, "rc": None, "stdout": "", "stderr": "", "via": ""}
    if supervisor["found"]:
        supervisor.update(rc=_int("".join(sections["supervisor_rc"][-1:])),
                          via="".join(sections.get("supervisor_via", [])).strip(),
                          stdout="\n".join(sections.get("supervisor", [])),
                          stderr="\n".join(sections.get("supervisor_stderr", [])))
    return {
        "complete": "end" in sections,
        "loadavg": "\n".join(sections.get("loadavg", [])).strip(),
        "facts": facts,
        "service_mgr": service_mgr,
        "supervisor": supervisor,
    }


def linux_host_reads(results):
    """The raw task's loop results (loop_var linux_target) into {host: read}: each read as linux_host_read gives
    it, plus reachable, unreachable_msg and services (supervisord's; linux_read_services adds systemd's); an
    unreachable host's read is empty."""
    reads = {}
    for result in results or []:
        host = result["linux_target"]
        unreachable = bool(result.get("unreachable"))
        read = linux_host_read("" if unreachable else result.get("stdout", ""))
        read.update(reachable=not unreachable, unreachable_msg=result.get("msg", "") if unreachable else "",
                    rc=result.get("rc"), services=linux_supervisor_status(read["supervisor"]["stdout"]))
        reads[host] = read
    return reads


def linux_read_failures(reads):
    """Why a reachable host's read cannot be used: its output stops short, or its supervisorctl gave no answer."""
    failures = []
    for host, read in (reads or {}).items():
        if not read["reachable"]:
            continue
        if not read["complete"]:
            failures.append("the read of host %s printed no end mark (rc %s)" % (host, read.get("rc")))
        elif read["supervisor"]["found"] and read["supervisor"]["rc"] not in (0, 3):
            supervisor = read["supervisor"]
            failures.append("supervisorctl status failed on %s (rc %s): %s" % (
                host, supervisor["rc"], supervisor["stderr"].strip() or supervisor["stdout"].strip()))
    return failures


def linux_read_services(reads, service_facts_results):
    """Each host's services: systemd's (service_facts, looped over the systemd hosts) before supervisord's."""
    systemd = {r["linux_target"]: (r.get("ansible_facts") or {}).get("services") for r in service_facts_results or []}
    return {host: dict(read, services=linux_systemd_services(systemd.get(host)) + read["services"])
            for host, read in (reads or {}).items()}


class FilterModule(object):
    def filters(self):
        return {
            "linux_inventory_host": linux_inventory_host,
            "linux_supervisor_status": linux_supervisor_status,
            "linux_systemd_services": linux_systemd_services,
            "linux_systemd_show": linux_systemd_show,
            "linux_host_resources": linux_host_resources,
            "linux_service_resources": linux_service_resources,
            "linux_action_would_change": linux_action_would_change,
            "linux_unreachable_health": linux_unreachable_health,
            "linux_host_health": linux_host_health,
            "linux_host_read": linux_host_read,
            "linux_host_reads": linux_host_reads,
            "linux_read_failures": linux_read_failures,
            "linux_read_services": linux_read_services,
            "linux_service_health": linux_service_health,
            "linux_journal_events": linux_journal_events,
            "linux_supervisor_log_events": linux_supervisor_log_events,
            "linux_package_versions": linux_package_versions,
            "linux_snapshot_mismatch": linux_snapshot_mismatch,
        }
