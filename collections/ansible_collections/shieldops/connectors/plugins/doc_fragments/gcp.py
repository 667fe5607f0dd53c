# -*- coding: utf-8 -*-
from __future__ import annotations


class ModuleDocFragment(object):
    # The options every gcp_* module of this collection takes (module_utils/gcp_service.argument_spec).
    DOCUMENTATION = r"""
options:
  project:
    description: The project id; default C(GCP_PROJECT).
    type: str
    required: true
  access_token:
    description:
      - An OAuth 2 access token; default C(GCP_ACCESS_TOKEN).
      - Minted by the controller through Workload Identity Federation; these modules never mint one.
    type: str
    required: true
  quota_project:
    description: The project billed for quota (C(x-goog-user-project)); default C(GOOGLE_CLOUD_QUOTA_PROJECT).
    type: str
"""

    # The options of a module that acts on one instance (module_utils/gcp_service.instance_options).
    INSTANCE = r"""
options:
  zone:
    description: The instance's zone.
    type: str
    required: true
  name:
    description: The instance's name.
    type: str
    required: true
  timeout:
    description: Seconds to wait for each zonal operation.
    type: int
    default: 300
"""
