"""What both engines read from a run's events (ansible-runner's shapes): the published result and the failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RESULT_KEY", "collect_event", "published_result"]

RESULT_KEY = "shieldops_result"


def collect_event(event: Mapping[str, Any], collected: dict[str, Any]) -> None:
    """Keep the final stats and the messages of failed tasks (not those whose errors were ignored)."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    if kind == "playbook_on_stats":
        collected["stats"] = data
    elif kind == "runner_on_failed" and not data.get("ignore_errors"):
        res = data.get("res") or {}
        collected["failures"].append(str(res.get("msg", ""))[:500])


def published_result(collected: Mapping[str, Any]) -> Any:
    """The one value the playbook published with set_stats, if it got that far."""
    stats = collected.get("stats") or {}
    return (stats.get("artifact_data") or {}).get(RESULT_KEY)
