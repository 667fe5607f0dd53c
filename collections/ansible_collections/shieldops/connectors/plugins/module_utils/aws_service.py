# -*- coding: utf-8 -*-
# The AWS service layer behind the shieldops.connectors aws_* modules: each function does one API job and
# returns plain, JSON-ready data; modules only parse arguments and call one of these.
from __future__ import annotations

import datetime

try:
    from botocore.exceptions import ClientError
except ImportError:  # handled by AnsibleAWSModule
    ClientError = Exception


class RequestIds(object):
    """The request id of every API call made through the clients it watches (botocore's after-call event), so a
    module can report them (``request_ids``) for the audit trail; upstream modules drop ResponseMetadata."""

    def __init__(self):
        self.ids = []

    def watch(self, client):
        client.meta.events.register("after-call", self._keep)
        return client

    def _keep(self, parsed=None, **kwargs):
        request_id = ((parsed or {}).get("ResponseMetadata") or {}).get("RequestId")
        if request_id:
            self.ids.append(request_id)


def _iso(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    return value


def _plain(data):
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k != "ResponseMetadata"}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return _iso(data)


def list_ecs_clusters(ecs, names=None):
    arns = names or []
    if not arns:
        for page in ecs.get_paginator("list_clusters").paginate():
            arns.extend(page.get("clusterArns", []))
    clusters = []
    for start in range(0, len(arns), 100):
        resp = ecs.describe_clusters(clusters=arns[start:start + 100], include=["TAGS", "STATISTICS"])
        clusters.extend(resp.get("clusters", []))
    return _plain(clusters)


def list_ecs_services(ecs, cluster):
    arns = []
    for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
        arns.extend(page.get("serviceArns", []))
    services = []
    for start in range(0, len(arns), 10):
        resp = ecs.describe_services(cluster=cluster, services=arns[start:start + 10], include=["TAGS"])
        services.extend(resp.get("services", []))
    return _plain(services)


def ec2_instance_status(ec2, instance_ids):
    statuses = []
    paginator = ec2.get_paginator("describe_instance_status")
    for page in paginator.paginate(InstanceIds=instance_ids, IncludeAllInstances=True):
        statuses.extend(page.get("InstanceStatuses", []))
    return _plain(statuses)


def metric_statistics(cloudwatch, namespace, metric, dimensions, start, end, period, statistics):
    resp = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=start,
        EndTime=end,
        Period=period,
        Statistics=statistics,
    )
    points = sorted(_plain(resp.get("Datapoints", [])), key=lambda p: p["Timestamp"])
    return points


def alarms_for(cloudwatch, dimension_name, dimension_value):
    alarms = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate():
        for alarm in page.get("MetricAlarms", []):
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            if dims.get(dimension_name) == dimension_value:
                alarms.append(alarm)
    return _plain(alarms)


def _unavailable(exc):
    """An optional API the endpoint does not offer (emulators, partitions): report it, do not fail."""
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NotImplemented", "InvalidAction", "UnknownOperationException") or status in (404, 500, 501)


def alarm_history(cloudwatch, alarm_names, start, end):
    """Returns (items, available)."""
    items = []
    try:
        for name in alarm_names:
            paginator = cloudwatch.get_paginator("describe_alarm_history")
            for page in paginator.paginate(AlarmName=name, StartDate=start, EndDate=end):
                items.extend(page.get("AlarmHistoryItems", []))
    except ClientError as exc:
        if _unavailable(exc):
            return [], False
        raise
    return _plain(items), True


def cloudtrail_events(cloudtrail, resource_name, start, end, max_events):
    """Returns (events, available): endpoints without LookupEvents report available=False, not an error."""
    events = []
    try:
        paginator = cloudtrail.get_paginator("lookup_events")
        pages = paginator.paginate(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": resource_name}],
            StartTime=start,
            EndTime=end,
            PaginationConfig={"MaxItems": max_events},
        )
        for page in pages:
            events.extend(page.get("Events", []))
    except ClientError as exc:
        if _unavailable(exc):
            return [], False
        raise
    for event in events:
        event.pop("CloudTrailEvent", None)
    return _plain(events), True


def publish_lambda_version(lam, name, description, check_mode):
    config = lam.get_function_configuration(FunctionName=name)
    if check_mode:
        return {"Version": None, "CodeSha256": config.get("CodeSha256")}, True
    version = lam.publish_version(FunctionName=name, Description=description or "", CodeSha256=config["CodeSha256"])
    return _plain(version), True
