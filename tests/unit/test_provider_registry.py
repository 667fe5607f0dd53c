"""The provider registry finds providers (this package's modules, other distributions' entry points, register())
and refuses two providers of one name; no list of providers is kept by hand."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import pytest

from shieldops_ansible.config import load_config
from shieldops_ansible.providers import PROVIDER_TYPES, EnvironmentSettings, Provider
from shieldops_ansible.providers.registry import ENTRY_POINT_GROUP, ProviderRegistry


class _EchoSettings(EnvironmentSettings):
    provider: Literal["echo"]
    answer: str = "42"


class EchoProvider(Provider):
    name = "echo"
    settings_model = _EchoSettings


def test_our_providers_are_found_in_the_package() -> None:
    found = ProviderRegistry()
    assert {"aws", "kubernetes", "linux"} <= set(found)
    for name, provider in found.items():
        assert provider.name == name and provider.__module__ == f"shieldops_ansible.providers.{name}"


def test_a_provider_of_another_distribution_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real distribution on sys.path (a dist-info folder and its module), as pip would install it.
    (tmp_path / "acme_provider.py").write_text(
        "from typing import Literal\n"
        "from shieldops_ansible.providers import EnvironmentSettings, Provider\n"
        "class AcmeSettings(EnvironmentSettings):\n"
        "    provider: Literal['acme']\n"
        "class AcmeProvider(Provider):\n"
        "    name = 'acme'\n"
        "    settings_model = AcmeSettings\n"
    )
    dist = tmp_path / "acme_provider-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-provider\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nacme = acme_provider:AcmeProvider\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = ProviderRegistry()
        assert found["acme"].__module__ == "acme_provider"
        assert {"aws", "kubernetes", "linux"} <= set(found)
    finally:
        sys.modules.pop("acme_provider", None)


def test_registered_providers_serve_config_files(tmp_path: Path) -> None:
    PROVIDER_TYPES.register(EchoProvider)
    try:
        config = tmp_path / "shieldops.yaml"
        config.write_text(f"state_dir: {tmp_path / 'state'}\nenvironments:\n  e: {{provider: echo, answer: hello}}\n")
        settings = load_config(config).environment("e").settings
        assert isinstance(settings, _EchoSettings) and settings.answer == "hello"
    finally:
        PROVIDER_TYPES.unregister("echo")
    assert "echo" not in PROVIDER_TYPES


def test_two_providers_of_one_name_are_refused() -> None:
    class Impostor(Provider):
        name = "aws"
        settings_model = _EchoSettings

    registry = ProviderRegistry()
    with pytest.raises(TypeError, match="two providers named 'aws'"):
        registry.register(Impostor)
    with pytest.raises(TypeError, match="not a Provider subclass"):
        registry.register(int)  # type: ignore[arg-type]


def test_an_unknown_provider_in_a_config_names_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "shieldops.yaml"
    config.write_text("environments:\n  e: {provider: [not, a, name]}\n")
    with pytest.raises(Exception, match=r"is not one of .*aws.*kubernetes.*linux"):
        load_config(config)
