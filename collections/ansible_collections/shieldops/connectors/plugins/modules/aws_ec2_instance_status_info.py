#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: aws_ec2_instance_status_info
short_description: EC2 system and instance status checks and scheduled events
description:
  - DescribeInstanceStatus (including stopped instances), which no amazon.aws module exposes.
options:
  instance_ids:
    description: The instances.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Status checks of one instance
  shieldops.connectors.aws_ec2_instance_status_info:
    instance_ids: [i-0123456789abcdef0]
"""

RETURN = r"""
request_ids:
  description: The request id of each API call the module made (for the audit trail).
  returned: always
  type: list
  elements: str
statuses:
  description: InstanceStatuses as returned by EC2 (SystemStatus, InstanceStatus, Events, InstanceState).
  returned: always
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
        argument_spec=dict(instance_ids=dict(type="list", elements="str", required=True)),
        supports_check_mode=True,
    )
    ids = aws_service.RequestIds()
    try:
        statuses = aws_service.ec2_instance_status(ids.watch(module.client("ec2")), module.params["instance_ids"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to describe instance status", request_ids=ids.ids)
    module.exit_json(request_ids=ids.ids, changed=False, statuses=statuses)


if __name__ == "__main__":
    main()
