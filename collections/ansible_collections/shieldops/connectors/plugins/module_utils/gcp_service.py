# -*- coding: utf-8 -*-
# The GCP service layer behind the shieldops.connectors gcp_* modules: REST calls with the run's access token
# (minted on the controller by Workload Identity Federation; these modules never mint one), long-running
# operations polled to the end, Google's JSON errors kept whole. Each function does one API job and returns plain
# data; modules only parse arguments and call one of these.
from __future__ import annotations

import time

try:
    import requests

    HAS_REQUESTS = True
except ImportError:  # reported by the module
    HAS_REQUESTS = False

from ansible.module_utils.basic import AnsibleModule, env_fallback

COMPUTE = "https://compute.googleapis.com/compute/v1"
LOGGING = "https://logging.googleapis.com/v2"
MONITORING = "https://monitoring.googleapis.com/v3"
_USER_AGENT = "shieldops-ansible"
_TIMEOUT_S = 30


def argument_spec(**own):
    """The options every gcp_* module of ours takes, with the environment fallbacks google.cloud's use."""
    spec = dict(
        project=dict(type="str", required=True, fallback=(env_fallback, ["GCP_PROJECT"])),
        access_token=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        quota_project=dict(type="str", fallback=(env_fallback, ["GOOGLE_CLOUD_QUOTA_PROJECT"])),
    )
    spec.update(own)
    return spec


def instance_options(**own):
    """The options of a module that acts on one instance (doc fragment shieldops.connectors.gcp.instance)."""
    return dict(zone=dict(type="str", required=True), name=dict(type="str", required=True),
                timeout=dict(type="int", default=300), **own)


def run_module(job, **own):
    """A module's whole main(): parse the options (ours plus ``own``), call ``job(api, params, check_mode)`` for
    its result dict, and report the operations it started; an API error fails the module with Google's error."""
    module = AnsibleModule(argument_spec=argument_spec(**own), supports_check_mode=True)
    if not HAS_REQUESTS:
        module.fail_json(msg="the requests library is required")
    api = GcpApi(module.params)
    try:
        result = job(api, module.params, module.check_mode)
    except GcpApiError as e:
        module.fail_json(msg=e.message, status=e.status, error=e.document.get("error"), request_ids=api.request_ids)
    result.setdefault("changed", False)
    module.exit_json(request_ids=api.request_ids, **result)


class GcpApiError(Exception):
    """An API call answered with an error: its HTTP status and Google's error document."""

    def __init__(self, status, document, method, url):
        self.status = status
        self.document = document if isinstance(document, dict) else {}
        error = self.document.get("error") if isinstance(self.document.get("error"), dict) else {}
        reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason")]
        self.message = "GCP returned %s %s for %s %s: %s%s" % (
            status,
            error.get("status") or "",
            method,
            url.split("?", 1)[0],
            error.get("message") or "no error message",
            " (%s)" % ", ".join(reasons) if reasons else "",
        )
        super(GcpApiError, self).__init__(self.message)


