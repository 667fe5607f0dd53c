#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_gke_node_pool_sizes_info
short_description: The node counts of GKE node pools, from their instance group managers
description:
  - GKE keeps no current node count on a node pool; it is the target size of the pool's instance group managers
    (one per zone). Takes node pools as google.cloud.gcp_container_cluster_info or gcp_container_node_pool_info
    return them.
options:
  pools:
    description: Node pools (each with C(name) and C(instanceGroupUrls)).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Node counts of a cluster's pools
  shieldops.connectors.gcp_gke_node_pool_sizes_info:
    pools: "{{ cluster.nodePools }}"
"""

RETURN = r"""
sizes:
  description: By pool name, C(nodes) (total), C(per_zone) and C(stable) (no resize in progress).
  returned: always
  type: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return {"sizes": gcp_service.node_pool_sizes(api, p["pools"])}


def main():
    gcp_service.run_module(_job, pools=dict(type="list", elements="dict", required=True))


if __name__ == "__main__":
    main()
