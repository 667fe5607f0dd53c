"""The MCP server's confirmations: bound to one action and environment, single use, short-lived."""

from __future__ import annotations

from shieldops_ansible.mcp_server import _Confirmations, action_digest

RESTART = {"type": "restart", "resource_id": "service/web-1/web", "parameters": {}, "reason": "a"}


def test_bound_to_the_action_and_the_environment_not_the_reason() -> None:
    digest = action_digest("linux", RESTART)
    assert digest == action_digest("linux", {**RESTART, "reason": "another reason", "dry_run": False})
    assert digest != action_digest("linux-prod", RESTART)
    assert digest != action_digest("linux", {**RESTART, "type": "stop"})
    assert digest != action_digest("linux", {**RESTART, "parameters": {"replicas": 1}})


def test_single_use_and_used_up_by_a_wrong_try() -> None:
    confirmations = _Confirmations()
    digest = action_digest("linux", RESTART)
    token, ttl_s = confirmations.issue(digest)
    assert ttl_s > 0 and token.startswith("confirm-")
    assert confirmations.redeem(token, digest) is None
    assert confirmations.redeem(token, digest) == "the confirmation is unknown or already used"
    other, _ = confirmations.issue(digest)
    assert "another action" in (confirmations.redeem(other, action_digest("linux", {**RESTART, "type": "stop"})) or "")
    assert confirmations.redeem(other, digest) == "the confirmation is unknown or already used"


def test_expired() -> None:
    confirmations = _Confirmations(ttl_s=0)
    digest = action_digest("linux", RESTART)
    token, _ = confirmations.issue(digest)
    assert "expired" in (confirmations.redeem(token, digest) or "")
