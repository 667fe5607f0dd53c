#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_function_app_slot_swap
short_description: Swap a deployment slot of a function app with production, and wait for the swap
description:
  - POST sites/NAME/slotsswap with the slot (and preserveVnet), then polls the long-running operation until it
    ends. azure.azcollection's azure_rm_resource fails a polled POST whose final answer is 204 (no body), which is
    how App Service ends a swap.
  - In check mode, only checks that the slot exists.
options:
  site_id:
    description: The function app's ARM id.
    type: str
    required: true
  slot:
    description: The slot to swap into production.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the swap.
    type: int
    default: 600
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Put the staging slot into production
  shieldops.connectors.azure_function_app_slot_swap:
    site_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/app
    slot: staging
"""

RETURN = r"""
slot_swap_status:
  description: The site's slotSwapStatus after the swap (timestampUtc, sourceSlotName, destinationSlotName).
  returned: when not in check mode
  type: dict
"""

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureFunctionAppSlotSwap(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            site_id=dict(type="str", required=True),
            slot=dict(type="str", required=True),
            timeout=dict(type="int", default=600),
        )
        super(AzureFunctionAppSlotSwap, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                       supports_tags=False)

    def exec_module(self, **kwargs):
        problem = azure_service.name_problem(kwargs["slot"], "slot")
        if problem:
            self.fail("invalid_request: %s" % problem)

        def job(reader):
            status = azure_service.swap_slot(reader, kwargs["site_id"], kwargs["slot"], kwargs["timeout"],
                                             self.check_mode)
            return dict(changed=True, slot_swap_status=status)

        return azure_service.answer(self, job, kwargs["site_id"])


def main():
    AzureFunctionAppSlotSwap()


if __name__ == "__main__":
    main()
