# -*- coding: utf-8 -*-
"""Normalise ARM documents (azure.azcollection modules' and ours) into the common models (Resource, HealthStatus,
Event), and the checks and names the azure role's snapshot and rollback need."""
from __future__ import annotations

import datetime
import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.filter.core import health_check as _check
from ansible_collections.shieldops.connectors.plugins.filter.core import health_report, threshold_status
from ansible_collections.shieldops.connectors.plugins.filter.core import iso_timestamp as _iso
from ansible_collections.shieldops.connectors.plugins.plugin_utils.azure_identity import identity_env

DOCUMENTATION = ""

# azure_rm_virtualmachine_info's power_state (the PowerState/* code of the instance view) onto the common states.
_VM_STATE = {
    "running": "running",
    "starting": "pending",
    "stopping": "pending",
    "deallocating": "pending",
    "stopped": "stopped",
    "deallocated": "stopped",
}
_VM_HEALTH = {"running": "healthy", "starting": "degraded", "stopping": "degraded", "deallocating": "degraded",
              "stopped": "unhealthy", "deallocated": "unhealthy"}
# Resource Health's availabilityState onto a check status.
_AVAILABILITY = {"Available": "healthy", "Degraded": "degraded", "Unavailable": "unhealthy", "Unknown": "unknown"}
# The Activity Log's levels onto Event severities.
_LEVEL = {"Verbose": "info", "Informational": "info", "Warning": "warning", "Error": "error", "Critical": "critical"}
_ID = re.compile(r"(?i)^/subscriptions/([0-9a-f-]{36})/resourceGroups/([^/]+)/providers/([^/]+)/([^/]+)/([^/]+)"
                 r"(?:/([^/]+)/([^/]+))?$")
_LOCATION = re.compile(r"^[a-z][a-z0-9]{1,39}$")


def azure_id_parts(resource_id, subscription_id):
    """The parts of an ARM id (resource_group, name, child_name), refused unless the id is in the environment's
    subscription: the modules take the subscription from the environment, so an id of another subscription would
    otherwise act on the same-named resource of this one."""
    match = _ID.fullmatch(str(resource_id))
    if not match:
        raise AnsibleFilterError("invalid_request: not an ARM resource id: %r" % str(resource_id)[:200])
    if match.group(1).lower() != str(subscription_id).lower():
        raise AnsibleFilterError("invalid_request: %r is in subscription %s; this environment works in %s"
                                 % (str(resource_id)[:200], match.group(1), subscription_id))
    return {"subscription_id": match.group(1).lower(), "resource_group": match.group(2), "namespace": match.group(3),
            "type": match.group(4), "name": match.group(5), "child_name": match.group(7)}


def azure_location(value):
    """A location filter (westeurope), checked and folded as ARM writes locations (lower case, no spaces)."""
    folded = str(value).replace(" ", "").lower()
    if not _LOCATION.fullmatch(folded):
        raise AnsibleFilterError("invalid_request: filters.location is not an Azure location: %r" % str(value)[:80])
    return folded


def azure_groups_to_list(settings_groups, filters):
    """The resource groups a listing covers: the filter's group (which must be one of the configured groups when
    the environment names some), else the configured groups; [None] means the whole subscription."""
    wanted = (filters or {}).get("resource_group")
    configured = list(settings_groups or [])
    if wanted is None:
        return configured or [None]
    if not isinstance(wanted, str) or not re.fullmatch(r"[-\w.()]{1,90}", wanted, re.ASCII):
        raise AnsibleFilterError("invalid_request: filters.resource_group is not a resource group name: %r"
                                 % str(wanted)[:100])
    if configured and wanted.lower() not in [g.lower() for g in configured]:
        return []
    return [wanted]


def azure_in_location(resources, location):
    if not location:
        return list(resources)
    folded = azure_location(location)
    return [r for r in resources if str(r.get("region") or "").lower() == folded]


def _disk(d):
    managed = d.get("managed_disk") or {}
    return {"name": d.get("name"), "lun": d.get("lun"), "id": managed.get("id") or d.get("managed_disk_id"),
            "size_gb": d.get("disk_size_gb"), "sku": managed.get("storage_account_type") or d.get("managed_disk_type")}


