# -*- coding: utf-8 -*-
"""The playbooks' own policy check: the environment's policy, read from the ShieldOps config file, decides.

The facade checks the same rules (the same function, shieldops_ansible.policy.decide) before any playbook runs;
this check makes ansible-playbook and AWX runs obey them too. The policy comes from the config file only (the
`config` argument, else SHIELDOPS_CONFIG, else ./shieldops.yaml), never from variables a caller could set.

Fail closed: a real action is refused when no policy can be loaded (the package is missing, or there is no config
file); reads never come here and dry runs need no policy. What the facade decided for an action (its approver's
yes, its count under the rate limit) counts only as the facade's signed grant (snapshot_signing.sign_grant, with
the installation's key): an extra var alone approves nothing. The other approver is AWX's workflow approval,
when the config names that AWX (awx_approvals): shieldops_ansible/awx_approval.py checks the run's claim with it.
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
  grant:
    description:
      - The facade's signed grant for this action (after its approver said yes, or when it has counted the action
        under the rate limit), checked with the installation's key; anything else grants nothing.
    type: dict
  key_file:
    description: The installation's key that signs grants (default that of the snapshot documents).
    type: path
  running_units:
    description:
      - The running units (pods, tasks) of the resource now, read by the role just before its write. When given,
        only the cap C(max_resources_per_action) is checked (the rest was checked before the role ran), against
        the units the action would create, replace or remove; the count is returned as C(touches).
    type: int
  wanted_units:
    description: The units wanted after a scale or start (with I(running_units)).
    type: int
"""

