#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: aws_lambda_version
short_description: Publish an immutable version of a Lambda function's current code and configuration
description:
  - amazon.aws.lambda publishes only when it changes code; snapshots need a version of what runs now.
options:
  name:
    description: Function name or ARN.
    type: str
    required: true
  description:
    description: Version description.
    type: str
    default: ""
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Publish what runs now
  shieldops.connectors.aws_lambda_version:
    name: my-function
    description: snapshot before a change
"""

RETURN = r"""
request_ids:
  description: The request id of each API call the module made (for the audit trail).
  returned: always
  type: list
  elements: str
version:
  description: The PublishVersion result (Version, CodeSha256, FunctionArn...).
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.shieldops.connectors.plugins.module_utils import aws_service

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type="str", required=True), description=dict(type="str", default="")),
        supports_check_mode=True,
    )
    ids = aws_service.RequestIds()
    try:
        version, changed = aws_service.publish_lambda_version(
            ids.watch(module.client("lambda")), module.params["name"], module.params["description"], module.check_mode
        )
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to publish a Lambda version", request_ids=ids.ids)
    module.exit_json(request_ids=ids.ids, changed=changed, version=version)


if __name__ == "__main__":
    main()
