# -*- coding: utf-8 -*-
"""A short-lived GCP access token minted from the settings' Workload Identity Federation config, for a run without
the facade, as the GCP role's task environment (GCP_ACCESS_TOKEN)."""
from __future__ import annotations

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils import gcp_federation, run_credentials

DOCUMENTATION = """
name: gcp_access_token
short_description: A short-lived GCP access token from Workload Identity Federation, for the GCP role's tasks
description:
  - When the settings name a C(credentials_file) (an external_account config) and the run was not given a token
    (the facade's runs are, in GCP_ACCESS_TOKEN), mints one on the controller with google-auth, through the
    settings' C(https_proxy) and C(ca_file), and returns it as GCP_ACCESS_TOKEN for the tasks' environment.
    Otherwise returns an empty mapping.
  - The code is the facade's own minting
    (plugin_utils/gcp_federation.py).
extends_documentation_fragment: [shieldops.connectors.run_credentials]
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        settings = run_credentials.settings_of(terms)
        source = settings.get("credentials_file")
        if not source or os.environ.get("GCP_ACCESS_TOKEN"):
            return [{}]
        key = (str(source), str(settings.get("https_proxy") or ""), str(settings.get("ca_file") or ""))
        try:
            token = run_credentials.kept_for_the_run(
                key, lambda: gcp_federation.mint_access_token(key[0], key[1] or None, key[2] or None))
        except gcp_federation.MintRefused as refused:
            raise AnsibleLookupError("%s: %s" % (refused.kind, refused)) from None
        return [{"GCP_ACCESS_TOKEN": token}]
