#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_activity_log_info
short_description: Activity Log and Resource Health events of one resource in a time range
description:
  - The Activity Log (Microsoft.Insights eventtypes/management/values) filtered by the resource's id and the time
    range, following nextLink, at most I(limit) events; and Resource Health's availability statuses of the
    resource (its health events), unless I(health_events) is false.
options:
  resource_id:
    description: The resource's ARM id.
    type: str
    required: true
  start:
    description: ISO 8601 start of the range.
    type: str
    required: true
  end:
    description: ISO 8601 end of the range.
    type: str
    required: true
  limit:
    description: At most this many Activity Log events (and as many health events).
    type: int
    default: 200
  health_events:
    description: Read Resource Health's availability statuses too.
    type: bool
    default: true
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: What happened to a VM in the last hour
  shieldops.connectors.azure_activity_log_info:
    resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-1
    start: "2026-12-01T10:00:00Z"
    end: "2026-12-01T11:00:00Z"
"""

RETURN = r"""
events:
  description: Activity Log event documents as ARM returns them (newest first).
  returned: always
  type: list
  elements: dict
health_events:
  description: Resource Health availabilityStatus documents (the current one first).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureActivityLogInfo(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            resource_id=dict(type="str", required=True),
            start=dict(type="str", required=True),
            end=dict(type="str", required=True),
            limit=dict(type="int", default=200),
            health_events=dict(type="bool", default=True),
        )
        super(AzureActivityLogInfo, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                   supports_tags=False, facts_module=True)

    def exec_module(self, **kwargs):
        limit = max(1, min(kwargs["limit"], 1000))

        def job(reader):
            events = azure_service.activity_log(reader, kwargs["resource_id"], kwargs["start"], kwargs["end"], limit)
            health = []
            if kwargs["health_events"]:
                health = azure_service.availability_history(reader, kwargs["resource_id"], limit)
            return dict(changed=False, events=events, health_events=health)

        return azure_service.answer(self, job)


def main():
    AzureActivityLogInfo()


if __name__ == "__main__":
    main()
