#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_compute_instance_disk_swap
short_description: Put new disks in the place of a Compute Engine instance's disks, boot disk included
description:
  - For each swap, detaches the disk on the device (it is kept, not deleted) and attaches the new disk with the same
    device name, boot flag, mode and auto-delete, waiting for each zonal operation.
  - No google.cloud module detaches or attaches disks; rollback of an instance snapshot needs both.
  - The instance must be stopped to swap its boot disk (Compute Engine refuses otherwise).
options:
  swaps:
    description: The disks to put in place.
    type: list
    elements: dict
    required: true
    suboptions:
      device_name:
        description: The device the new disk takes.
        type: str
        required: true
      disk:
        description: The new disk's name (in the instance's zone).
        type: str
        required: true
      boot:
        description: Whether it is the boot disk.
        type: bool
        default: false
      auto_delete:
        description: Whether it is deleted with the instance.
        type: bool
        default: false
      mode:
        description: READ_WRITE or READ_ONLY.
        type: str
        default: READ_WRITE
        choices: [READ_WRITE, READ_ONLY]
extends_documentation_fragment:
  - shieldops.connectors.gcp
  - shieldops.connectors.gcp.instance
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Boot from a restored disk
  shieldops.connectors.gcp_compute_instance_disk_swap:
    zone: europe-west1-b
    name: web-1
    swaps:
      - {device_name: persistent-disk-0, disk: web-1-restored, boot: true}
"""

RETURN = r"""
swapped:
  description: Each swap made (or, in check mode, to make), with the detached disk's link and the attached disk.
  returned: always
  type: list
  elements: dict
request_ids:
  description: The operations the module started (for the audit trail).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return gcp_service.swap_disks(api, p["zone"], p["name"], p["swaps"], check_mode, p["timeout"])


def main():
    swap = dict(
        device_name=dict(type="str", required=True),
        disk=dict(type="str", required=True),
        boot=dict(type="bool", default=False),
        auto_delete=dict(type="bool", default=False),
        mode=dict(type="str", default="READ_WRITE", choices=["READ_WRITE", "READ_ONLY"]),
    )
    gcp_service.run_module(
        _job, **gcp_service.instance_options(swaps=dict(type="list", elements="dict", required=True, options=swap))
    )


if __name__ == "__main__":
    main()