def azure_vm_resource(vm, env):
    power = vm.get("power_state") or ""
    state = _VM_STATE.get(power, "unknown")
    if str(vm.get("provisioning_state") or "").lower() == "failed":
        state = "failed"
    return {
        "id": vm["id"],
        "type": "instance",
        "native_type": "vm",
        "name": vm["name"],
        "environment": env,
        "provider": "azure",
        "region": vm.get("location"),
        "state": state,
        "capacity": None,
        "tags": {str(k): str(v) for k, v in (vm.get("tags") or {}).items()},
        "raw": {
            "power_state": power,
            "provisioning_state": vm.get("provisioning_state"),
            "vm_size": vm.get("vm_size"),
            "resource_group": vm.get("resource_group"),
            "location": vm.get("location"),
            "zones": vm.get("zones"),
            "os_type": vm.get("os_type"),
            "os_disk": _disk(vm.get("os_disk") or {}),
            "data_disks": [_disk(d) for d in vm.get("data_disks") or []],
            "vm_agent_version": vm.get("vm_agent_version"),
        },
    }


def _availability_check(availability):
    if not availability:
        return None
    props = availability.get("properties") or {}
    state = props.get("availabilityState") or "Unknown"
    summary = props.get("summary") or props.get("reasonType") or state
    return _check("resource_health", _AVAILABILITY.get(state, "unknown"), "Resource Health: %s: %s"
                  % (state, str(summary)[:300]))


def _cpu_check(points, thresholds, metrics):
    latest = next((p.get("average") for p in reversed(points or []) if p.get("average") is not None), None)
    if latest is None:
        return None
    cpu = float(latest)
    metrics["cpu_percent"] = cpu
    t = thresholds["cpu_percent"]
    return _check("cpu", threshold_status(cpu, t), "CPU %.1f%% (degraded at %s%%, unhealthy at %s%%)"
                  % (cpu, t["degraded"], t["unhealthy"]))


def azure_vm_health(vm, signals, thresholds):
    """A VM's health: its power state and provisioning (instance view), its VM agent when running, Resource
    Health's availability and Azure Monitor's Percentage CPU."""
    power = vm.get("power_state") or "unknown"
    # The instance view's display status reads "VM running", "VM deallocated"...
    checks = [_check("power_state", _VM_HEALTH.get(power, "degraded"), vm.get("display_status") or "VM %s" % power)]
    provisioning = str(vm.get("provisioning_state") or "unknown")
    checks.append(_check("provisioning", "healthy" if provisioning.lower() == "succeeded" else
                         "unhealthy" if provisioning.lower() == "failed" else "degraded",
                         "provisioning %s" % provisioning))
    if power == "running":
        agent = vm.get("vm_agent_version")
        checks.append(_check("vm_agent", "healthy" if agent and agent != "Unknown" else "degraded",
                             "VM agent %s" % (agent if agent and agent != "Unknown" else "not reporting")))
    signals = signals or {}
    metrics = {}
    for check in (_availability_check(signals.get("availability")),
                  _cpu_check(signals.get("points"), thresholds, metrics)):
        if check:
            checks.append(check)
    return health_report(vm["id"], checks, metrics)


def azure_activity_event(event, resource_id):
    """An Activity Log event as an Event: what was done, by whom, and how it ended."""
    operation = event.get("operationName") or {}
    name = operation.get("value") or "unknown"
    status = (event.get("status") or {}).get("value") or ""
    severity = _LEVEL.get(event.get("level") or "Informational", "info")
    if status == "Failed" and severity == "info":
        severity = "warning"
    message = "%s by %s: %s" % (operation.get("localizedValue") or name, event.get("caller") or "unknown caller",
                                status or "no status")
    return {
        "id": str(event.get("eventDataId") or event.get("id") or event.get("eventTimestamp")),
        "resource_id": resource_id,
        "timestamp": _iso(event["eventTimestamp"]),
        "type": name.rsplit("/", 2)[-2] if name.endswith("/action") else name.rsplit("/", 1)[-1],
        "severity": severity,
        "message": message[:2000],
        "source": "activity_log/%s" % ((event.get("category") or {}).get("value") or "Administrative"),
    }


def azure_health_event(status, resource_id, start, end):
    """A Resource Health availability status as an Event, when it happened within [start, end]."""
    props = status.get("properties") or {}
    when = props.get("occuredTime") or props.get("occurredTime") or props.get("reportedTime")
    if not when:
        return None
    stamp = datetime.datetime.fromisoformat(_iso(when))
    if not (datetime.datetime.fromisoformat(_iso(start)) <= stamp <= datetime.datetime.fromisoformat(_iso(end))):
        return None
    state = props.get("availabilityState") or "Unknown"
    return {
        "id": str(status.get("id") or when)[-200:],
        "resource_id": resource_id,
        "timestamp": _iso(when),
        "type": "availability_%s" % state.lower(),
        "severity": {"Available": "info", "Degraded": "warning", "Unavailable": "error"}.get(state, "warning"),
        "message": ("Resource Health: %s: %s" % (state, props.get("summary") or props.get("reasonType") or ""))[:2000],
        "source": "resource_health",
    }


