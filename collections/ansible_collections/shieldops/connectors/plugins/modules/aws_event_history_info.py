#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: aws_event_history_info
short_description: CloudWatch alarm history and CloudTrail events of one resource in a time range
description:
  - No upstream module reads alarm history or CloudTrail LookupEvents. Endpoints that lack LookupEvents report
    C(cloudtrail_available=false) instead of failing.
options:
  dimension_name:
    description: Alarm dimension that identifies the resource, for example C(InstanceId).
    type: str
    required: true
  dimension_value:
    description: Its value.
    type: str
    required: true
  resource_name:
    description: The CloudTrail ResourceName to look up.
    type: str
    required: true
  start_time:
    description: ISO 8601 start.
    type: str
    required: true
  end_time:
    description: ISO 8601 end.
    type: str
    required: true
  max_events:
    description: The most CloudTrail events to return.
    type: int
    default: 200
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Events of one instance in the last hour
  shieldops.connectors.aws_event_history_info:
    dimension_name: InstanceId
    dimension_value: i-0123456789abcdef0
    resource_name: i-0123456789abcdef0
    start_time: "2026-01-01T00:00:00+00:00"
    end_time: "2026-01-01T01:00:00+00:00"
"""

RETURN = r"""
request_ids:
  description: The request id of each API call the module made (for the audit trail).
  returned: always
  type: list
  elements: str
alarms:
  description: Alarms on the resource.
  returned: always
  type: list
  elements: dict
alarm_history:
  description: AlarmHistoryItems of those alarms in the range.
  returned: always
  type: list
  elements: dict
cloudtrail_events:
  description: CloudTrail events naming the resource.
  returned: always
  type: list
  elements: dict
cloudtrail_available:
  description: Whether the endpoint answered LookupEvents.
  returned: always
  type: bool
alarm_history_available:
  description: Whether the endpoint answered DescribeAlarmHistory.
  returned: always
  type: bool
"""

import datetime

try:
    from botocore.config import Config
except ImportError:
    Config = None

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.shieldops.connectors.plugins.module_utils import aws_service

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            dimension_name=dict(type="str", required=True),
            dimension_value=dict(type="str", required=True),
            resource_name=dict(type="str", required=True),
            start_time=dict(type="str", required=True),
            end_time=dict(type="str", required=True),
            max_events=dict(type="int", default=200),
        ),
        supports_check_mode=True,
    )
    ids = aws_service.RequestIds()
    p = module.params
    try:
        start = datetime.datetime.fromisoformat(p["start_time"])
        end = datetime.datetime.fromisoformat(p["end_time"])
    except ValueError:
        module.fail_json(msg="invalid_request: start_time and end_time must be ISO 8601")
    # Optional APIs are asked once: an endpoint without them should not cost retries.
    once = Config(retries={"max_attempts": 1, "mode": "standard"})
    cloudwatch = ids.watch(module.client("cloudwatch"))
    try:
        alarms = aws_service.alarms_for(cloudwatch, p["dimension_name"], p["dimension_value"])
        history, history_available = aws_service.alarm_history(
            ids.watch(module.client("cloudwatch", config=once)), [a["AlarmName"] for a in alarms], start, end
        )
        trail, available = aws_service.cloudtrail_events(
            ids.watch(module.client("cloudtrail", config=once)), p["resource_name"], start, end, p["max_events"]
        )
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read alarm history or CloudTrail", request_ids=ids.ids)
    module.exit_json(
        changed=False,
        request_ids=ids.ids,
        alarms=alarms,
        alarm_history=history,
        alarm_history_available=history_available,
        cloudtrail_events=trail,
        cloudtrail_available=available,
    )


if __name__ == "__main__":
    main()
