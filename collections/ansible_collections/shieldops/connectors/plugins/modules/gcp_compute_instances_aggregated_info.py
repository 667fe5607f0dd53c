#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_compute_instances_aggregated_info
short_description: Every Compute Engine instance of a project, across zones, in one aggregated listing
description:
  - instances.aggregatedList, paged; google.cloud.gcp_compute_instance_info lists one zone per call.
options:
  zones:
    description: Keep only instances of these zones; default all.
    type: list
    elements: str
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: List the instances of two zones
  shieldops.connectors.gcp_compute_instances_aggregated_info:
    zones: [europe-west1-b, europe-west1-c]
"""

RETURN = r"""
instances:
  description: Instance resources as Compute Engine returns them, each with C(zone) set to the zone's short name.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return {"instances": gcp_service.aggregated_instances(api, p["zones"])}


def main():
    gcp_service.run_module(
        _job,
        zones=dict(type="list", elements="str"),
    )


if __name__ == "__main__":
    main()
