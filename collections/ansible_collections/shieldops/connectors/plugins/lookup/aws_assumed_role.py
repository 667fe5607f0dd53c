# -*- coding: utf-8 -*-
"""The credentials of the environment's IAM role for a run without the facade, as task environment variables."""
from __future__ import annotations

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils import aws_assume_role, run_credentials

DOCUMENTATION = """
name: aws_assumed_role
short_description: Short-lived credentials of the environment's IAM role, for the AWS role's task environment
description:
  - When the settings name a C(role_arn) and the run was not given that role's credentials (the facade's runs are,
    and it sets SHIELDOPS_AWS_ASSUMED_ROLE to say so), assumes the role with sts AssumeRole using this process's
    ambient source credentials (or the settings' profile and credentials file), and returns AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for the tasks' environment. Otherwise returns an empty mapping.
  - The code is the facade's own AssumeRole
    (plugin_utils/aws_assume_role.py).
extends_documentation_fragment: [shieldops.connectors.run_credentials]
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        settings = run_credentials.settings_of(terms)
        role_arn = settings.get("role_arn")
        if not role_arn or os.environ.get(aws_assume_role.ASSUMED_ROLE_ENV) == role_arn:
            return [{}]
        key = tuple(str(settings.get(name) or "") for name in (
            "role_arn", "role_session_name", "duration_seconds", "external_id", "region", "endpoint_url", "profile",
            "credentials_file"))
        try:
            return [dict(run_credentials.kept_for_the_run(key, lambda: aws_assume_role.assume_role(settings)))]
        except aws_assume_role.AssumeRoleRefused as refused:
            raise AnsibleLookupError("%s: %s" % (refused.kind, refused)) from None
