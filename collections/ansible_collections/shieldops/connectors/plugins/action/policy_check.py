# -*- coding: utf-8 -*-
"""The playbooks' own policy check: the environment's policy, read from the ShieldOps config file, decides.

The facade checks the same rules (the same function, shieldops_ansible.policy.decide) before any playbook runs;
this check makes ansible-playbook and AWX runs obey them too. The policy comes from the config file only (the
`config` argument, else SHIELDOPS_CONFIG, else ./shieldops.yaml), never from variables a caller could set.
"""
from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

DOCUMENTATION = """
module: policy_check
short_description: Refuse an action the environment's ShieldOps policy does not allow
description:
  - Reads the environment's policy from the ShieldOps config file and fails with C(policy_denied) naming the
    rule when the action is not allowed. Dry runs (and check mode) are always allowed.
options:
  action:
    description: The request's action (type, resource_id, parameters, dry_run).
    type: dict
    required: true
  environment:
    description: The environment named in the request.
    type: str
    required: true
  config:
    description: Path of the ShieldOps config file.
    type: str
  approved_by:
    description: Who approved an action listed under require_approval (the facade sets it after its approver said yes).
    type: str
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("action", "environment", "config", "approved_by"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        action = dict(args.get("action") or {})
        path = args.get("config") or os.environ.get("SHIELDOPS_CONFIG") or "shieldops.yaml"
        if not os.path.exists(path):
            result.update(changed=False, policy=None, msg="no ShieldOps config file: no policy to enforce")
            return result
        try:
            from shieldops_ansible.config import load_config
            from shieldops_ansible.errors import ShieldOpsError
            from shieldops_ansible.policy import decide
        except ImportError:
            result.update(failed=True, msg="policy_denied: the shieldops_ansible package is needed to check the policy")
            return result
        try:
            environment = load_config(path).environment(str(args.get("environment")))
        except ShieldOpsError as exc:
            result.update(failed=True, msg="policy_denied: %s" % exc)
            return result
        decision = decide(environment.settings.policy, str(action.get("type")), dict(action.get("parameters") or {}),
                          dry_run=bool(action.get("dry_run")) or self._task.check_mode or self._play_context.check_mode)
        result.update(changed=False, policy=decision.as_dict())
        if not decision.allowed:
            result.update(failed=True, msg="policy_denied: policy rule %s: %s" % (decision.rule, decision.reason))
        elif decision.needs_approval and not args.get("approved_by"):
            result.update(failed=True, msg="policy_denied: policy rule require_approval: %s needs approval "
                          "(approved_by)" % action.get("type"))
        return result