def azure_events(result, resource_id, start, end):
    """Every event of an azure_activity_log_info result, oldest first."""
    events = [azure_activity_event(e, resource_id) for e in result.get("events") or []]
    events += [e for e in (azure_health_event(s, resource_id, start, end) for s in result.get("health_events") or [])
               if e]
    return sorted(events, key=lambda e: e["timestamp"])


def azure_snapshot_name(snapshot_id, index):
    """A disk snapshot's name: the shieldops snapshot id and the disk's index, within ARM's 80 characters."""
    base = re.sub(r"[^\w.-]", "-", str(snapshot_id))
    if len(base) > 72:
        base = "%s-%s" % (base[:59], hashlib.sha256(str(snapshot_id).encode()).hexdigest()[:12])
    return "%s-d%d" % (base, int(index))


def azure_restored_disk_name(snapshot_id, stamp, index):
    """A new disk's name for each rollback (a second rollback of the same snapshot makes new disks again)."""
    return "restored-%s-%s-d%d" % (hashlib.sha256(str(snapshot_id).encode()).hexdigest()[:10], stamp, int(index))


def azure_snapshot_tags(snapshot_id, vm_id):
    """The tags that tie a disk snapshot to the shieldops snapshot and the VM (tag values: 256 characters)."""
    return {"shieldops-snapshot": str(snapshot_id)[:256], "shieldops-vm": str(vm_id).lower()[:256]}


def azure_disk_handles(vm, snapshot_id):
    """What rollback needs of each disk of the VM: which one it is (OS, or a data disk's LUN), its settings, and
    the name of the snapshot taken of it. The OS disk is index 0, data disks follow by LUN."""
    handles = []
    os_disk = _disk(vm.get("os_disk") or {})
    handles.append(dict(os_disk, role="os", index=0, os_type=vm.get("os_type"),
                        snapshot=azure_snapshot_name(snapshot_id, 0)))
    for i, data in enumerate(sorted(vm.get("data_disks") or [], key=lambda d: d.get("lun") or 0), start=1):
        handles.append(dict(_disk(data), role="data", index=i, caching=data.get("caching"),
                            snapshot=azure_snapshot_name(snapshot_id, i)))
    return handles


def azure_vm_snapshot_mismatch(snapshot, vm, found):
    """What in a VM snapshot document is not this VM's ('' when all is): every disk snapshot it names must exist
    in the VM's resource group, be tagged for this shieldops snapshot and VM, and be of a disk of this VM."""
    handles = (snapshot.get("handles") or {}).get("disks") or []
    by_name = {str(s.get("name")).lower(): s for s in found or []}
    problems = []
    if not handles or handles[0].get("role") != "os":
        problems.append("it names no OS disk")
    for handle in handles:
        name = str(handle.get("snapshot"))
        disk_snapshot = by_name.get(name.lower())
        if disk_snapshot is None:
            problems.append("disk snapshot %r does not exist in the VM's resource group" % name[:80])
            continue
        tags = disk_snapshot.get("tags") or {}
        if tags != azure_snapshot_tags(snapshot.get("id"), vm.get("id")):
            problems.append("disk snapshot %r is tagged for another snapshot or VM" % name[:80])
        source = str(((disk_snapshot.get("properties") or {}).get("creationData") or {}).get("sourceResourceId")
                     or "").lower()
        if source != str(handle.get("id") or "").lower():
            problems.append("disk snapshot %r is not of the disk it names" % name[:80])
    if not problems:
        return ""
    return "snapshot %s is not a snapshot of %s: %s" % (
        str(snapshot.get("id"))[:80], str(snapshot.get("resource_id"))[:200], "; ".join(problems[:5]))


def azure_restore_plan(found, snapshot):
    """The snapshot's disk handles, each with the ARM id of the disk snapshot it names (checked to exist by
    azure_vm_snapshot_mismatch first)."""
    by_name = {str(s.get("name")).lower(): s for s in found or []}
    plan = []
    for handle in (snapshot.get("handles") or {}).get("disks") or []:
        disk_snapshot = by_name.get(str(handle.get("snapshot")).lower())
        if disk_snapshot is None:
            raise AnsibleFilterError("invalid_request: disk snapshot %r is gone" % str(handle.get("snapshot"))[:80])
        plan.append(dict(handle, snapshot_id=disk_snapshot["id"]))
    return plan


