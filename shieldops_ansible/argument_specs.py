"""Each provider role's ``meta/argument_specs.yml``, generated from the provider's settings model.

The request envelope (``shieldops_request``) and the operation's other inputs are declared once, in the
shieldops.connectors.operation role's spec. What a provider role adds is its own: the keys of
``shieldops_settings``, which are what its settings model's ``role_settings()`` passes (never provider, engine,
policy, nor anything secret or facade-only that a provider keeps back). Their types, whether they are required,
defaults and descriptions come from the model, so the spec cannot drift from what the facade validates.

    python -m shieldops_ansible.argument_specs          # write the files (make specs)
    python -m shieldops_ansible.argument_specs --check  # exit 1 and name the files that are stale

Providers are those of ``PROVIDER_TYPES`` whose role lives in our collections folder; a provider that ships its
role elsewhere can render its spec with :func:`render` and keep it there.
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from .paths import collections_dir, project_dir, role_path
from .providers import PROVIDER_TYPES, EnvironmentSettings, Provider

__all__ = [
    "COMMAND",
    "OPERATION_ROLE",
    "SpecFile",
    "main",
    "render",
    "role_fields",
    "settings_options",
    "spec_files",
    "stale",
    "write",
]

COMMAND = "python -m shieldops_ansible.argument_specs"
# The provider-neutral role whose spec declares the request envelope; it includes the provider roles.
OPERATION_ROLE = "shieldops.connectors.operation"

_SCALARS: Mapping[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
_SEQUENCES = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)


@dataclass(frozen=True)
class SpecFile:
    """One provider role's generated spec: where it goes and what it must hold."""

    provider: str
    path: Path
    text: str


class _Unsampled(TypeError):
    """An annotation the probe of ``role_settings()`` has no sample value for (a field with a default then keeps
    its default)."""


def role_fields(model: type[EnvironmentSettings]) -> list[str]:
    """The fields of ``model`` that ``role_settings()`` can pass to the role, in the model's order.

    Found by calling ``role_settings()`` on an unvalidated instance whose every field holds a non-empty value of
    its type, so that a key passed only when set is counted too. A key that is not a field is an error: the spec
    could not say what it is.
    """
    passed = _sample(model).role_settings()
    unknown = sorted(set(passed) - set(model.model_fields))
    if unknown:
        raise TypeError(f"{_qualname(model)}.role_settings() passes {unknown}, which are not fields of the model")
    return [name for name in model.model_fields if name in passed]


def settings_options(model: type[EnvironmentSettings]) -> dict[str, Any]:
    """The ``options`` of ``shieldops_settings``: one per field ``role_settings()`` passes."""
    return {
        name: _option(model.model_fields[name], f"{_qualname(model)}.{name}", model.model_fields[name].is_required())
        for name in role_fields(model)
    }


def render(provider: type[Provider]) -> str:
    """The text of ``provider``'s role's ``meta/argument_specs.yml``."""
    model = provider.settings_model
    kept = [name for name in model.model_fields if name not in role_fields(model)]
    own_doc = provider.__dict__.get("__doc__")
    short = (
        own_doc.strip().splitlines()[0]
        if own_doc
        else f"The {provider.name} provider's task files, included by {OPERATION_ROLE}"
    )
    spec = {
        "argument_specs": {
            "main": {
                "short_description": short,
                "description": [
                    f"{OPERATION_ROLE} includes this role's task files with tasks_from.",
                    f"The request envelope (shieldops_request) is declared once, in the {OPERATION_ROLE} role's spec.",
                    "This spec declares only what is the provider's own, shieldops_settings.",
                    "A run does not apply this entry point (an include applies the one it names, a task file here).",
                    f"The facade validates the settings with {_qualname(model)} first.",
                    "It serves ansible-doc, and ansible.builtin.validate_argument_spec in a direct playbook run.",
                ],
                "options": {
                    "shieldops_settings": {
                        "type": "dict",
                        "description": [
                            f"The environment's settings that reach the role, the keys {model.__qualname__}"
                            ".role_settings() passes.",
                            f"The other settings stay with the facade ({', '.join(kept)}).",
                        ],
                        "options": settings_options(model),
                    }
                },
            }
        }
    }
    header = (
        f"# Generated from {_qualname(model)} by\n"
        f"# `{COMMAND}` (make specs): do not edit by hand; change the model and run it again.\n"
    )
    return header + "---\n" + yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def spec_files(providers: Iterable[type[Provider]] | None = None) -> list[SpecFile]:
    """The generated spec of each provider whose role lives in our collections folder (all of them by default)."""
    ours = collections_dir().resolve()
    files = []
    for provider in PROVIDER_TYPES.values() if providers is None else providers:
        role = role_path(provider.role()).resolve()
        if not role.is_relative_to(ours):
            continue
        if not role.is_dir():
            raise FileNotFoundError(f"provider {provider.name}: its role {provider.role()} has no folder {role}")
        files.append(SpecFile(provider.name, role / "meta" / "argument_specs.yml", render(provider)))
    return sorted(files, key=lambda f: f.provider)


