"""Shared fixtures: real local backends, started and stopped by the suite itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shieldops_ansible.sandbox import manager
from tests.support import Sandbox, start_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A seeded sandbox of its own for each test module, so that modules that change things stay independent."""
    directory = tmp_path_factory.mktemp("sandbox")
    box = start_sandbox(directory)
    try:
        yield box
    finally:
        manager.down(directory)