def azure_disk_swap_body(created, state):
    """The PATCH of a VM that swaps in the disks the restoring loop made (its results, each with its handle):
    the OS disk, the data disks at their LUNs, and the snapshotted size."""
    os_disk, data_disks = None, []
    for result in created or []:
        handle, disk = result["azure_handle"], result.get("state") or {}
        if handle["role"] == "os":
            os_disk = {"name": disk["name"], "managedDisk": {"id": disk["id"]}}
        else:
            data_disks.append({"lun": handle["lun"], "name": disk["name"], "createOption": "Attach",
                               "caching": handle.get("caching") or "None", "managedDisk": {"id": disk["id"]}})
    if os_disk is None:
        raise AnsibleFilterError("invalid_request: the snapshot restores no OS disk")
    body = {"properties": {"storageProfile": {"osDisk": os_disk, "dataDisks": data_disks}}}
    if (state or {}).get("vm_size"):
        body["properties"]["hardwareProfile"] = {"vmSize": state["vm_size"]}
    return body


_SITE_STATE = {"running": "running", "stopped": "stopped"}
_SITE_AVAILABILITY = {"Normal": "healthy", "Limited": "degraded", "DisasterRecoveryMode": "unhealthy"}
_HOST_STATE = {"Running": "healthy", "Initialized": "degraded", "Default": "degraded", "Offline": "unhealthy",
               "Error": "unhealthy", "Stopped": "unhealthy"}


def _slot_name(slot):
    return str(slot.get("name") or "").rsplit("/", 1)[-1]


def azure_function_app_resource(app, env):
    props = app.get("properties") or {}
    state = str(props.get("state") or "")
    return {
        "id": app["id"],
        "type": "function",
        "native_type": "function_app",
        "name": app["name"],
        "environment": env,
        "provider": "azure",
        "region": str(app.get("location") or "").replace(" ", "").lower(),
        "state": _SITE_STATE.get(state.lower(), "unknown"),
        "capacity": None,
        "tags": {str(k): str(v) for k, v in (app.get("tags") or {}).items()},
        "raw": {
            "state": state,
            "kind": app.get("kind"),
            "availability_state": props.get("availabilityState"),
            "enabled": props.get("enabled"),
            "default_host_name": props.get("defaultHostName"),
            "runtime": (props.get("siteConfig") or {}).get("linuxFxVersion"),
            "resource_group": props.get("resourceGroup"),
            "slots": [_slot_name(s) for s in app.get("slots") or []],
        },
    }


def azure_function_app_health(app, signals):
    """A function app's health: its state, App Service's availability, whether it is enabled, the Functions
    host's status (and its errors) and Resource Health."""
    props = app.get("properties") or {}
    state = str(props.get("state") or "Unknown")
    checks = [_check("state", "healthy" if state == "Running" else "unhealthy", "app is %s" % state)]
    availability = str(props.get("availabilityState") or "Unknown")
    checks.append(_check("availability", _SITE_AVAILABILITY.get(availability, "unknown"),
                         "availability %s" % availability))
    if props.get("enabled") is False:
        checks.append(_check("enabled", "unhealthy", "the app is disabled"))
    host = (signals or {}).get("host_status")
    if host and state == "Running":
        host_state = str(host.get("state") or "Unknown")
        errors = "; ".join(str(e) for e in host.get("errors") or [])[:500]
        checks.append(_check("functions_host", _HOST_STATE.get(host_state, "unknown"), "Functions host %s%s"
                             % (host_state, ": " + errors if errors else "")))
    health = _availability_check((signals or {}).get("availability"))
    if health:
        checks.append(health)
    return health_report(app["id"], checks)


def azure_function_app_plan(app, action, params):
    """What an action on the app does: the site action to POST (verb, body), whether it changes anything, why it
    cannot run (problem), and the diff and summary to report."""
    state = str((app.get("properties") or {}).get("state") or "Unknown")
    plan = {"verb": action, "body": None, "problem": "", "changed": True}
    if action in ("start", "stop"):
        after = "Running" if action == "start" else "Stopped"
        plan.update(changed=state != after, diff={"before": {"state": state}, "after": {"state": after}},
                    summary="%s -> %s" % (state, after))
    elif action == "restart":
        if state != "Running":
            plan["problem"] = "restart needs a running app; %s is %s: start it instead" % (app.get("name"), state)
        plan.update(diff={"before": {"state": state}, "after": {"state": "Running"}},
                    summary="restart of the Functions host")
    elif action == "azure_swap_slot":
        slot = str((params or {}).get("slot"))
        slots = [_slot_name(s) for s in app.get("slots") or []]
        if slot not in slots:
            plan["problem"] = "%s has no slot %r (it has: %s)" % (app.get("name"), slot[:60], ", ".join(slots) or
                                                                    "none")
        plan.update(verb="slotsswap", body={"targetSlot": slot, "preserveVnet": True},
                    diff={"before": {"production": "production", slot: slot},
                          "after": {"production": slot, slot: "production"}},
                    summary="swap slot %s into production" % slot)
    else:
        plan.update(problem="unknown action %r" % str(action)[:60], diff={}, summary="")
    return plan