RETURN = """
policy:
  description: The decision (allowed, rule, reason, needs_approval); none when no policy was loaded.
  type: dict
  returned: always
approved_by:
  description: Who approved an action under require_approval in AWX (its workflow approval node), as the controller says.
  type: str
  returned: when an AWX workflow approval approved the action
require_snapshot:
  description: The environment's policy says a destructive real action snapshots its resource first.
  type: bool
  returned: when a policy was loaded and the action was checked before the role ran
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        ("action", "environment", "config", "grant", "key_file", "running_units", "wanted_units", "touches_rule"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        action = dict(args.get("action") or {})
        path = args.get("config") or os.environ.get("SHIELDOPS_CONFIG") or "shieldops.yaml"
        reach = args.get("running_units") is not None
        dry_run = bool(action.get("dry_run")) or self._task.check_mode or self._play_context.check_mode
        # A dry run needs no policy; a real action is refused without one (the first check point: the second,
        # the reach check in the provider roles, is only reached once the first has passed).
        closed = not dry_run and not reach
        no_policy = dict(changed=False, policy=None, msg="no ShieldOps config file: no policy to enforce")
        try:
            from shieldops_ansible.config import load_config
            from shieldops_ansible.errors import ShieldOpsError
            from shieldops_ansible.policy import decide, units_touched
            from shieldops_ansible.rate_limit import RateLimiter
        except ImportError:
            if closed:
                result.update(failed=True, msg="policy_denied: no ShieldOps policy can be loaded: the shieldops_ansible "
                              "package is not installed where this playbook runs (the execution environment installs "
                              "it); real actions need it, reads and dry runs do not")
            elif dry_run or not os.path.exists(path):
                # No policy, and no package to count with: the count is unknown, but always answered.
                result.update(no_policy, touches=None)
            else:
                result.update(failed=True,
                              msg="policy_denied: the shieldops_ansible package is needed to check the policy")
            return result
        touches = None
        if reach:
            wanted = args.get("wanted_units")
            touches = units_touched(str(action.get("type")), int(args["running_units"]),
                                    None if wanted is None else int(wanted), args.get("touches_rule") or None)
            result["touches"] = touches
        if not os.path.exists(path):
            if closed:
                result.update(failed=True, msg="policy_denied: no ShieldOps config file at %s: set shieldops_config "
                              "(or SHIELDOPS_CONFIG) to the config whose policy applies to this environment; real "
                              "actions need one, reads and dry runs do not" % path)
            else:
                result.update(no_policy)
            return result
        try:
            config = load_config(path)
            environment = config.environment(str(args.get("environment")))
        except ShieldOpsError as exc:
            result.update(failed=True, msg="policy_denied: %s" % exc)
            return result
        policy, kind, params = environment.settings.policy, str(action.get("type")), dict(action.get("parameters") or {})
        granted = self._granted(args, config, environment.name, action) if args.get("grant") else {}
        decision = decide(policy, kind, params, dry_run=dry_run, touches=touches)
        if reach:
            # The second check point of one action: rate limit and approval were settled by the first.
            result.update(changed=False, policy=decision.as_dict())
            if not decision.allowed:
                result.update(failed=True, msg="policy_denied: policy rule %s: %s" % (decision.rule, decision.reason))
            return result
        if decision.allowed and policy.rate_limit is not None and not dry_run and not granted.get("rate_limit_reserved"):
            # A run without the facade takes its own slot, from the same files the facade uses.
            granted, recent = RateLimiter(config.state_dir).reserve(
                environment.name, str(action.get("resource_id")), max_actions=policy.rate_limit.max_actions,
                per_seconds=policy.rate_limit.per_seconds)
            if not granted:
                decision = decide(policy, kind, params, dry_run=False, recent_actions=recent)
        # require_snapshot is the facade's rule too (transaction.py): a destructive live action snapshots first.
        result.update(changed=False, policy=decision.as_dict(), require_snapshot=bool(policy.require_snapshot))
        if not decision.allowed:
            result.update(failed=True, msg="policy_denied: policy rule %s: %s" % (decision.rule, decision.reason))
        elif decision.needs_approval and not granted.get("approved_by"):
            approver, refused = self._awx_approved(config, environment.name, action, task_vars or {})
            if approver:
                result["approved_by"] = approver
            else:
                why = granted.get("refused") or refused or "no approval of the facade's approver came with this run"
                result.update(failed=True, msg="policy_denied: policy rule require_approval: %s needs approval: %s "
                              "(a variable approves nothing: run it through the facade with an approver, or as "
                              "the action of an AWX workflow after its approval node, with awx_approvals in the "
                              "config)" % (action.get("type"), why))
        return result

    @staticmethod
    def _awx_approved(config, environment, action, task_vars):
        """(who approved, None) when this run is an AWX workflow's action node after an approved approval node,
        as the config's controller says; (None, why not) otherwise. Only with awx_approvals in the config."""
        if config.awx_approvals is None:
            return None, None
        if "awx_workflow_job_id" not in task_vars or "awx_job_id" not in task_vars:
            return None, "this run is no AWX workflow job"
        from ansible_collections.shieldops.connectors.plugins.filter import awx
        from shieldops_ansible.awx_approval import ApprovalRefused, approved_by

        try:
            return approved_by(
                config.awx_approvals, os.environ, job_id=task_vars["awx_job_id"],
                workflow_job_id=task_vars["awx_workflow_job_id"],
                request={"environment": environment, "action": action},
                asked=lambda answers: awx.survey_request(answers, "execute_action", "any"),
                templates=(awx.approval_workflow_name(action.get("type")), awx.job_template_name("execute_action")),
                state_dir=str(config.state_dir)), None
        except ApprovalRefused as refused:
            return None, "the AWX approval does not hold: %s" % refused

    @staticmethod
    def _granted(args, config, environment, action):
        """What the facade's grant grants for this action, or {"refused": why} when it grants nothing."""
        from ansible_collections.shieldops.connectors.plugins.plugin_utils import snapshot_signing

        key_file = args.get("key_file") or str(config.snapshot_key_file)
        try:
            key = snapshot_signing.load_key(os.path.expanduser(key_file))
            return snapshot_signing.check_grant(args["grant"], key, environment, action)
        except (OSError, ValueError) as error:  # SnapshotRefused is a ValueError
            return {"refused": str(error)[:300]}
