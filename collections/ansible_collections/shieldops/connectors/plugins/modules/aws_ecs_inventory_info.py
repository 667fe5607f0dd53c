#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: aws_ecs_inventory_info
short_description: List ECS clusters and, optionally, their services with tags
description:
  - community.aws.ecs_service_info needs a cluster and returns no tags; agents list services across clusters
    and filter them by tag, so this module returns both in one call.
options:
  clusters:
    description: Cluster names or ARNs. All clusters when omitted.
    type: list
    elements: str
  include_services:
    description: Also describe every service of every cluster.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: All clusters and services
  shieldops.connectors.aws_ecs_inventory_info:
  register: ecs
"""

RETURN = r"""
request_ids:
  description: The request id of each API call the module made (for the audit trail).
  returned: always
  type: list
  elements: str
clusters:
  description: DescribeClusters results (with tags and statistics).
  returned: always
  type: list
  elements: dict
services:
  description: DescribeServices results (with tags) of every listed cluster.
  returned: when include_services is true
  type: list
  elements: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.shieldops.connectors.plugins.module_utils import aws_service

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            clusters=dict(type="list", elements="str"),
            include_services=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    ids = aws_service.RequestIds()
    ecs = ids.watch(module.client("ecs"))
    try:
        clusters = aws_service.list_ecs_clusters(ecs, module.params["clusters"])
        services = []
        if module.params["include_services"]:
            for cluster in clusters:
                services.extend(aws_service.list_ecs_services(ecs, cluster["clusterArn"]))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to describe ECS clusters and services", request_ids=ids.ids)
    module.exit_json(request_ids=ids.ids, changed=False, clusters=clusters, services=services)


if __name__ == "__main__":
    main()
