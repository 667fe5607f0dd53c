# -*- coding: utf-8 -*-
"""The service layer of this collection's Azure modules: ARM reads azure.azcollection has no module for (the
Activity Log, Resource Health, Azure Monitor metrics), through the collection's own authenticated REST client.

The modules stay thin (an argument spec and one call here). Authentication is azure.azcollection's: a module
subclasses AzureRMModuleBase, so ``auth_source: msi`` and every other source work as in the upstream modules.

Why not azure_rm_resource_info with a URL: it follows a paged answer by sending the whole nextLink back as a
``skiptoken`` query parameter of the first URL, which ARM ignores, so a second page never comes and the loop asks
for the first page again. Here a nextLink is followed as ARM writes it, only to the resource manager's own host
(the bearer token goes with it), and every read is bounded.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
from urllib.parse import urlparse

__all__ = [
    "ArmReader",
    "answer",
    "activity_log",
    "app_settings",
    "function_apps",
    "function_host_status",
    "put_app_settings",
    "settings_digest",
    "swap_slot",
    "availability_history",
    "availability_now",
    "metric_points",
    "name_problem",
    "resource_id_problem",
]

# An ARM resource id as this collection accepts it: no quote, space, query or fragment can reach a URL or an
# OData filter through it.
_RESOURCE_ID = re.compile(r"^(/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}/providers/[A-Za-z.]+"
                          r"(/[A-Za-z]+/[-\w.]{1,90})+)$", re.ASCII)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_METRIC = re.compile(r"^[A-Za-z][A-Za-z0-9 ._/-]{0,99}$")

ACTIVITY_LOG_API = "2015-04-01"
ACTIVITY_LOG_DAYS = 90
WEB_API = "2023-12-01"
RESOURCE_HEALTH_API = "2022-10-01"
METRICS_API = "2018-01-01"


def resource_id_problem(value):
    """Why ``value`` is not a resource id this collection reads ('' when it is one)."""
    if not isinstance(value, str) or not _RESOURCE_ID.fullmatch(value):
        return "not an ARM resource id: %r" % str(value)[:200]
    return ""


_NAME = re.compile(r"^[-\w.()]{1,90}$", re.ASCII)


def name_problem(value, what):
    """Why ``value`` is not a resource (group) name that may go into a path ('' when it is one, or is None)."""
    if value is not None and (not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", "..")):
        return "%s is not a resource name: %r" % (what, str(value)[:100])
    return ""


def _parse(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_time(value, name):
    """``value`` as UTC with a ``Z``: an offset's ``+`` in a query string reads as a space at ARM."""
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise ValueError("%s is not an ISO 8601 time: %r" % (name, str(value)[:80]))
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArmReader(object):
    """GETs against the resource manager through an AzureRMModuleBase's GenericRestClient."""

    def __init__(self, module_base):
        from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common_rest import GenericRestClient

        self.base_url = module_base._cloud_environment.endpoints.resource_manager.rstrip("/")
        self.subscription_id = module_base.subscription_id
        self._client = module_base.get_mgmt_svc_client(GenericRestClient, base_url=self.base_url)
        self._host = urlparse(self.base_url).netloc.lower()

    def get(self, path_or_url, params=None, missing_ok=False):
        """The JSON document at ``path_or_url`` (None for a 404 when ``missing_ok``); an ARM error raises with
        ARM's own code and message."""
        expected = [200, 404] if missing_ok else [200]
        response = self._client.query(path_or_url, "GET", dict(params or {}), {}, None, expected, 0, 0)
        if response.status_code == 404:
            return None
        text = response.text()
        return json.loads(text) if text else {}

    def send(self, method, path, params, body=None, expected=(200,)):
        """A write (or a POST that reads, such as listing app settings); ARM's JSON answer."""
        response = self._client.query(path, method, dict(params), {"Content-Type": "application/json"}, body,
                                      list(expected), 0, 0)
        text = response.text()
        return json.loads(text) if text else {}

    def send_and_wait(self, method, path, params, body, timeout):
        """A write that ARM may run as a long-running operation: its final answer (None when that is a 204)."""
        response = self._client.query(path, method, dict(params), {"Content-Type": "application/json"}, body,
                                      [200, 201, 202, 204], max(1, int(timeout)), 1)
        if response is None:
            return None
        text = response.text() if hasattr(response, "text") else ""
        return json.loads(text) if text else None

    def pages(self, path, params, limit):
        """The ``value`` items of a paged list, following nextLink on the resource manager's host, at most
        ``limit`` of them."""
        items = []
        document = self.get(path, params)
        while True:
            items.extend(document.get("value") or [])
            next_link = document.get("nextLink")
            if len(items) >= limit or not next_link:
                return items[:limit]
            parsed = urlparse(next_link)
            if parsed.scheme != "https" or parsed.netloc.lower() != self._host:
                raise ValueError("refusing to follow a nextLink to another host: %r" % parsed.netloc[:100])
            document = self.get(next_link)


def answer(module_base, job, *checked_ids):
    """What a module of ours returns: ``job(reader)``, after checking the ARM ids it names. A bad input fails the
    module as invalid_request; an ARM error with ARM's own code and message (never a request's body)."""
    for value in checked_ids:
        problem = resource_id_problem(value)
        if problem:
            module_base.fail("invalid_request: %s" % problem)
    try:
        return job(ArmReader(module_base))
    except ValueError as exc:
        module_base.fail("invalid_request: %s" % exc)
    except Exception as exc:  # the REST client's errors carry ARM's error document
        module_base.fail("Azure returned an error: %s" % exc)


