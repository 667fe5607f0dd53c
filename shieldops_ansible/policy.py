"""Guardrails: what an environment lets an agent do, decided before anything runs.

The rules are data (``Policy``, from the environment's ``policy:`` in the config file) and one pure function
(``decide``), used in two places: the facade, before any playbook starts, and the playbooks' own pre-check (the
``shieldops.connectors.policy_check`` action plugin), so ``ansible-playbook`` and AWX runs obey the same rules.
Dry runs are always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TOUCH_RULES", "Decision", "Policy", "RateLimit", "decide", "units_touched"]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_actions: int = Field(ge=1, description="actions allowed per resource within the window")
    per_seconds: int = Field(ge=1, le=86_400, description="the window")


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: bool = False
    allow_actions: tuple[str, ...] | None = None
    deny_actions: tuple[str, ...] = ()
    max_replicas: int | None = Field(default=None, ge=0)
    require_snapshot: bool = True
    verify_and_rollback: bool = False
    verify_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    require_approval: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None
    max_resources_per_action: int | None = Field(
        default=None, ge=1, description="running units (pods, tasks) one action may create, replace or remove"
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None = None
    reason: str = ""
    needs_approval: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "needs_approval": self.needs_approval,
        }


def decide(
    policy: Policy,
    action_type: str,
    parameters: Mapping[str, Any],
    *,
    dry_run: bool,
    recent_actions: int = 0,
    touches: int | None = None,
) -> Decision:
    """The policy's verdict on one action. ``recent_actions``: actions already taken on the same resource within
    the rate limit's window. ``touches``: the running units the action would change, known only once the
    playbook has read the live resource (see ``units_touched``); the cap is checked when it is given."""
    if dry_run:
        return Decision(True, reason="dry runs are always allowed")
    if policy.read_only:
        return Decision(False, "read_only", "the environment is read-only")
    if policy.allow_actions is not None and action_type not in policy.allow_actions:
        return Decision(False, "allow_actions", f"{action_type} is not among the allowed actions")
    if action_type in policy.deny_actions:
        return Decision(False, "deny_actions", f"{action_type} is denied")
    replicas = parameters.get("replicas")
    if policy.max_replicas is not None and isinstance(replicas, int) and replicas > policy.max_replicas:
        return Decision(False, "max_replicas", f"{replicas} replicas is above the limit of {policy.max_replicas}")
    if policy.rate_limit is not None and recent_actions >= policy.rate_limit.max_actions:
        limit = policy.rate_limit
        return Decision(
            False,
            "rate_limit",
            f"{recent_actions} actions on this resource in the last {limit.per_seconds} s (limit {limit.max_actions})",
        )
    cap = policy.max_resources_per_action
    if cap is not None and touches is not None and touches > cap:
        return Decision(
            False, "max_resources_per_action", f"{action_type} would change {touches} resources (limit {cap})"
        )
    return Decision(True, reason="allowed", needs_approval=action_type in policy.require_approval)


# How the common actions count (CONTRACT's vocabulary); a provider-only action declares its rule in its
# provider's vocabulary (``touches:`` of the action in its role's vars/main.yml), else it touches one.
TOUCH_RULES = ("difference", "wanted", "running", "one")
_COMMON_TOUCH_RULES = {
    "scale": "difference",
    "start": "wanted",
    "restart": "running",
    "redeploy": "running",
    "stop": "running",
}


def units_touched(action_type: str, current: int, target: int | None = None, rule: str | None = None) -> int:
    """How many running units (pods, tasks) an action creates, replaces or removes, given the units running now
    and, for scale and start, the units wanted; at least 1, the resource itself. ``rule`` is the action's
    declared rule (one of :data:`TOUCH_RULES`), else the common action's."""
    target = current if target is None else target
    rule = rule or _COMMON_TOUCH_RULES.get(action_type, "one")
    if rule not in TOUCH_RULES:
        raise ValueError(f"unknown touches rule {rule!r}; known: {', '.join(TOUCH_RULES)}")
    count = {"difference": abs(target - current), "wanted": target, "running": current, "one": 1}[rule]
    return max(1, count)
