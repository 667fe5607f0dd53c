#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_compute_instance_power
short_description: Start, stop or reset a Compute Engine instance, and nothing else
description:
  - Calls the instance's own start, stop or reset method and waits for the zonal operation to finish.
  - google.cloud.gcp_compute_instance is not used for this, because, given only a status, it also sends setLabels,
    setMachineType and setDeletionProtection with null values and ignores their errors (the labels are wiped).
  - Authenticates with an access token only (minted by the controller through Workload Identity Federation).
  - In check mode, reads the instance and reports whether the action would change it.
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [start, stop, reset]
extends_documentation_fragment:
  - shieldops.connectors.gcp
  - shieldops.connectors.gcp.instance
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Stop an instance
  shieldops.connectors.gcp_compute_instance_power:
    zone: europe-west1-b
    name: web-1
    action: stop
"""

RETURN = r"""
before:
  description: The instance's status before.
  returned: always
  type: str
after:
  description: The instance's status after (in check mode, the status the action would leave).
  returned: always
  type: str
request_ids:
  description: The operations the module started (for the audit trail).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return gcp_service.change_power(api, p["zone"], p["name"], p["action"], check_mode, p["timeout"])


def main():
    gcp_service.run_module(
        _job, **gcp_service.instance_options(action=dict(type="str", required=True, choices=sorted(gcp_service.POWER)))
    )


if __name__ == "__main__":
    main()
