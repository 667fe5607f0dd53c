"""What the facade knows of a provider, read from data rather than written as provider branches.

A provider's role (``Provider.role()``, ours in the shieldops.connectors collection) declares its vocabulary in
``vars/main.yml`` under ``shieldops_capabilities`` (native types, the common type each maps to, the id grammar,
the actions and their parameters); the role itself uses the same file, so the grammar the facade checks is the
grammar the playbook checks.
A provider module here adds only its settings schema and how it obtains short-lived credentials.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ActionNotSupported, ConfigError, InvalidRequest, quote_untrusted
from ..paths import role_path
from ..policy import Policy
from ..validation import MAX_INT, check_int, check_json_data, check_name, check_text

if TYPE_CHECKING:  # the sandbox's code is loaded only by the providers that have one, when it is asked for
    from ..sandbox.backend import SandboxBackend

__all__ = ["ActionSpec", "Capabilities", "EnvironmentSettings", "NativeType", "Provider", "describe_validation"]


class EnvironmentSettings(BaseModel):
    """Settings every environment accepts; each provider extends it with its own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    engine: Literal["warm", "runner"] = "warm"
    policy: Policy = Field(default_factory=Policy)

    def role_settings(self) -> dict[str, Any]:
        """Non-secret settings handed to the role as ``shieldops_settings``."""
        return self.model_dump(exclude={"provider", "engine", "policy"}, exclude_none=True, mode="json")

    def inventory_sources(self) -> list[str]:
        """Inventories the run loads besides the controller (providers that act on hosts)."""
        return []


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None

    def check(self, value: Any, field_name: str) -> Any:
        if self.type == "int":
            return check_int(
                value,
                field_name,
                minimum=-MAX_INT if self.minimum is None else self.minimum,
                maximum=MAX_INT if self.maximum is None else self.maximum,
            )
        if self.type == "str":
            check_text(value, field_name, kind="value")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise InvalidRequest(f"{field_name} is not valid: {quote_untrusted(value)}")
            return value
        if self.type == "bool":
            if not isinstance(value, bool):
                raise InvalidRequest(f"{field_name} must be true or false")
            return value
        return check_json_data(value, field_name)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    destructive: bool
    parameters: tuple[ParameterSpec, ...] = ()
    # How the blast-radius cap counts it (policy.units_touched); None: the common action's rule, else one.
    touches: str | None = None

    def check_parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        known = {p.name: p for p in self.parameters}
        for key in params:
            if key not in known:
                raise InvalidRequest(
                    f"action {self.name} takes no parameter {quote_untrusted(key)}; it takes: {sorted(known) or 'none'}"
                )
        out: dict[str, Any] = {}
        for spec in self.parameters:
            if spec.name in params:
                out[spec.name] = spec.check(params[spec.name], f"parameters.{spec.name}")
            elif spec.required:
                raise InvalidRequest(f"action {self.name} needs parameters.{spec.name}")
        return out


