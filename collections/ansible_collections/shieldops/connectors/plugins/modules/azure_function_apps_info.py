#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_function_apps_info
short_description: Function apps of a subscription or resource group, with their deployment slots
description:
  - Microsoft.Web/sites whose kind is a function app, subscription-wide or in one resource group, following
    nextLink; or one app by name.
  - azure.azcollection's azure_rm_functionapp_info cannot list a subscription (it lists resource group None),
    returns a web app as a function app, and answers a missing app with a list holding an empty one.
options:
  resource_group:
    description: Only this resource group's apps (required with I(name)).
    type: str
  name:
    description: Only this app.
    type: str
  slots:
    description: Read each app's deployment slots too (under C(slots)).
    type: bool
    default: false
  limit:
    description: At most this many sites are read.
    type: int
    default: 1000
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Every function app of the subscription
  shieldops.connectors.azure_function_apps_info:

- name: One app and its slots
  shieldops.connectors.azure_function_apps_info:
    resource_group: rg-functions
    name: thumbnailer
    slots: true
"""

RETURN = r"""
function_apps:
  description: Site documents as ARM returns them (properties.state, availabilityState, hostNames...), each with
    C(slots) when asked.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureFunctionAppsInfo(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            resource_group=dict(type="str"),
            name=dict(type="str"),
            slots=dict(type="bool", default=False),
            limit=dict(type="int", default=1000),
        )
        super(AzureFunctionAppsInfo, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                    supports_tags=False, facts_module=True,
                                                    required_by={"name": "resource_group"})

    def exec_module(self, **kwargs):
        for key in ("resource_group", "name"):
            problem = azure_service.name_problem(kwargs[key], key)
            if problem:
                self.fail("invalid_request: %s" % problem)

        def job(reader):
            apps = azure_service.function_apps(reader, kwargs["resource_group"], kwargs["name"], kwargs["slots"],
                                               max(1, kwargs["limit"]))
            return dict(changed=False, function_apps=apps)

        return azure_service.answer(self, job)


def main():
    AzureFunctionAppsInfo()


if __name__ == "__main__":
    main()
