# -*- coding: utf-8 -*-
"""Provider-neutral filters: request checks against a role's capabilities, filtering, error classification."""
from __future__ import annotations

import datetime
import fnmatch
import os
import re

import yaml
from ansible.errors import AnsibleFilterError
from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
from ansible_collections.shieldops.connectors.plugins.plugin_utils.vocabulary import health_rank

DOCUMENTATION = ""

_COMMON_TYPES = ("instance", "service", "function", "cluster")

# The kinds, in the order they are tried: the first whose pattern is found in a failure message decides. These
# are the patterns of every provider (our own tasks' markers, Ansible's argument checks, HTTP and socket words);
# each provider adds its own under ``errors.kinds`` in its vocabulary.
_KINDS = ("policy_denied", "snapshot_not_found", "not_supported", "invalid_request", "not_found",
          "permission_denied", "authentication", "backend_unavailable")
_COMMON_PATTERNS = {
    "policy_denied": r"^policy_denied:",
    "snapshot_not_found": r"^snapshot_not_found:",
    "not_supported": r"^not_supported:",
    "invalid_request": r"^invalid_request:|Validating arguments against arg spec|Unsupported parameters|"
                       r"is not a valid|value of .* must be one of",
    "not_found": r"^not_found:|does not exist",
    "permission_denied": r"Forbidden|\b403\b",
    "authentication": r"(?!)",
    "backend_unavailable": r"^unreachable:|Connection refused|timed out|ServiceUnavailable|TooManyRequests|"
                           r"Too many requests|\b429\b",
}
_MAX_MESSAGE = 1000
# The kinds our own tasks and filters state at the start of their message. ansible-core 2.19 wraps a failing
# filter's message ("Task failed: The filter plugin '...' failed: not_found: ..."): the marker counts there too.
_OWN_MARKER = re.compile(r"(?:^|: )(%s|unreachable): " % "|".join(_KINDS[:5]), re.MULTILINE)


def classify_error(result, rules=None):
    """Turn a failed task result into {kind, message}; the facade maps kind to an exception class.

    ``rules``: the provider role (full name or path) whose vocabulary's ``errors`` section says how its failures
    read, or that section itself: ``kinds`` (kind -> patterns), ``causes`` (patterns whose first match in the
    module's traceback is added to a message that lacks it) and ``documents`` (an error document quoted in a
    message: ``pattern`` from where it starts to the end, replaced by ``keep``, a match template).
    """
    rules = _error_rules(rules)
    result = result or {}
    # A failed loop says only "One or more items failed": the first failed item has the reason.
    failed_items = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if failed_items:
        result = failed_items[0]
    message = str(result.get("msg") or result.get("message") or "")
    # An API's error code beside msg ({"error": {"code", "message"}}), which some modules leave out of msg.
    api_error = result.get("error")
    if isinstance(api_error, dict) and api_error.get("code") and str(api_error["code"]) not in message:
        message = "%s (%s: %s)" % (message, api_error["code"], api_error.get("message", ""))
    for pattern in rules.get("causes") or ():
        cause = re.search(pattern, str(result.get("exception") or ""))
        if cause:
            if cause.group(1 if cause.groups() else 0) not in message:
                message = "%s (%s)" % (message, cause.group(0).strip())
            break
    # A command-like module that fails with an empty msg said why on stderr or stdout.
    for extra in ("stderr", "stdout", "module_stderr", "exception"):
        if not message.strip() and str(result.get(extra) or "").strip():
            lines = str(result[extra]).strip().splitlines()
            message = lines[-1] if extra in ("module_stderr", "exception") else "; ".join(lines[-5:])
    own = _OWN_MARKER.search(message)
    if own:
        message = message[own.start(1):]
    kinds = rules.get("kinds") or {}
    kind = "failed"
    for candidate in _KINDS:
        patterns = [_COMMON_PATTERNS[candidate], *(kinds.get(candidate) or ())]
        if any(re.search(p, message, re.MULTILINE) for p in patterns):
            kind = candidate
            break
    for document in rules.get("documents") or ():
        found = re.search(document["pattern"], message, re.S)
        if found:
            kept = found.expand(document["keep"])
            while '\\"' in kept:
                kept = kept.replace('\\"', '"')
            message = (message[: found.start()].rstrip(" b'") + " " + kept.replace("\\", "")).strip()
    message = re.sub(r"^(%s):\s*" % "|".join(_KINDS), "", message)
    return {"kind": kind, "message": message[:_MAX_MESSAGE]}


def _error_rules(rules):
    if isinstance(rules, dict):
        return rules
    if rules:
        # A failure to read the vocabulary must not hide the failure being classified.
        try:
            return role_vocabulary(rules).get("errors") or {}
        except Exception:
            return {}
    return {}


# Role folder -> its vocabulary. Our own role files, read once per process (the warm server reads them before it
# forks, so a request's child finds them here).
_VOCABULARIES = {}


def role_vocabulary(role):
    """The ``shieldops_capabilities`` a provider role declares in vars/main.yml; ``role`` is a full name or path."""
    if os.path.isabs(role):
        path = role
    else:
        found = _get_collection_role_path(role)
        if not found:
            raise AnsibleFilterError("invalid_request: no provider role %r" % str(role)[:120])
        path = found[1]
    if path not in _VOCABULARIES:
        with open(os.path.join(path, "vars", "main.yml"), "rb") as handle:
            doc = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        _VOCABULARIES[path] = doc["shieldops_capabilities"]
    return _VOCABULARIES[path]


