# -*- coding: utf-8 -*-
"""One environment of the ShieldOps config file, as the playbooks' inputs: for AWX jobs and EDA, which name an
environment and nothing else."""
from __future__ import annotations

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# What a provider's AWX credential type injects (its awx_credential_type.yml): found by the provider's name.
CREDENTIAL_VARIABLE = "shieldops_%s_credential"

DOCUMENTATION = """
name: environment
short_description: The provider, role settings, state directory and key file of one environment of the config
description:
  - Reads the ShieldOps config file (the I(config) option, else SHIELDOPS_CONFIG, else ./shieldops.yaml) with the
    shieldops_ansible package, the facade's own reader, and returns for the environment named in the term its
    C(provider), C(settings) (what the facade passes as shieldops_settings), C(state_dir), C(snapshot_key_file)
    and C(config) (the file's path).
  - The environment is the one source of its settings, for the facade, the CLI and AWX alike. An AWX credential
    of the provider's ShieldOps credential type (roles/<provider>/files/awx_credential_type.yml) injects the
    variable shieldops_<provider>_credential, where the job's short-lived credentials come from; its non-empty
    values are laid over the environment's settings and validated with the provider's settings model, as if the
    config file said them (an AWX credential's unset fields render as empty text).
options:
  _terms:
    description: The environment's name.
    required: true
  config:
    description: The config file.
    type: path
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1 or not isinstance(terms[0], str):
            raise AnsibleLookupError("invalid_request: name one environment")
        try:
            from shieldops_ansible.config import load_config
            from shieldops_ansible.errors import ShieldOpsError
        except ImportError:
            raise AnsibleLookupError("config_error: the shieldops_ansible package is not installed where this "
                                     "playbook runs (the execution environment installs it)") from None
        path = self.get_option("config") or os.environ.get("SHIELDOPS_CONFIG") or "shieldops.yaml"
        try:
            config = load_config(path)
            environment = config.environment(terms[0])
            given = dict((variables or {}).get(CREDENTIAL_VARIABLE % environment.settings.provider) or {})
            settings = environment.settings
            if given:
                chosen = {key: value for key, value in given.items() if value not in ("", None)}
                settings = type(settings).model_validate(settings.model_dump() | chosen)
        except ShieldOpsError as error:
            raise AnsibleLookupError("config_error: %s" % error) from None
        except ValueError as error:  # pydantic's ValidationError: the fields by name, never their values
            from shieldops_ansible.providers.base import describe_validation

            raise AnsibleLookupError("config_error: %s" % describe_validation(
                error, "the %s credential's settings" % environment.settings.provider)) from None
        return [{
            "provider": environment.settings.provider,
            "settings": settings.role_settings(),
            "state_dir": str(config.state_dir),
            "snapshot_key_file": str(config.snapshot_key_file),
            "config": str(config.path),
        }]