class GcpApi(object):
    """One module run's session: one TLS connection reused for every call."""

    def __init__(self, params):
        self.project = params["project"]
        self.session = requests.Session()
        self.session.headers.update({"Authorization": "Bearer %s" % params["access_token"], "User-Agent": _USER_AGENT})
        if params.get("quota_project"):
            self.session.headers["x-goog-user-project"] = params["quota_project"]
        # The ids of the operations this run started, for the audit trail.
        self.request_ids = []

    def call(self, method, url, params=None, body=None):
        try:
            response = self.session.request(method, url, params=params, json=body, timeout=_TIMEOUT_S)
        except requests.exceptions.RequestException as exc:
            raise GcpApiError(0, {"error": {"status": "UNAVAILABLE", "message": "%s" % type(exc).__name__}},
                              method, url)
        try:
            document = response.json() if response.content else {}
        except ValueError:
            document = {}
        if response.status_code >= 400:
            raise GcpApiError(response.status_code, document, method, url)
        return document

    def pages(self, url, items_key, params=None, method="GET", body=None):
        """Every page of a list call (Compute's maxResults/pageToken, Logging's pageSize/pageToken)."""
        params = dict(params or {})
        body = dict(body) if body is not None else None
        while True:
            page = self.call(method, url, params=params, body=body)
            yield page.get(items_key)
            token = page.get("nextPageToken")
            if not token:
                return
            if body is not None:
                body["pageToken"] = token
            else:
                params["pageToken"] = token

    def wait_zone_operation(self, operation, timeout_s):
        """Poll a zonal operation to DONE (Compute's operations.wait, which answers when done or after about
        two minutes); fail with the operation's own errors."""
        self.request_ids.append(operation.get("name"))
        deadline = time.time() + timeout_s
        url = "%s/projects/%s/zones/%s/operations/%s/wait" % (
            COMPUTE, self.project, operation["zone"].rsplit("/", 1)[-1], operation["name"])
        while operation.get("status") != "DONE":
            if time.time() > deadline:
                raise GcpApiError(0, {"error": {"status": "DEADLINE_EXCEEDED", "message": "operation %s not done after %d s"
                                                % (operation["name"], timeout_s)}}, "POST", url)
            operation = self.call("POST", url)
        errors = (operation.get("error") or {}).get("errors") or []
        if errors:
            first = errors[0]
            raise GcpApiError(400, {"error": {"status": first.get("code"), "message": first.get("message"),
                                              "errors": [{"reason": first.get("code")}]}}, "POST", url)
        return operation


def poll_operation(api, operation, url, done, timeout_s):
    """Poll a long-running operation (Cloud Run's, GKE's) at ``url`` until ``done(operation)``: at once, then
    backing off from 0.2 to 5 s; fail with the operation's own error."""
    api.request_ids.append(operation.get("name"))
    deadline, delay = time.time() + timeout_s, 0.0
    while not done(operation):
        time.sleep(delay)
        delay = min(max(delay * 2, 0.2), 5.0)
        if time.time() > deadline:
            raise GcpApiError(0, {"error": {"status": "DEADLINE_EXCEEDED", "message": "operation %s not done after %d s"
                                            % (operation.get("name"), timeout_s)}}, "GET", url)
        operation = api.call("GET", url)
    if operation.get("error"):
        raise GcpApiError(400, {"error": operation["error"]}, "GET", url)
    return operation


def instance_url(project, zone, name):
    return "%s/projects/%s/zones/%s/instances/%s" % (COMPUTE, project, zone, name)


def get_instance(api, zone, name):
    return api.call("GET", instance_url(api.project, zone, name))


def aggregated_instances(api, zones=None):
    """Every instance of the project in one aggregated listing (one call per page, not one per zone), each with
    its zone's short name; only ``zones`` when given."""
    wanted = set(zones or ())
    found = []
    for items in api.pages("%s/projects/%s/aggregated/instances" % (COMPUTE, api.project), "items",
                           params={"maxResults": 500}):
        for scope, scoped in sorted((items or {}).items()):
            zone = scope.rsplit("/", 1)[-1]
            if wanted and zone not in wanted:
                continue
            for instance in scoped.get("instances") or []:
                found.append(dict(instance, zone=zone))
    return found


# What each power action does to an instance: the status it leaves, and the statuses in which it changes nothing.
POWER = {
    "start": {"verb": "start", "result": "RUNNING", "noop": ("RUNNING", "STAGING", "PROVISIONING")},
    "stop": {"verb": "stop", "result": "TERMINATED", "noop": ("TERMINATED", "STOPPED", "STOPPING")},
    "reset": {"verb": "reset", "result": "RUNNING", "noop": ()},
}