def azure_slot_results(results):
    """The results of a loop over an app's slots as {azure_slot: name, digests}."""
    return [{"azure_slot": _slot_name(r["azure_slot_doc"]), "digests": r.get("digests") or {}} for r in results or []]


def azure_settings_fingerprint(digests):
    """One digest of a whole set of app settings (name and value digests): what tells two deployments apart."""
    lines = "\n".join("%s=%s" % (k, digests[k]) for k in sorted(digests or {}))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def azure_function_app_snapshot(app, production, slots):
    """The state a function app snapshot keeps: running state, the production settings' digests (and the values
    the environment opted in), and each slot's settings fingerprint (which tells what a swap moved)."""
    return {
        "state": str((app.get("properties") or {}).get("state") or "Unknown"),
        "settings_digests": production.get("digests") or {},
        "settings_values": production.get("values") or {},
        "fingerprint": azure_settings_fingerprint(production.get("digests")),
        "slot_fingerprints": {r["azure_slot"]: azure_settings_fingerprint(r.get("digests")) for r in slots or []},
    }


def azure_function_app_rollback_plan(snapshot, app, production, slots):
    """What puts the app back: a swap back (when what served at the snapshot now sits in a slot), the opted-in
    values to write, the state to restore, and the settings that differ yet cannot be restored (digests only)."""
    state = snapshot.get("state") or {}
    now = azure_settings_fingerprint(production.get("digests"))
    swap_with = None
    if now != state.get("fingerprint"):
        for result in slots or []:
            if azure_settings_fingerprint(result.get("digests")) == state.get("fingerprint"):
                swap_with = result["azure_slot"]
                break
    current = str((app.get("properties") or {}).get("state") or "Unknown")
    return {"swap_with": swap_with, "values": state.get("settings_values") or {},
            "state": state.get("state"), "state_verb": None if state.get("state") == current else
            {"Running": "start", "Stopped": "stop"}.get(state.get("state"))}


def azure_function_app_unrestored(snapshot, production):
    """Names of settings whose digest differs from the snapshot's and whose value it did not keep."""
    state = snapshot.get("state") or {}
    kept, then, now = state.get("settings_values") or {}, state.get("settings_digests") or {}, \
        production.get("digests") or {}
    return sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k) and k not in kept)


def azure_identity_env(settings):
    """The role's task environment from the environment's settings (plugin_utils/azure_identity.py: the facade's
    mapping too), so that a run without the facade finds the managed identity as the facade's runs do."""
    return identity_env(dict(settings or {}))


class FilterModule(object):
    def filters(self):
        return {
            "azure_identity_env": azure_identity_env,
            "azure_id_parts": azure_id_parts,
            "azure_location": azure_location,
            "azure_groups_to_list": azure_groups_to_list,
            "azure_in_location": azure_in_location,
            "azure_vm_resource": azure_vm_resource,
            "azure_vm_health": azure_vm_health,
            "azure_activity_event": azure_activity_event,
            "azure_events": azure_events,
            "azure_snapshot_name": azure_snapshot_name,
            "azure_restored_disk_name": azure_restored_disk_name,
            "azure_snapshot_tags": azure_snapshot_tags,
            "azure_disk_handles": azure_disk_handles,
            "azure_vm_snapshot_mismatch": azure_vm_snapshot_mismatch,
            "azure_restore_plan": azure_restore_plan,
            "azure_disk_swap_body": azure_disk_swap_body,
            "azure_function_app_resource": azure_function_app_resource,
            "azure_function_app_health": azure_function_app_health,
            "azure_function_app_plan": azure_function_app_plan,
            "azure_function_app_snapshot": azure_function_app_snapshot,
            "azure_function_app_rollback_plan": azure_function_app_rollback_plan,
            "azure_function_app_unrestored": azure_function_app_unrestored,
            "azure_slot_results": azure_slot_results,
        }