def resolve_target(resource_id, role, action=None, check_mode=False):
    """What the operation role dispatches on: the resource's native type (its task file is
    ``<folder>/<native_type>.yml`` in the provider role) and, for an action, the checked action."""
    capabilities = role_vocabulary(role)
    target = {"resource_id": resource_id, "native_type": native_type(resource_id, capabilities)}
    if action is not None:
        target.update(
            action=action["type"],
            action_spec=check_action(action["type"], target["native_type"], capabilities),
            parameters=action.get("parameters") or {},
            dry_run=bool(check_mode) or _truthy(action.get("dry_run", False)),
        )
    return target


def resolve_listing(resource_type, role):
    """The native types a listing covers (each is ``list/<native_type>.yml`` in the provider role) and the
    filter keys the provider accepts."""
    capabilities = role_vocabulary(role)
    return {"types": native_types_for(resource_type, capabilities), "filters": capabilities["filters"]}


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def native_type(resource_id, capabilities):
    """The native type whose id grammar matches resource_id; fails with invalid_request otherwise."""
    if not isinstance(resource_id, str) or len(resource_id) > 512:
        raise AnsibleFilterError("invalid_request: resource_id must be a string of at most 512 characters")
    for name, spec in capabilities["native_types"].items():
        if re.fullmatch(spec["id_pattern"], resource_id):
            return name
    raise AnsibleFilterError("invalid_request: %r is not a resource id of this provider" % resource_id[:80])


def native_types_for(resource_type, capabilities):
    types = capabilities["native_types"]
    if resource_type in types:
        return [resource_type]
    if resource_type in _COMMON_TYPES:
        return [name for name, spec in types.items() if spec.get("common") == resource_type]
    raise AnsibleFilterError("invalid_request: unknown resource type %r" % str(resource_type)[:64])


def check_action(action, native, capabilities):
    """Fails with not_supported unless the native type offers the action."""
    actions = capabilities["native_types"][native].get("actions") or {}
    if action not in actions:
        raise AnsibleFilterError(
            "not_supported: %s does not support %r; it supports: %s"
            % (native, str(action)[:64], ", ".join(sorted(actions)) or "none")
        )
    return actions[action] or {}


def match_filters(resources, filters, allowed):
    """Apply the common filters: name (glob), tags (all must match), state; plus provider keys already applied."""
    filters = filters or {}
    unknown = sorted(set(filters) - set(allowed))
    if unknown:
        raise AnsibleFilterError("invalid_request: unknown filter key(s): %s" % ", ".join(repr(k) for k in unknown))
    out = []
    for res in resources:
        if "name" in filters and not fnmatch.fnmatchcase(res.get("name") or "", str(filters["name"])):
            continue
        if "state" in filters and res.get("state") != filters["state"]:
            continue
        tags = filters.get("tags") or {}
        if not isinstance(tags, dict):
            raise AnsibleFilterError("invalid_request: filters.tags must be a mapping")
        if any((res.get("tags") or {}).get(k) != str(v) for k, v in tags.items()):
            continue
        out.append(res)
    return out


def worst_status(checks):
    """The worst of the checks' statuses (plugin_utils/vocabulary.py ranks them); no checks is unknown."""
    if not checks:
        return "unknown"
    return max((c["status"] for c in checks), key=health_rank)


def health_check(name, status, message):
    """One entry of a HealthStatus's checks."""
    return {"name": name, "status": status, "message": message}


def health_report(resource_id, checks, metrics=None):
    """A HealthStatus: its status is the worst of its checks, observed now."""
    return {
        "resource_id": resource_id,
        "status": worst_status(checks),
        "checks": checks,
        "metrics": metrics or {},
        "observed_at": utc_now(),
    }


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def threshold_status(value, thresholds):
    """healthy / degraded / unhealthy for a value against {degraded: x, unhealthy: y}."""
    if value is None:
        return "unknown"
    if value >= thresholds["unhealthy"]:
        return "unhealthy"
    if value >= thresholds["degraded"]:
        return "degraded"
    return "healthy"


def iso_timestamp(ts):
    """An aware ISO 8601 string from a datetime or the timestamp texts AWS and hosts write (naive means UTC)."""
    if isinstance(ts, datetime.datetime):
        value = ts
    else:
        text = str(ts).strip().replace(" GMT", "+00:00").replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.isoformat()


def epoch_seconds(ts):
    """Whole seconds since the epoch, for tools that take @EPOCH (journalctl)."""
    return int(datetime.datetime.fromisoformat(iso_timestamp(ts)).timestamp())


def events_in_range(events, start, end):
    lo, hi = iso_timestamp(start), iso_timestamp(end)
    lo_dt, hi_dt = datetime.datetime.fromisoformat(lo), datetime.datetime.fromisoformat(hi)
    kept = [e for e in events if lo_dt <= datetime.datetime.fromisoformat(e["timestamp"]) <= hi_dt]
    return sorted(kept, key=lambda e: e["timestamp"])


class FilterModule(object):
    def filters(self):
        return {
            "classify_error": classify_error,
            "native_type": native_type,
            "resolve_target": resolve_target,
            "resolve_listing": resolve_listing,
            "native_types_for": native_types_for,
            "check_action": check_action,
            "match_filters": match_filters,
            "worst_status": worst_status,
            "threshold_status": threshold_status,
            "events_in_range": events_in_range,
            "epoch_seconds": epoch_seconds,
        }
