#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_run_service_update
short_description: Scale, redeploy or move the traffic of a Cloud Run service
description:
  - services.patch of the Cloud Run Admin API v2 with an update mask naming only what changes, then the long-running
    operation polled to done.
  - O(min_instances) sets the service's minimum instances (no new revision); O(redeploy) makes a new revision of the
    same template; O(traffic) sets the traffic targets.
  - In check mode, Cloud Run validates the request (C(validateOnly)) and the module reports what would change.
options:
  region:
    description: The service's region.
    type: str
    required: true
  name:
    description: The service's name.
    type: str
    required: true
  min_instances:
    description: The minimum number of instances.
    type: int
  redeploy:
    description: Make a new revision of the same template.
    type: bool
    default: false
  traffic:
    description: Traffic targets, as the API takes them (C(type), C(revision), C(percent)).
    type: list
    elements: dict
  timeout:
    description: Seconds to wait for the operation.
    type: int
    default: 300
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Keep two instances warm
  shieldops.connectors.gcp_run_service_update:
    region: europe-west1
    name: api
    min_instances: 2
"""

RETURN = r"""
before:
  description: C(min_instances), C(traffic) (resolved), C(latest_created) and C(latest_ready) before.
  returned: always
  type: dict
after:
  description: The same after (in check mode, as it would be).
  returned: always
  type: dict
"""

import datetime

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    change = {}
    if p["min_instances"] is not None:
        change["min_instances"] = p["min_instances"]
    if p["redeploy"]:
        change["redeploy"] = True
    if p["traffic"] is not None:
        change["traffic"] = p["traffic"]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return gcp_service.update_run_service(api, p["region"], p["name"], change, check_mode, p["timeout"], stamp)


def main():
    gcp_service.run_module(
        _job,
        region=dict(type="str", required=True),
        name=dict(type="str", required=True),
        min_instances=dict(type="int"),
        redeploy=dict(type="bool", default=False),
        traffic=dict(type="list", elements="dict"),
        timeout=dict(type="int", default=300),
    )


if __name__ == "__main__":
    main()
