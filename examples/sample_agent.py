"""A sample SRE agent written once against the common vocabulary; it runs unchanged on every environment.

It lists every common resource type, checks health, picks the first unhealthy service (else instance), snapshots
it, dry-runs a remedy, applies it, reads recent events, and rolls back to the snapshot. Every step is timed.

    python examples/sample_agent.py --env aws --config sandbox/shieldops.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from shieldops_ansible import Action, InfraConnector, Resource, ShieldOpsError, TimeRange, connect

T = TypeVar("T")
# The remedy per common type, in the common vocabulary.
REMEDY = {"service": "restart", "instance": "start", "function": "restart", "cluster": "restart"}


@dataclass
class Step:
    environment: str
    step: str
    target: str
    outcome: str
    ms: float


async def _timed(steps: list[Step], env: str, step: str, target: str, call: Awaitable[T]) -> T | None:
    started = time.perf_counter()
    try:
        value = await call
    except ShieldOpsError as exc:
        steps.append(Step(env, step, target, f"{type(exc).__name__}: {str(exc)[:60]}", _ms(started)))
        return None
    steps.append(Step(env, step, target, _describe(value), _ms(started)))
    return value


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} item(s)"
    for attr in ("status", "success", "id"):
        if hasattr(value, attr):
            text = f"{attr}={getattr(value, attr)}"
            message = getattr(value, "message", "")
            return f"{text} {message[:50]}".strip()
    return str(value)[:60]


async def triage(conn: InfraConnector) -> list[Step]:
    env = conn.name
    steps: list[Step] = []
    candidates: list[tuple[str, Resource]] = []
    for common_type in ("service", "instance", "function", "cluster"):
        resources = await _timed(steps, env, "list", common_type, conn.list_resources(common_type, {})) or []
        for resource in resources:
            health = await _timed(steps, env, "health", resource.name, conn.get_health(resource.id))
            if health is not None and health.status != "healthy":
                candidates.append((common_type, resource))
    if not candidates:
        return steps
    common_type, target = next((c for c in candidates if c[0] == "service"), candidates[0])
    snapshot = await _timed(steps, env, "snapshot", target.name, conn.create_snapshot(target.id))
    action = Action(type=REMEDY[common_type], resource_id=target.id, reason="sample agent: unhealthy")
    await _timed(
        steps,
        env,
        "dry run",
        f"{action.type} {target.name}",
        conn.execute_action(action.model_copy(update={"dry_run": True})),
    )
    await _timed(steps, env, "act", f"{action.type} {target.name}", conn.execute_action(action))
    await _timed(steps, env, "events", target.name, conn.get_events(target.id, TimeRange.last(minutes=60)))
    if snapshot is not None:
        await _timed(steps, env, "rollback", target.name, conn.rollback(snapshot.id))
    return steps


def print_steps(steps: list[Step]) -> None:
    headers = ("ENV", "STEP", "TARGET", "OUTCOME", "MS")
    rows = [(s.environment, s.step, s.target, s.outcome, f"{s.ms:.0f}") for s in steps]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


async def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    async with connect(args.env, config=args.config) as conn:
        print_steps(await triage(conn))


if __name__ == "__main__":
    asyncio.run(_main())
