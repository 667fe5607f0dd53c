"""The configuration file: named environments, each a provider and its settings.

The path comes from ``connect(config=...)``, else ``$SHIELDOPS_CONFIG``, else ``./shieldops.yaml``. Every error
names the file and the offending key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .awx_approval import AwxApprovals
from .errors import ConfigError, quote_untrusted
from .paths import default_state_dir
from .providers import PROVIDER_TYPES, EnvironmentSettings, Provider
from .providers.base import describe_validation
from .snapshots import default_key_file, signing

__all__ = ["Config", "Environment", "ProcessSettings", "load_config"]


class ProcessSettings(BaseSettings):
    """Settings taken from the process environment (``SHIELDOPS_*``)."""

    model_config = SettingsConfigDict(env_prefix="SHIELDOPS_", extra="ignore")

    config: Path = Field(default=Path("shieldops.yaml"))
    state_dir: Path | None = None


@dataclass(frozen=True)
class Environment:
    name: str
    provider: Provider
    settings: EnvironmentSettings


@dataclass(frozen=True)
class Config:
    path: Path
    environments: dict[str, Environment]
    state_dir: Path
    audit_log: Path | None = None
    # The key that signs snapshot documents: outside the state directory (see snapshots.py).
    snapshot_key_file: Path = field(default_factory=default_key_file)
    # The AWX whose workflow approvals the playbooks' policy check accepts (awx_approval.py); none: only the facade's.
    awx_approvals: AwxApprovals | None = None

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(f"{self.path}: no environment {quote_untrusted(name)}; defined: {known}") from None


class _ConfigFile(BaseModel):
    """The file's top level; each environment is validated by its provider's own schema."""

    model_config = ConfigDict(extra="forbid")

    environments: dict[str, dict[str, Any]] = Field(min_length=1)
    state_dir: str | None = None
    audit_log: str | None = Field(default=None, description="JSON lines, one per operation, appended")
    snapshot_key_file: str | None = Field(
        default=None, description="the key signing snapshot documents, outside state_dir; created on first use"
    )
    awx_approvals: AwxApprovals | None = None


_providers: dict[str, Provider] = {}


def _provider(name: str) -> Provider:
    # One instance per provider and process, so credential caches are shared between connectors.
    if name not in _providers:
        _providers[name] = PROVIDER_TYPES[name]()
    return _providers[name]


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    process = ProcessSettings()
    config_path = Path(path) if path is not None else process.config
    try:
        doc: Any = yaml.safe_load(config_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: configuration file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{config_path}: expected a mapping with an 'environments' key")
    try:
        top = _ConfigFile.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(describe_validation(exc, str(config_path))) from None
    environments: dict[str, Environment] = {}
    for name, raw in top.environments.items():
        where = f"{config_path}: environments.{name}"
        provider_name = raw.get("provider")
        if not isinstance(provider_name, str) or provider_name not in PROVIDER_TYPES:
            known = " | ".join(sorted(PROVIDER_TYPES))
            raise ConfigError(f"{where}.provider: {provider_name!r} is not one of {known}")
        provider = _provider(provider_name)
        environments[str(name)] = Environment(str(name), provider, provider.parse_settings(raw, where))
    state_dir = top.state_dir or process.state_dir or default_state_dir()
    state_path = Path(os.path.expanduser(str(state_dir)))
    if not state_path.is_absolute():
        state_path = (config_path.parent / state_path).resolve()
    audit_log = None
    if top.audit_log:
        audit_log = Path(os.path.expanduser(top.audit_log))
        if not audit_log.is_absolute():
            audit_log = (config_path.parent / audit_log).resolve()
    key_file = default_key_file()
    if top.snapshot_key_file:
        key_file = Path(os.path.expanduser(top.snapshot_key_file))
        if not key_file.is_absolute():
            key_file = (config_path.parent / key_file).resolve()
    try:
        signing().check_key_location(str(key_file), str(state_path))
    except ValueError as exc:
        raise ConfigError(f"{config_path}: snapshot_key_file: {exc}") from None
    return Config(config_path, environments, state_path, audit_log, key_file, top.awx_approvals)