def stale(files: Iterable[SpecFile]) -> list[Path]:
    """The files whose content is not what the generator produces (missing ones included)."""
    return [f.path for f in files if not f.path.is_file() or f.path.read_text() != f.text]


def write(files: Iterable[SpecFile]) -> list[Path]:
    """Write the stale files; return them."""
    files = list(files)
    changed = stale(files)
    for f in files:
        if f.path in changed:
            f.path.parent.mkdir(exist_ok=True)
            f.path.write_text(f.text)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 and name the stale files")
    args = parser.parse_args(argv)
    files = spec_files()
    if args.check:
        outdated = stale(files)
        for path in outdated:
            print(f"stale: {_shown(path)} (run {COMMAND})", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(files):
        print(f"wrote {_shown(path)}")
    return 0


class _Dumper(yaml.SafeDumper):
    """Block style with lists indented under their key, as the hand-written YAML of this repository."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _option(info: FieldInfo, where: str, required: bool) -> dict[str, Any]:
    if not info.description:
        raise ValueError(f"{where} has no description: give it Field(description=...)")
    option = _typed(info.annotation, where)
    if required:
        option["required"] = True
    else:
        default = to_jsonable_python(info.get_default(call_default_factory=True))
        if default is not None:
            option["default"] = default
    limits = _limits(info)
    option["description"] = [info.description, limits] if limits else info.description
    nested = option.pop("options", None)
    if nested is not None:
        option["options"] = nested  # after the description, as in the hand-written specs
    return option


def _typed(annotation: Any, where: str) -> dict[str, Any]:
    """``type`` (and ``elements``, ``choices``, ``options``) of an annotation."""
    annotation = _unwrapped(annotation, where)
    origin = get_origin(annotation)
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        choices = list(get_args(annotation)) if origin is Literal else [member.value for member in annotation]
        kinds = {_SCALARS.get(type(choice)) for choice in choices}
        if len(kinds) != 1 or None in kinds:
            raise TypeError(f"{where}: cannot map {annotation!r} to one Ansible type")
        return {"type": kinds.pop(), "choices": choices}
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        option: dict[str, Any] = {"type": "list"}
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            element = _typed(args[0], f"{where}[]")
            option["elements"] = element.pop("type")
            option |= element  # choices or options of each element
        return option
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        return {"type": "dict"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            "type": "dict",
            "options": {
                name: _option(info, f"{where}.{name}", info.is_required())
                for name, info in annotation.model_fields.items()
            },
        }
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return {"type": "path"}
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if annotation is Any:
        return {"type": "raw"}
    raise TypeError(f"{where}: no Ansible type for {annotation!r}")


def _unwrapped(annotation: Any, where: str) -> Any:
    """The annotation without Annotated[...] and without None in a union (None is the option left out)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                raise TypeError(f"{where}: a union of {members} has no single Ansible type")
            annotation = members[0]
        else:
            return annotation


def _limits(info: FieldInfo) -> str:
    """The model's bounds and pattern, which an argument spec cannot express, as a sentence."""
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    size = [f"{words[name]} {found[name]}" for name in words if name in found]
    length = [
        f"{words[kind]} {found[name]}" for kind, name in (("ge", "min_length"), ("le", "max_length")) if name in found
    ]
    parts = []
    if size:
        parts.append("is " + " and ".join(size))
    if length:
        parts.append("has " + " and ".join(length) + " characters")
    if "pattern" in found:
        parts.append(f"matches {found['pattern']}")
    return f"The settings model checks that it {' and '.join(parts)}." if parts else ""


def _sample(annotation: Any) -> Any:
    """A non-empty value of ``annotation`` (unvalidated), for probing ``role_settings()``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _sample(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return _sample(next(a for a in get_args(annotation) if a is not type(None)))
    if origin is Literal:
        return get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        element = _sample(args[0]) if args else "x"
        kind = origin or annotation
        return kind([element]) if kind in (list, tuple, set, frozenset) else [element]
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        pair = get_args(annotation)
        return {_sample(pair[0]): _sample(pair[1])} if len(pair) == 2 else {"x": "x"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        values = {}
        for name, info in annotation.model_fields.items():
            try:
                values[name] = _sample(info.annotation)
            except _Unsampled:
                if info.is_required():
                    raise
                values[name] = info.get_default(call_default_factory=True)
        return annotation.model_construct(**values)
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return annotation("x")
    samples: dict[Any, Any] = {bool: True, int: 1, float: 1.0, str: "x", Any: "x"}
    if annotation in samples:
        return samples[annotation]
    raise _Unsampled(f"no sample value for {annotation!r}")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(project_dir()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
