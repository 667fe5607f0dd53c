from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shieldops_ansible import Action, HealthStatus, TimeRange


def test_time_range_last_is_aware_and_ordered() -> None:
    tr = TimeRange.last(minutes=30)
    assert tr.start.tzinfo is not None and tr.end.tzinfo is not None
    assert timedelta(minutes=29) < tr.end - tr.start <= timedelta(minutes=30, seconds=1)


def test_time_range_rejects_naive_and_reversed() -> None:
    with pytest.raises(ValidationError):
        TimeRange(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))  # type: ignore[arg-type]
    now = datetime.now(UTC)
    with pytest.raises(ValidationError):
        TimeRange(start=now, end=now - timedelta(seconds=1))


def test_action_is_strict() -> None:
    assert Action(type="stop", resource_id="i-0123456789abcdef0").dry_run is False
    with pytest.raises(ValidationError):
        Action(type="stop", resource_id=123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Action(type="stop", resource_id="x", unexpected=1)  # type: ignore[call-arg]


def test_health_status_needs_known_status() -> None:
    with pytest.raises(ValidationError):
        HealthStatus(resource_id="x", status="fine", observed_at=datetime.now(UTC))  # type: ignore[arg-type]
