#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_monitoring_instance_cpu_info
short_description: A Compute Engine instance's CPU utilisation from Cloud Monitoring
description:
  - timeSeries.list of compute.googleapis.com/instance/cpu/utilization for one instance.
options:
  instance_id:
    description: The instance's numeric id.
    type: str
    required: true
  minutes:
    description: How far back to look.
    type: int
    default: 10
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: CPU of an instance
  shieldops.connectors.gcp_monitoring_instance_cpu_info:
    instance_id: "4100000000000000001"
"""

RETURN = r"""
points:
  description: The points, newest first, each C(at) (RFC 3339) and C(value) (a fraction of 1).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return {"points": gcp_service.instance_cpu(api, p["instance_id"], p["minutes"])}


def main():
    gcp_service.run_module(
        _job,
        instance_id=dict(type="str", required=True),
        minutes=dict(type="int", default=10),
    )


if __name__ == "__main__":
    main()
