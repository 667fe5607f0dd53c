#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: aws_cloudwatch_metric_statistics_info
short_description: CloudWatch GetMetricStatistics for several metrics of one resource
description:
  - amazon.aws has alarm modules but none that reads metric data points.
options:
  namespace:
    description: The metric namespace, for example C(AWS/EC2).
    type: str
    required: true
  metrics:
    description: Metric names to read.
    type: list
    elements: str
    required: true
  dimensions:
    description: Dimension name to value.
    type: dict
    required: true
  minutes:
    description: How far back to read.
    type: int
    default: 15
  period:
    description: Seconds per data point.
    type: int
    default: 60
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: CPU of one instance over 15 minutes
  shieldops.connectors.aws_cloudwatch_metric_statistics_info:
    namespace: AWS/EC2
    metrics: [CPUUtilization]
    dimensions: {InstanceId: i-0123456789abcdef0}
"""

RETURN = r"""
request_ids:
  description: The request id of each API call the module made (for the audit trail).
  returned: always
  type: list
  elements: str
metrics:
  description: Per metric, the data points (Timestamp, Average, Maximum, Sum, SampleCount), oldest first.
  returned: always
  type: dict
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.shieldops.connectors.plugins.module_utils import aws_service

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            namespace=dict(type="str", required=True),
            metrics=dict(type="list", elements="str", required=True),
            dimensions=dict(type="dict", required=True),
            minutes=dict(type="int", default=15),
            period=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    ids = aws_service.RequestIds()
    end = datetime.datetime.now(datetime.timezone.utc)
    start = end - datetime.timedelta(minutes=module.params["minutes"])
    cloudwatch = ids.watch(module.client("cloudwatch"))
    result = {}
    try:
        for metric in module.params["metrics"]:
            result[metric] = aws_service.metric_statistics(
                cloudwatch,
                module.params["namespace"],
                metric,
                module.params["dimensions"],
                start,
                end,
                module.params["period"],
                ["Average", "Maximum", "Sum", "SampleCount"],
            )
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read CloudWatch metrics", request_ids=ids.ids)
    module.exit_json(request_ids=ids.ids, changed=False, metrics=result)


if __name__ == "__main__":
    main()