def activity_log(reader, resource_id, start, end, limit):
    """Activity Log events of one resource between ``start`` and ``end`` (ISO 8601), newest first as ARM
    returns them."""
    problem = resource_id_problem(resource_id)
    if problem:
        raise ValueError(problem)
    start, end = _check_time(start, "start"), _check_time(end, "end")
    # The Activity Log keeps 90 days and refuses a wider window: nothing older exists to ask for.
    oldest = _parse(end) - datetime.timedelta(days=ACTIVITY_LOG_DAYS)
    if _parse(start) < oldest:
        start = oldest.strftime("%Y-%m-%dT%H:%M:%SZ")
    odata = "eventTimestamp ge '%s' and eventTimestamp le '%s' and resourceUri eq '%s'" % (start, end, resource_id)
    path = "/subscriptions/%s/providers/Microsoft.Insights/eventtypes/management/values" % reader.subscription_id
    return reader.pages(path, {"api-version": ACTIVITY_LOG_API, "$filter": odata}, limit)


def availability_now(reader, resource_id):
    """Resource Health's current availability status of the resource (None where Resource Health has none)."""
    problem = resource_id_problem(resource_id)
    if problem:
        raise ValueError(problem)
    path = "%s/providers/Microsoft.ResourceHealth/availabilityStatuses/current" % resource_id
    return reader.get(path, {"api-version": RESOURCE_HEALTH_API}, missing_ok=True)


def availability_history(reader, resource_id, limit):
    """Resource Health's availability statuses of the resource, the current one first (its health events)."""
    problem = resource_id_problem(resource_id)
    if problem:
        raise ValueError(problem)
    path = "%s/providers/Microsoft.ResourceHealth/availabilityStatuses" % resource_id
    return reader.pages(path, {"api-version": RESOURCE_HEALTH_API}, limit)


def metric_points(reader, resource_id, metric, start, end, interval="PT1M", aggregation="Average"):
    """One Azure Monitor platform metric of the resource over [start, end]: [{timeStamp, <aggregation>}], the
    points that have a value, oldest first."""
    problem = resource_id_problem(resource_id)
    if problem:
        raise ValueError(problem)
    if not isinstance(metric, str) or not _METRIC.fullmatch(metric):
        raise ValueError("not a metric name: %r" % str(metric)[:100])
    params = {
        "api-version": METRICS_API,
        "metricnames": metric,
        "timespan": "%s/%s" % (_check_time(start, "start"), _check_time(end, "end")),
        "interval": interval,
        "aggregation": aggregation,
    }
    document = reader.get("%s/providers/Microsoft.Insights/metrics" % resource_id, params)
    key = aggregation[0].lower() + aggregation[1:]
    points = []
    for series in (document.get("value") or [{}])[0].get("timeseries") or []:
        points.extend(p for p in series.get("data") or [] if p.get(key) is not None)
    return sorted(points, key=lambda p: p.get("timeStamp") or "")



def function_apps(reader, resource_group=None, name=None, slots=False, limit=1000):
    """The subscription's (or a resource group's) function apps: Microsoft.Web/sites whose kind says functionapp
    (web apps share the type), as ARM documents; with ``slots``, each with its deployment slots under ``slots``."""
    scope = "/subscriptions/%s" % reader.subscription_id
    if resource_group:
        scope += "/resourceGroups/%s" % resource_group
    params = {"api-version": WEB_API}
    if name:
        found = reader.get("%s/providers/Microsoft.Web/sites/%s" % (scope, name), params, missing_ok=True)
        sites = [found] if found else []
    else:
        sites = reader.pages("%s/providers/Microsoft.Web/sites" % scope, params, limit)
    apps = [s for s in sites if "functionapp" in str(s.get("kind") or "").lower()]
    if slots:
        for app in apps:
            app["slots"] = reader.pages("%s/slots" % app["id"], params, 100)
    return apps


def function_host_status(reader, site_id):
    """The Functions host's status (the host runtime's admin API through ARM); None where there is none."""
    return reader.get("%s/hostruntime/admin/host/status" % site_id, {"api-version": WEB_API}, missing_ok=True)


def app_settings(reader, site_id):
    """A site's (or slot's) app settings, name -> value. Their values often hold secrets: callers keep digests."""
    document = reader.send("POST", "%s/config/appsettings/list" % site_id, {"api-version": WEB_API})
    return dict(document.get("properties") or {})


def settings_digest(value):
    """The digest an app setting's value is kept as (sha256, hex)."""
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def put_app_settings(reader, site_id, settings):
    """Replace a site's app settings with ``settings`` (ARM's PUT takes the whole set)."""
    return reader.send("PUT", "%s/config/appsettings" % site_id, {"api-version": WEB_API},
                       {"properties": dict(settings)})


def swap_slot(reader, site_id, slot, timeout, check_mode):
    """Swap ``slot`` into production and wait for it; the site's slotSwapStatus afterwards (None in check mode)."""
    slots = [str(s.get("name") or "").rsplit("/", 1)[-1] for s in reader.pages("%s/slots" % site_id,
                                                                            {"api-version": WEB_API}, 100)]
    if slot not in slots:
        raise ValueError("%s has no slot %r (it has: %s)" % (site_id.rsplit("/", 1)[-1], slot, ", ".join(slots)
                                                              or "none"))
    if check_mode:
        return None
    reader.send_and_wait("POST", "%s/slotsswap" % site_id, {"api-version": WEB_API},
                         {"targetSlot": slot, "preserveVnet": True}, timeout)
    site = reader.get(site_id, {"api-version": WEB_API})
    return (site.get("properties") or {}).get("slotSwapStatus")