@dataclass(frozen=True)
class NativeType:
    name: str
    common: str | None
    id_pattern: re.Pattern[str]
    actions: Mapping[str, ActionSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    provider: str
    native_types: Mapping[str, NativeType]
    filters: frozenset[str]

    @classmethod
    def load(cls, provider: str, role: str) -> Capabilities:
        path = role_path(role) / "vars" / "main.yml"
        doc = yaml.safe_load(path.read_text())["shieldops_capabilities"]
        types: dict[str, NativeType] = {}
        for name, spec in doc["native_types"].items():
            actions = {
                action: ActionSpec(
                    name=action,
                    destructive=bool(aspec.get("destructive", False)),
                    touches=aspec.get("touches"),
                    parameters=tuple(
                        ParameterSpec(name=pname, **pspec) for pname, pspec in (aspec.get("parameters") or {}).items()
                    ),
                )
                for action, aspec in (spec.get("actions") or {}).items()
            }
            types[name] = NativeType(name, spec.get("common"), re.compile(spec["id_pattern"]), actions)
        return cls(provider, types, frozenset(doc["filters"]))

    def native_types_for(self, resource_type: str) -> list[str]:
        """Native types a listing of ``resource_type`` (common or native) covers; [] if the provider lacks it."""
        check_name(resource_type, "resource_type")
        if resource_type in self.native_types:
            return [resource_type]
        if resource_type in COMMON_TYPES:
            return [n for n, t in self.native_types.items() if t.common == resource_type]
        known = sorted(COMMON_TYPES | set(self.native_types))
        raise InvalidRequest(f"unknown resource type {quote_untrusted(resource_type)}; known: {', '.join(known)}")

    def native_type_of(self, resource_id: Any) -> NativeType:
        check_text(resource_id, "resource_id", kind="id")
        for native in self.native_types.values():
            if native.id_pattern.fullmatch(resource_id):
                return native
        raise InvalidRequest(f"{quote_untrusted(resource_id)} is not a {self.provider} resource id")

    def action(self, native: NativeType, action_type: Any) -> ActionSpec:
        check_name(action_type, "action.type")
        spec = native.actions.get(action_type)
        if spec is None:
            offered = ", ".join(sorted(native.actions)) or "none"
            raise ActionNotSupported(
                f"{native.name} does not support {quote_untrusted(action_type)}; it supports: {offered}"
            )
        return spec


COMMON_TYPES = frozenset({"instance", "service", "function", "cluster"})


class Provider:
    """Base of a provider's Python side: settings schema and short-lived credentials, nothing else."""

    name: ClassVar[str]
    settings_model: ClassVar[type[EnvironmentSettings]]
    # Every environment variable name ``credentials_env`` may return: a run of this provider receives nothing else
    # from its request (the warm server refuses any other name, see engines/warm/server.py).
    run_env_names: ClassVar[frozenset[str]] = frozenset()
    # Warm-engine hints (engines/warm): what its long-lived server loads once, before any request, for this
    # provider's runs. Modules that are pure API clients and safe to run inside the forked task worker (a test
    # compares their results with a normal module process, each of them):
    worker_modules: ClassVar[frozenset[str]] = frozenset()
    # SDK modules to import in the server, and Ansible plugins to load there by loader ("action", "inventory").
    warm_imports: ClassVar[tuple[str, ...]] = ()
    warm_plugins: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    @classmethod
    def warm_up(cls) -> None:
        """Provider-specific work done once in the warm server after ``warm_imports`` (e.g. parse SDK models)."""

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        return Capabilities.load(self.name, self.role())

    @classmethod
    def role(cls) -> str:
        """The provider's role, by full name or absolute path: ours live in our collection as
        ``shieldops.connectors.<name>``; a provider shipped elsewhere overrides this."""
        return f"shieldops.connectors.{cls.name}"

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend | None:
        """The local backend `shieldops-ansible sandbox up` starts for this provider (sandbox/backend.py), if any."""
        return None

    @classmethod
    def request_ids(cls, result: Mapping[str, Any]) -> list[str]:
        """The provider's request ids in a task result, kept in the audit record: ``request_ids`` where our
        modules report them; a provider whose modules say more overrides this."""
        ids = result.get("request_ids")
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def parse_settings(self, raw: Mapping[str, Any], where: str) -> EnvironmentSettings:
        from pydantic import ValidationError

        try:
            return self.settings_model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(describe_validation(exc, where)) from None

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        """The run's environment: short-lived credentials and connection settings, delivered through the secret
        channel (never written to disk). Only names in ``run_env_names``; the run's base environment is the
        engine's (engines/environment.py), so this is where anything a provider needs from ours must be taken."""
        return {}


def describe_validation(exc: Any, where: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        else:
            parts.append(f"{loc}: {err['msg']}")
    return f"{where}: " + "; ".join(parts)
