# -*- coding: utf-8 -*-
"""Normalise what Linux hosts report (facts, supervisorctl, systemd, journald, supervisord logs)."""
from __future__ import annotations

import datetime
import json
import os
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.filter.core import threshold_status, worst_status

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


def linux_service_resource(svc, host, env, host_groups, state_map, extra_tags):
    return {
        "id": "service/%s/%s" % (host, svc["name"]), "type": "service", "native_type": "linux_service",
        "name": svc["name"], "environment": env, "provider": "linux", "region": host,
        "state": state_map.get(svc["native_state"], "unknown"), "capacity": None,
        "tags": _tags(host, host_groups, extra_tags),
        "raw": {k: svc.get(k) for k in ("manager", "native_state", "pid", "uptime", "message")} | {"host": host},
    }


def _check(name, status, message):
    return {"name": name, "status": status, "message": message}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def linux_unreachable_health(rid, message):
    return {"resource_id": rid, "status": "unhealthy", "metrics": {}, "observed_at": _now(),
            "checks": [_check("reachable", "unhealthy", "host unreachable: %s" % str(message)[:300])]}


def linux_host_health(rid, facts, loadavg, services, thresholds):
    checks = [_check("reachable", "healthy", "SSH and Python answer")]
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
    return {"resource_id": rid, "status": worst_status(checks), "checks": checks, "metrics": metrics,
            "observed_at": _now()}


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
    return {"resource_id": rid, "status": worst_status(checks), "checks": checks, "metrics": metrics,
            "observed_at": _now()}


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


class FilterModule(object):
    def filters(self):
        return {
            "linux_inventory_host": linux_inventory_host,
            "linux_supervisor_status": linux_supervisor_status,
            "linux_systemd_services": linux_systemd_services,
            "linux_systemd_show": linux_systemd_show,
            "linux_host_resource": linux_host_resource,
            "linux_service_resource": linux_service_resource,
            "linux_unreachable_health": linux_unreachable_health,
            "linux_host_health": linux_host_health,
            "linux_service_health": linux_service_health,
            "linux_journal_events": linux_journal_events,
            "linux_supervisor_log_events": linux_supervisor_log_events,
            "linux_package_versions": linux_package_versions,
            "linux_snapshot_mismatch": linux_snapshot_mismatch,
        }
