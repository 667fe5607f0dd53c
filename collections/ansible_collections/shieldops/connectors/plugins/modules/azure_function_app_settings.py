#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: azure_function_app_settings
short_description: Set some app settings of a function app (or slot), keeping the others
description:
  - Reads the app settings, sets the names in I(values) and writes the whole set back (ARM's PUT replaces it);
    settings not named are kept as they are. No change, no write.
options:
  site_id:
    description: The ARM id of the site or of one of its slots.
    type: str
    required: true
  values:
    description: Setting name -> value.
    type: dict
    required: true
extends_documentation_fragment:
  - azure.azcollection.azure
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Put a version back
  shieldops.connectors.azure_function_app_settings:
    site_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/app
    values:
      APP_VERSION: 1.4.2
"""

RETURN = r"""
changed_names:
  description: The names whose values changed (or would, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.azure.azcollection.plugins.module_utils.azure_rm_common import AzureRMModuleBase
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service


class AzureFunctionAppSettings(AzureRMModuleBase):
    def __init__(self):
        self.module_arg_spec = dict(
            site_id=dict(type="str", required=True),
            values=dict(type="dict", required=True),
        )
        super(AzureFunctionAppSettings, self).__init__(self.module_arg_spec, supports_check_mode=True,
                                                       supports_tags=False)

    def exec_module(self, **kwargs):
        wanted = {str(k): str(v) for k, v in kwargs["values"].items()}

        def job(reader):
            current = azure_service.app_settings(reader, kwargs["site_id"])
            changed = sorted(k for k, v in wanted.items() if current.get(k) != v)
            if changed and not self.check_mode:
                azure_service.put_app_settings(reader, kwargs["site_id"], dict(current, **wanted))
            return dict(changed=bool(changed), changed_names=changed)

        return azure_service.answer(self, job, kwargs["site_id"])


def main():
    AzureFunctionAppSettings()


if __name__ == "__main__":
    main()
