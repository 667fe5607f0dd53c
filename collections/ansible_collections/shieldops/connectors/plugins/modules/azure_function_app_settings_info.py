#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_function_app_settings_info
short_description: The app settings of a function app (or slot) as digests, values only where asked
description:
  - Lists the app settings (POST config/appsettings/list) and returns each value's sha256 digest. App settings
    often hold connection strings and keys, so a value is returned only for the names in I(keep_values).
options:
  site_id:
    description: The ARM id of the site or of one of its slots.
    type: str
    required: true
  keep_values:
    description: Names of settings whose values are returned as they are.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: What a function app is configured with, as digests
  shieldops.connectors.azure_function_app_settings_info:
    site_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/app
    keep_values: [APP_VERSION]
"""

RETURN = r"""
digests:
  description: Setting name -> sha256 of its value.
  returned: always
  type: dict
values:
  description: Setting name -> value, for the names in keep_values that exist.
  returned: always
  type: dict
"""

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureFunctionAppSettingsInfo(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            site_id=dict(type="str", required=True),
            keep_values=dict(type="list", elements="str", default=[]),
        )
        super(AzureFunctionAppSettingsInfo, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                           supports_tags=False, facts_module=True)

    def exec_module(self, **kwargs):
        keep = set(kwargs["keep_values"])

        def job(reader):
            settings = azure_service.app_settings(reader, kwargs["site_id"])
            return dict(
                changed=False,
                digests={k: azure_service.settings_digest(v) for k, v in settings.items()},
                values={k: v for k, v in settings.items() if k in keep},
            )

        return azure_service.answer(self, job, kwargs["site_id"])


def main():
    AzureFunctionAppSettingsInfo()


if __name__ == "__main__":
    main()
