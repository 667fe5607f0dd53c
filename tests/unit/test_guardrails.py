"""Policy decisions, the audit log under concurrent writers, and the rate limiter's reservations."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from shieldops_ansible.audit import AuditLog, digest, redact
from shieldops_ansible.policy import Policy, RateLimit, decide, units_touched
from shieldops_ansible.rate_limit import RateLimiter


@pytest.mark.parametrize(
    ("policy", "action", "params", "rule"),
    [
        (Policy(read_only=True), "restart", {}, "read_only"),
        (Policy(allow_actions=("restart",)), "scale", {"replicas": 2}, "allow_actions"),
        (Policy(deny_actions=("stop",)), "stop", {}, "deny_actions"),
        (Policy(max_replicas=20), "scale", {"replicas": 21}, "max_replicas"),
        (Policy(max_replicas=20), "scale", {"replicas": 20}, None),
        (Policy(), "stop", {}, None),
    ],
)
def test_policy_rules(policy: Policy, action: str, params: dict[str, int], rule: str | None) -> None:
    decision = decide(policy, action, params, dry_run=False)
    assert decision.allowed is (rule is None) and decision.rule == rule
    # Dry runs are always allowed, whatever the rule.
    assert decide(policy, action, params, dry_run=True).allowed


def test_approval_and_rate_limit_decisions() -> None:
    policy = Policy(require_approval=("kubernetes_drain",), rate_limit=RateLimit(max_actions=2, per_seconds=60))
    assert decide(policy, "kubernetes_drain", {}, dry_run=False).needs_approval
    assert not decide(policy, "restart", {}, dry_run=False).needs_approval
    refused = decide(policy, "restart", {}, dry_run=False, recent_actions=2)
    assert not refused.allowed and refused.rule == "rate_limit" and "limit 2" in refused.reason


def test_unknown_policy_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="read_olny"):
        Policy.model_validate({"read_olny": True})


def _write_records(path: str, writer: int, count: int) -> None:
    log = AuditLog(Path(path))
    for i in range(count):
        log.append({"writer": writer, "i": i, "padding": "x" * 3000})


def test_concurrent_writers_never_interleave_or_lose_records(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    procs = [multiprocessing.Process(target=_write_records, args=(str(path), w, 150)) for w in range(4)]
    threads = [threading.Thread(target=_write_records, args=(str(path), 10 + w, 150)) for w in range(2)]
    for worker in [*procs, *threads]:
        worker.start()
    for worker in [*procs, *threads]:
        worker.join()
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 6 * 150
    for writer in (0, 1, 2, 3, 10, 11):
        assert [r["i"] for r in records if r["writer"] == writer] == list(range(150))
    assert path.stat().st_mode & 0o777 == 0o600
    assert [r["i"] for r in AuditLog(path).tail(3)] == [r["i"] for r in records[-3:]]


def test_redaction_and_digest() -> None:
    request = {"type": "scale", "parameters": {"replicas": 3}, "api_token": "s3cr3t", "reason": "y" * 500}
    clean = redact(request)
    assert clean["api_token"] == "[redacted]" and "s3cr3t" not in json.dumps(clean)
    assert len(clean["reason"]) < 250
    assert digest(request) == digest(dict(reversed(list(request.items()))))
    assert digest(request) != digest({**request, "reason": "other"})


def test_rate_limiter_grants_exactly_the_limit_under_a_race(tmp_path: Path) -> None:
    limiter = RateLimiter(tmp_path)
    granted: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        ok, _ = limiter.reserve("prod", "deployment/shop/web", max_actions=3, per_seconds=60)
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 3
    # Another resource has its own budget.
    assert limiter.reserve("prod", "deployment/shop/api", max_actions=3, per_seconds=60) == (True, 0)


@pytest.mark.parametrize(
    ("action", "running", "wanted", "touched"),
    [
        ("scale", 2, 5, 3),
        ("scale", 5, 2, 3),
        ("scale", 2, 2, 1),
        ("restart", 4, None, 4),
        ("redeploy", 0, None, 1),
        ("stop", 3, None, 3),
        ("start", 0, 6, 6),
        ("kubernetes_cordon", 1, None, 1),
        ("reboot", 9, None, 1),
    ],
)
def test_units_an_action_touches(action: str, running: int, wanted: int | None, touched: int) -> None:
    assert units_touched(action, running, wanted) == touched


def test_a_provider_only_action_counts_by_the_rule_its_vocabulary_declares() -> None:
    """Shared code names no provider action: a drain's rule is in the Kubernetes vocabulary, not in policy.py."""
    from shieldops_ansible.providers import PROVIDER_TYPES

    drain = PROVIDER_TYPES["kubernetes"]().capabilities.native_types["node"].actions["kubernetes_drain"]
    assert drain.touches == "running"
    assert units_touched("kubernetes_drain", 7, None, drain.touches) == 7
    assert units_touched("kubernetes_drain", 7) == 1  # undeclared: the resource itself
    with pytest.raises(ValueError, match="unknown touches rule"):
        units_touched("x", 1, None, "everything")


def test_the_cap_is_checked_only_when_the_count_is_known_and_never_for_dry_runs() -> None:
    policy = Policy(max_resources_per_action=3)
    assert decide(policy, "restart", {}, dry_run=False).allowed
    assert decide(policy, "restart", {}, dry_run=False, touches=3).allowed
    refused = decide(policy, "restart", {}, dry_run=False, touches=4)
    assert (refused.allowed, refused.rule) == (False, "max_resources_per_action")
    assert "4 resources (limit 3)" in refused.reason
    assert decide(policy, "restart", {}, dry_run=True, touches=40).allowed
