#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_run_service_info
short_description: Cloud Run services (Admin API v2), one or all of some regions
description:
  - With O(name), one service (and, with O(revisions), its latest created and latest ready revisions).
  - Without, every service of O(regions) (default every location Cloud Run offers), paged.
  - google.cloud has no Cloud Run module.
options:
  region:
    description: The service's region, with O(name).
    type: str
  name:
    description: One service's name.
    type: str
  regions:
    description: The regions to list, without O(name).
    type: list
    elements: str
  revisions:
    description: Also read the latest created and latest ready revisions (under C(_revisions), by full name).
    type: bool
    default: false
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: One service and its newest revisions
  shieldops.connectors.gcp_run_service_info:
    region: europe-west1
    name: api
    revisions: true
"""

RETURN = r"""
services:
  description: Service documents as Cloud Run returns them.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    if p["name"]:
        return {"services": [gcp_service.run_service(api, p["region"], p["name"], p["revisions"])]}
    return {"services": gcp_service.run_services(api, p["regions"])}


def main():
    gcp_service.run_module(
        _job,
        region=dict(type="str"),
        name=dict(type="str"),
        regions=dict(type="list", elements="str"),
        revisions=dict(type="bool", default=False),
    )


if __name__ == "__main__":
    main()