def change_power(api, zone, name, action, check_mode, timeout_s):
    """start/stop/reset through the instance's own methods: nothing else of the instance is sent or touched
    (google.cloud's gcp_compute_instance also sends setLabels/setMachineType with nulls)."""
    rule = POWER[action]
    before = get_instance(api, zone, name)
    if action == "reset" and before["status"] != "RUNNING":
        # Compute refuses a reset of an instance that is not running: say so before, in a dry run too.
        raise GcpApiError(400, {"error": {"status": "FAILED_PRECONDITION", "message": "restart (reset) needs a "
                                          "RUNNING instance; %s is %s: start it instead" % (name, before["status"]),
                                          "errors": [{"reason": "resourceNotReady"}]}},
                          "POST", instance_url(api.project, zone, name) + "/reset")
    changes = before["status"] not in rule["noop"]
    if check_mode or not changes:
        return {"changed": changes, "before": before["status"], "after": rule["result"] if changes else before["status"]}
    operation = api.call("POST", instance_url(api.project, zone, name) + "/" + rule["verb"])
    api.wait_zone_operation(operation, timeout_s)
    after = get_instance(api, zone, name)
    return {"changed": True, "before": before["status"], "after": after["status"], "operation": operation["name"]}


def log_entries(api, resource_name, start, end, logs, limit):
    """Cloud Logging entries about one resource between two RFC 3339 times, oldest first. ``resource_name`` is
    checked by the caller against the id grammar; it is quoted here as the query language wants."""
    query = ('logName:"cloudaudit.googleapis.com" AND protoPayload.resourceName="%s" AND timestamp>="%s" AND '
             'timestamp<="%s"' % (_quoted(resource_name), _quoted(start), _quoted(end)))
    body = {"resourceNames": ["projects/%s" % api.project], "filter": query, "orderBy": "timestamp asc",
            "pageSize": min(limit, 1000)}
    entries = []
    for page in api.pages(LOGGING + "/entries:list", "entries", method="POST", body=body):
        entries.extend(e for e in page or [] if _log_kind(e) in logs)
        if len(entries) >= limit:
            break
    return entries[:limit]


def _log_kind(entry):
    return str(entry.get("logName", "")).rsplit("%2F", 1)[-1]


