# -*- coding: utf-8 -*-
"""The credentials of the environment's IAM role for a run without the facade, as task environment variables."""
from __future__ import annotations

import os
import time

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils import aws_assume_role

DOCUMENTATION = """
name: aws_assumed_role
short_description: Short-lived credentials of the environment's IAM role, for the AWS role's task environment
description:
  - When the settings name a C(role_arn) and the run was not given that role's credentials (the facade's runs are,
    and it sets SHIELDOPS_AWS_ASSUMED_ROLE to say so), assumes the role with sts AssumeRole using this process's
    ambient source credentials (or the settings' profile and credentials file), and returns AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for the tasks' environment. Otherwise returns an empty mapping.
  - The credentials are kept for the run (this process) until 5 minutes before they expire, so the role is assumed
    once per run however many tasks template the environment. They are never registered, set as a fact or
    returned by a task. Only the tasks' environment holds them.
  - The same code as the facade's own AssumeRole (plugin_utils/aws_assume_role.py).
options:
  _terms:
    description: The environment's settings (shieldops_settings).
    required: true
"""

_REFRESH_MARGIN_S = 300
_kept = {}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        settings = dict(terms[0]) if terms and isinstance(terms[0], dict) else {}
        role_arn = settings.get("role_arn")
        if not role_arn or os.environ.get(aws_assume_role.ASSUMED_ROLE_ENV) == role_arn:
            return [{}]
        key = tuple(str(settings.get(name) or "") for name in (
            "role_arn", "role_session_name", "duration_seconds", "external_id", "region", "endpoint_url", "profile",
            "credentials_file"))
        kept = _kept.get(key)
        if kept is None or kept[1] - time.time() < _REFRESH_MARGIN_S:
            try:
                kept = _kept[key] = aws_assume_role.assume_role(settings)
            except aws_assume_role.AssumeRoleRefused as refused:
                raise AnsibleLookupError("%s: %s" % (refused.kind, refused)) from None
        return [dict(kept[0])]
