#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_gke_node_pool_resize
short_description: Set a GKE node pool's node count and autoscaling settings
description:
  - nodePools.setSize (and setAutoscaling when O(autoscaling) is given), each operation polled to done; google.cloud
    has no node pool resize.
  - O(nodes) is the pool's total; setSize takes a count per zone, so it must divide among the pool's zones.
  - In check mode, reads the pool and reports what would change.
options:
  location:
    description: The cluster's location (a zone or a region).
    type: str
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  pool:
    description: The node pool's name.
    type: str
    required: true
  nodes:
    description: The total node count.
    type: int
  autoscaling:
    description: The autoscaling settings as the API takes them (C(enabled), C(minNodeCount), C(maxNodeCount)).
    type: dict
  timeout:
    description: Seconds to wait for each operation.
    type: int
    default: 600
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Four nodes
  shieldops.connectors.gcp_gke_node_pool_resize:
    location: europe-west1-b
    cluster: sandbox
    pool: default
    nodes: 4
"""

RETURN = r"""
before:
  description: C(nodes) and C(autoscaling) before.
  returned: always
  type: dict
after:
  description: The same after (in check mode, as it would be).
  returned: always
  type: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return gcp_service.resize_node_pool(api, p["location"], p["cluster"], p["pool"], p["nodes"], p["autoscaling"],
                                        check_mode, p["timeout"])


def main():
    gcp_service.run_module(
        _job,
        location=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        pool=dict(type="str", required=True),
        nodes=dict(type="int"),
        autoscaling=dict(type="dict"),
        timeout=dict(type="int", default=600),
    )


if __name__ == "__main__":
    main()
