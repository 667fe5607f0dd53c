"""A run's environment is an allow-list: the agent's own variables (an LLM API key, any setting a deny-list of
secret-looking names would miss) never reach it, through either engine; the credentials a request carries do.

Real runs (engine -> tests/playbooks/environment.yml -> a command on the controller); nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldops_ansible.engines.base import RunRequest, RunResult
from shieldops_ansible.engines.environment import BASE_NAMES, ENGINE_TOGGLES
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
OPENAI = "canary-openai-7f3a91"
FOO = "canary-foo-setting-2c8e"
# Set by Ansible, ansible-runner or our engines themselves (not taken from the agent's environment).
_SET_BY_THE_ENGINES = {
    "PWD",
    "ANSIBLE_CONFIG",
    "ANSIBLE_DISPLAY_TRACEBACK",
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_LOCAL_TEMP",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "ANSIBLE_RETRY_FILES_ENABLED",
    "AWX_ISOLATED_DATA_DIR",
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
    "SHIELDOPS_WARM_EVENT_FD",
}


@pytest.fixture
def agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What an agent's process may hold: an LLM key (secret-looking name) and a setting no deny-list knows."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("FOO_SETTING", FOO)
    monkeypatch.setenv("LD_PRELOAD_NOT_REALLY", FOO)
    monkeypatch.setenv("ANSIBLE_CALLBACK_PLUGINS", "/nonexistent/agent-callbacks")


@pytest.fixture
def server(agent_environment: None) -> Iterator[WarmServer]:
    """Started after the agent's variables are set: its own environment would have them without the fix."""
    own = WarmServer(extra_playbooks=[PLAYBOOKS])
    own.start()
    yield own
    own.stop()


async def _environment_run(engine: WarmEngine | RunnerEngine) -> RunResult:
    return await engine.run(
        RunRequest(
            "environment",
            {},
            playbook=str(PLAYBOOKS / "environment.yml"),
            secret_env={"AWS_REGION": "eu-west-1", "AWS_SESSION_TOKEN": "request-credential-5d"},
        )
    )


@pytest.mark.parametrize("engine_name", ["warm", "runner"])
async def test_the_agents_own_variables_never_reach_a_run(server: WarmServer, engine_name: str, tmp_path: Path) -> None:
    engine = WarmEngine(server) if engine_name == "warm" else RunnerEngine(keep_artifacts_in=tmp_path)
    run = await _environment_run(engine)
    assert run.status == "successful", run.failures
    assert run.result is not None
    command = dict(line.split("=", 1) for line in run.result["command"])
    # The request's credentials arrive, in the controller process and in what it starts.
    assert run.result["controller"] == {"OPENAI_API_KEY": "", "FOO_SETTING": "", "AWS_REGION": "eu-west-1"}
    assert command["AWS_REGION"] == "eu-west-1" and command["AWS_SESSION_TOKEN"] == "request-credential-5d"
    assert "PATH" in command and "HOME" in command
    # Nothing else of ours: every name is the base, the request's, or the engines' own.
    unexpected = {
        name
        for name in command
        if name not in BASE_NAMES | ENGINE_TOGGLES | _SET_BY_THE_ENGINES | {"AWS_REGION", "AWS_SESSION_TOKEN"}
        and not name.startswith("LC_")
    }
    assert unexpected == set()
    assert OPENAI not in str(command) and FOO not in str(command)
    assert command.get("ANSIBLE_CALLBACK_PLUGINS", "") != "/nonexistent/agent-callbacks"
    assert "/nonexistent/agent-callbacks" not in command.get("ANSIBLE_CALLBACK_PLUGINS", "")
    if engine_name == "runner":
        # ansible-runner's record of the run's environment: neither the agent's variables nor the credentials.
        recorded = [p.read_text() for p in tmp_path.rglob("command") if p.is_file()]
        assert recorded
        for text in recorded:
            assert OPENAI not in text and FOO not in text and "FOO_SETTING" not in text
            assert "OPENAI_API_KEY" not in text and "request-credential-5d" not in text
    else:
        # The server's own environment (as it was started) has none of them either.
        assert server.pid is not None
        started_with = Path(f"/proc/{server.pid}/environ").read_bytes()
        assert OPENAI.encode() not in started_with and FOO.encode() not in started_with
        assert b"FOO_SETTING" not in started_with
