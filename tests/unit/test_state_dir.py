"""The state directory's default is the same for the facade and for a direct playbook run: the roles' default,
rendered by Ansible itself, against shieldops_ansible.paths.default_state_dir, in every case of the lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar

from shieldops_ansible.paths import default_state_dir, role_path

CASES = {
    "explicit": {"SHIELDOPS_STATE_DIR": "/srv/shieldops-state", "XDG_STATE_HOME": "/xdg/state"},
    "xdg": {"XDG_STATE_HOME": "/xdg/state"},
    "home": {},
}


def _role_default() -> str:
    init_plugin_loader()
    loader = DataLoader()
    defaults = loader.load_from_file(
        str(role_path("shieldops.connectors.operation") / "defaults" / "main.yml"), trusted_as_template=True
    )
    return str(Templar(loader=loader).template(defaults["shieldops_state_dir"])).strip()


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_role_and_the_facade_agree(case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SHIELDOPS_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in CASES[case].items():
        monkeypatch.setenv(name, value)
    expected = {"explicit": "/srv/shieldops-state", "xdg": "/xdg/state/shieldops"}.get(
        case, str(tmp_path / ".local" / "state" / "shieldops")
    )
    assert str(default_state_dir()) == expected
    assert _role_default() == expected
