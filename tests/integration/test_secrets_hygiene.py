"""No credential ever reaches what we write or say: state directory, snapshots, audit log, runner artifacts, the
warm server's private directory, events, or exception texts. Every operation of every environment the sandbox
publishes samples of (their secrets are where the samples say), both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Sandbox, run_every_operation, sampled_environments

pytestmark = pytest.mark.integration

CANARY = "canary-token-9d3e41"  # a secret-looking variable of our own environment
# What else an agent's process may hold: an LLM key, and a setting whose name no deny-list would catch.
AGENT_VARIABLES = {"OPENAI_API_KEY": "canary-openai-e02b77", "FOO_SETTING": "canary-foo-91d4aa"}


@pytest.mark.parametrize("engine_name", ["warm", "runner"])
@pytest.mark.parametrize("environment", sampled_environments())
async def test_no_secret_in_anything_we_write_or_say(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str, engine_name: str
) -> None:
    monkeypatch.setenv("SHIELDOPS_TEST_API_TOKEN", CANARY)
    for name, value in AGENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    written = await run_every_operation(sandbox, environment, engine_name, tmp_path)
    for secret in [CANARY, *AGENT_VARIABLES.values(), *await sandbox.secrets(environment)]:
        assert len(secret) >= 8
        for text in written.texts:
            assert secret not in text
