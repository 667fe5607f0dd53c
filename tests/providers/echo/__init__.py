"""The seam's proof: a provider that lives only in this folder and is found, never wired in.

Its role answers from a JSON document it is given (settings ``state_file``): boxes with a state and tags, and
events. The test (test_echo_provider.py) registers it as other distributions do, by an entry point, and runs the
six operations through the facade on both engines and through the CLI; nothing outside this folder names it.
"""

from __future__ import annotations

from pathlib import Path

from shieldops_ansible.providers.base import EnvironmentSettings, Provider

__all__ = ["EchoProvider", "EchoSettings"]


class EchoSettings(EnvironmentSettings):
    state_file: str


class EchoProvider(Provider):
    """Boxes in a JSON document: start, stop, restart, snapshot and roll back their state."""

    name = "echo"
    settings_model = EchoSettings

    @classmethod
    def role(cls) -> str:
        return str(Path(__file__).resolve().parent / "role")
