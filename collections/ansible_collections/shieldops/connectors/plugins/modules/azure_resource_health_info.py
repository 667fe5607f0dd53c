#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_resource_health_info
short_description: Resource Health availability and one Azure Monitor metric of a resource, in one call
description:
  - Reads Resource Health's current availability status of the resource and, when I(metric) is given, that
    platform metric's recent points (Azure Monitor metrics API).
  - One module run for both: each module run of azure.azcollection pays its SDK import and a token request.
options:
  resource_id:
    description: The resource's ARM id.
    type: str
    required: true
  metric:
    description: A platform metric of the resource (C(Percentage CPU) for a VM); none when omitted.
    type: str
  minutes:
    description: How far back the metric is read.
    type: int
    default: 15
  function_host_status:
    description: Read the Functions host's status too (a function app: the host runtime's admin API through ARM).
    type: bool
    default: false
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Is the VM available, and how busy is it
  shieldops.connectors.azure_resource_health_info:
    resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-1
    metric: Percentage CPU
"""

RETURN = r"""
availability:
  description: The availabilityStatuses/current document (properties.availabilityState, summary, reasonType...);
    null where Resource Health has no status for the resource.
  returned: always
  type: dict
points:
  description: The metric's points that have a value, oldest first ({timeStamp, average}).
  returned: always
  type: list
  elements: dict
host_status:
  description: The Functions host's status document (state Running, Error with errors, ...), when asked.
  returned: always
  type: dict
"""

import datetime

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureResourceHealthInfo(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            resource_id=dict(type="str", required=True),
            metric=dict(type="str"),
            minutes=dict(type="int", default=15),
            function_host_status=dict(type="bool", default=False),
        )
        super(AzureResourceHealthInfo, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                      supports_tags=False, facts_module=True)

    def exec_module(self, **kwargs):
        def job(reader):
            availability = azure_service.availability_now(reader, kwargs["resource_id"])
            points, host_status = [], None
            if kwargs["function_host_status"]:
                host_status = azure_service.function_host_status(reader, kwargs["resource_id"])
            if kwargs.get("metric"):
                end = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                start = end - datetime.timedelta(minutes=max(1, kwargs["minutes"]))
                points = azure_service.metric_points(reader, kwargs["resource_id"], kwargs["metric"],
                                                     start.isoformat(), end.isoformat())
            return dict(changed=False, availability=availability, points=points, host_status=host_status)

        return azure_service.answer(self, job)


def main():
    AzureResourceHealthInfo()


if __name__ == "__main__":
    main()
