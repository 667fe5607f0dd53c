"""Shared fixtures: real local backends, started and stopped by the suite itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldops_ansible.sandbox.manager import found_backends
from tests.support import Sandbox, sandbox_fixture

_PROVIDER_TESTS = Path(__file__).parent / "providers"


@pytest.fixture(scope="module")
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A seeded sandbox for each test module: a provider's own modules (tests/providers/NAME/) get only that
    provider's backend, the others every provider's (a whole sandbox takes ~12 s to start)."""
    folder = request.path.relative_to(_PROVIDER_TESTS).parts[0] if request.path.is_relative_to(_PROVIDER_TESTS) else ""
    own = [backend for backend in found_backends() if backend.name == folder]
    yield from sandbox_fixture(tmp_path_factory, own or None)
