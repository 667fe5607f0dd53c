from pathlib import Path

import pytest

from shieldops_ansible import ConfigError, connect
from shieldops_ansible.config import load_config

GOOD = """
environments:
  prod-aws: {provider: aws, region: eu-west-1, role_arn: "arn:aws:iam::123456789012:role/sre-agent"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shieldops.yaml"
    path.write_text(text)
    return path


def test_loads_environments(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    env = cfg.environment("prod-aws")
    assert env.provider.name == "aws"
    # The role's settings reach the playbook too: a run without the facade assumes the role itself.
    assert env.settings.role_settings() == {
        "region": "eu-west-1",
        "endpoint_url": None,
        "role_arn": "arn:aws:iam::123456789012:role/sre-agent",
        "role_session_name": "shieldops-agent",
        "duration_seconds": 900,
    }


def test_unknown_environment_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("region: eu-west-1", "region: eu-west-1, colour: blue"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "colour" in str(err.value) and str(path) in str(err.value)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="audit_logg"):
        load_config(write(tmp_path, GOOD + "audit_logg: /tmp/x\n"))


def test_unknown_provider_and_bad_role(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="provider"):
        load_config(write(tmp_path, "environments: {x: {provider: mainframe}}\n"))
    with pytest.raises(ConfigError, match="role_arn"):
        load_config(write(tmp_path, GOOD.replace("role/sre-agent", "user/bob")))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(write(tmp_path, "environments: [unclosed\n"))


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIELDOPS_CONFIG", str(write(tmp_path, GOOD)))
    assert "prod-aws" in load_config().environments


def test_connect_unknown_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prod-aws"):
        connect("staging", config=write(tmp_path, GOOD))


def test_engine_defaults_to_warm_and_is_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).environment("prod-aws").settings.engine == "warm"
    runner = load_config(write(tmp_path, GOOD.replace("region:", "engine: runner, region:")))
    assert runner.environment("prod-aws").settings.engine == "runner"
    with pytest.raises(ConfigError, match="engine"):
        load_config(write(tmp_path, GOOD.replace("region:", "engine: turbo, region:")))