def _quoted(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def instance_cpu(api, instance_id, minutes):
    """The instance's CPU utilisation points (fractions 0..1, newest first) of the last ``minutes``."""
    end = time.time()
    params = {
        "filter": 'metric.type="compute.googleapis.com/instance/cpu/utilization" AND resource.labels.instance_id="%s"'
                  % _quoted(instance_id),
        "interval.startTime": _rfc3339(end - minutes * 60),
        "interval.endTime": _rfc3339(end),
    }
    points = []
    for series in api.pages("%s/projects/%s/timeSeries" % (MONITORING, api.project), "timeSeries", params=params):
        for one in series or []:
            points.extend({"at": p["interval"]["endTime"], "value": p["value"].get("doubleValue")}
                          for p in one.get("points") or [])
    return sorted(points, key=lambda p: p["at"], reverse=True)


def _rfc3339(moment):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def swap_disks(api, zone, name, swaps, check_mode, timeout_s):
    """Put each new disk in the place of the disk now on its device (boot disk included): detach the current one
    (kept, not deleted), attach the new one with the same device name, boot flag, mode and auto-delete. The
    instance must be stopped for its boot disk; Compute refuses otherwise, and that error is returned."""
    instance = get_instance(api, zone, name)
    current = dict((d.get("deviceName"), d) for d in instance.get("disks") or [])
    done = []
    for swap in swaps:
        link = "%s/projects/%s/zones/%s/disks/%s" % (COMPUTE, api.project, zone, swap["disk"])
        on_device = current.get(swap["device_name"])
        if on_device is not None and on_device.get("source", "").endswith("/disks/%s" % swap["disk"]):
            continue  # already there (a rollback run again after a failure)
        done.append({"device_name": swap["device_name"], "detached": on_device.get("source") if on_device else None,
                     "attached": swap["disk"]})
        if check_mode:
            continue
        if on_device is not None:
            operation = api.call("POST", instance_url(api.project, zone, name) + "/detachDisk",
                                 params={"deviceName": swap["device_name"]})
            api.wait_zone_operation(operation, timeout_s)
        operation = api.call("POST", instance_url(api.project, zone, name) + "/attachDisk", body={
            "source": link,
            "deviceName": swap["device_name"],
            "boot": bool(swap.get("boot")),
            "autoDelete": bool(swap.get("auto_delete")),
            "mode": swap.get("mode") or "READ_WRITE",
        })
        api.wait_zone_operation(operation, timeout_s)
    return {"changed": bool(done), "swapped": done}


RUN = "https://run.googleapis.com"


def run_regions(api, regions):
    """The regions to list Cloud Run services in: the configured ones, else every location Cloud Run offers (v2
    lists one location per call and takes no wildcard)."""
    if regions:
        return list(regions)
    found = []
    for page in api.pages("%s/v1/projects/%s/locations" % (RUN, api.project), "locations"):
        found.extend(loc["locationId"] for loc in page or [])
    return found


def run_services(api, regions):
    services = []
    for region in run_regions(api, regions):
        url = "%s/v2/projects/%s/locations/%s/services" % (RUN, api.project, region)
        for page in api.pages(url, "services", params={"pageSize": 100}):
            services.extend(page or [])
    return services


def run_service(api, region, name, with_revisions=False):
    """One service; with its latest created and latest ready revisions (health says which one fails)."""
    service = api.call("GET", "%s/v2/projects/%s/locations/%s/services/%s" % (RUN, api.project, region, name))
    if with_revisions:
        service["_revisions"] = {}
        for key in ("latestCreatedRevision", "latestReadyRevision"):
            if service.get(key) and service[key] not in service["_revisions"]:
                service["_revisions"][service[key]] = api.call("GET", "%s/v2/%s" % (RUN, service[key]))
    return service


def _run_summary(service):
    return {
        "min_instances": int((service.get("scaling") or {}).get("minInstanceCount") or 0),
        "traffic": [dict((k, t.get(k)) for k in ("type", "revision", "percent") if t.get(k) is not None)
                    for t in service.get("trafficStatuses") or []],
        "latest_created": str(service.get("latestCreatedRevision", "")).rsplit("/", 1)[-1],
        "latest_ready": str(service.get("latestReadyRevision", "")).rsplit("/", 1)[-1],
    }


def update_run_service(api, region, name, change, check_mode, timeout_s, stamp):
    """Change a service (services.patch, then its long-running operation polled to done); ``change`` is one of
    {"min_instances": N}, {"redeploy": True} (the same template with a new annotation: a new revision) or
    {"traffic": [targets]}. In check mode, Cloud Run
    validates the request (validateOnly) and nothing changes. Keys combine: a rollback sets traffic and
    min_instances in one patch."""
    url = "%s/v2/projects/%s/locations/%s/services/%s" % (RUN, api.project, region, name)
    before = api.call("GET", url)
    body, mask = {}, []
    if "min_instances" in change:
        body["scaling"] = dict(before.get("scaling") or {}, minInstanceCount=int(change["min_instances"]))
        mask.append("scaling.minInstanceCount")
    if change.get("redeploy"):
        template = dict(before.get("template") or {})
        template["annotations"] = dict(template.get("annotations") or {}, **{"shieldops/redeployed-at": stamp})
        body["template"] = template
        mask.append("template")
    targets = change.get("traffic")
    if targets is not None:
        body["traffic"] = targets
        mask.append("traffic")
    summary = _run_summary(before)
    would_change = change.get("redeploy") or (
        "scaling" in body and body["scaling"]["minInstanceCount"] != summary["min_instances"]) or (
        targets is not None and _resolved(targets, summary) != summary["traffic"])
    params = {"updateMask": ",".join(mask)}
    if check_mode or not would_change:
        if check_mode:
            api.call("PATCH", url, params=dict(params, validateOnly="true"), body=body)
        after = dict(summary)
        if "scaling" in body:
            after["min_instances"] = body["scaling"]["minInstanceCount"]
        if targets is not None:
            after["traffic"] = _resolved(targets, summary)
        if change.get("redeploy"):
            after["latest_created"] = "(a new revision)"
        return {"changed": bool(would_change), "before": summary, "after": after}
    operation = api.call("PATCH", url, params=params, body=body)
    poll_operation(api, operation, "%s/v2/%s" % (RUN, operation["name"]), lambda op: op.get("done"), timeout_s)
    after = api.call("GET", url)
    return {"changed": True, "before": summary, "after": _run_summary(after)}


def _resolved(targets, summary):
    """Traffic targets as Cloud Run will resolve them (LATEST is the latest ready revision)."""
    return [dict((k, v) for k, v in (("type", t.get("type")),
                                      ("revision", t.get("revision") or summary["latest_ready"]),
                                      ("percent", t.get("percent"))) if v is not None)
            for t in targets]


CONTAINER = "https://container.googleapis.com/v1"


def node_pool_sizes(api, pools):
    """Each pool's size as Compute sees it: the target size of its instance group managers (one per zone), and
    whether they are stable. GKE keeps no current node count on the pool itself."""
    sizes = {}
    for pool in pools:
        per_zone, stable = {}, True
        for link in pool.get("instanceGroupUrls") or []:
            group = api.call("GET", link.replace("/instanceGroups/", "/instanceGroupManagers/"))
            zone = link.split("/zones/", 1)[1].split("/", 1)[0]
            per_zone[zone] = per_zone.get(zone, 0) + int(group.get("targetSize") or 0)
            stable = stable and bool((group.get("status") or {}).get("isStable", True))
        sizes[pool["name"]] = {"nodes": sum(per_zone.values()), "per_zone": per_zone, "stable": stable}
    return sizes


def _wait_container_operation(api, location, operation, timeout_s):
    url = "%s/projects/%s/locations/%s/operations/%s" % (CONTAINER, api.project, location, operation["name"])
    poll_operation(api, operation, url, lambda op: op.get("status") == "DONE", timeout_s)


def resize_node_pool(api, location, cluster, pool_name, nodes, autoscaling, check_mode, timeout_s):
    """Set a pool's total node count (setSize takes a count per zone: the total must divide among its zones) and,
    when given, its autoscaling settings; each through its operation, polled to done."""
    url = "%s/projects/%s/locations/%s/clusters/%s/nodePools/%s" % (CONTAINER, api.project, location, cluster,
                                                                     pool_name)
    pool = api.call("GET", url)
    size = node_pool_sizes(api, [pool])[pool_name]
    zones = max(len(size["per_zone"]), 1)
    before = {"nodes": size["nodes"], "autoscaling": pool.get("autoscaling") or {}}
    after = dict(before)
    if nodes is not None:
        if nodes % zones:
            raise GcpApiError(400, {"error": {"status": "INVALID_ARGUMENT", "message": "the pool spans %d zones: a node "
                                              "count of %d does not divide among them" % (zones, nodes),
                                              "errors": [{"reason": "invalid"}]}}, "POST", url + ":setSize")
        after["nodes"] = nodes
    if autoscaling is not None:
        after["autoscaling"] = autoscaling
    changed = after != before
    if check_mode or not changed:
        return {"changed": changed, "before": before, "after": after}
    if after["autoscaling"] != before["autoscaling"]:
        operation = api.call("POST", url + ":setAutoscaling", body={"autoscaling": after["autoscaling"]})
        _wait_container_operation(api, location, operation, timeout_s)
    if after["nodes"] != before["nodes"]:
        operation = api.call("POST", url + ":setSize", body={"nodeCount": after["nodes"] // zones})
        _wait_container_operation(api, location, operation, timeout_s)
    pool = api.call("GET", url)
    now = node_pool_sizes(api, [pool])[pool_name]
    return {"changed": True, "before": before, "after": {"nodes": now["nodes"], "autoscaling": pool.get("autoscaling") or {}}}
