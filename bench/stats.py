"""The one rule of the benchmark's figures: median and P95 (nearest rank) of samples in ms."""

from __future__ import annotations

import statistics

__all__ = ["summary"]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 1), "p95_ms": round(p95, 1)}
