"""Shared code names no provider: what the warm engine loads for a provider comes from that provider's class
(Provider.worker_modules, warm_imports, warm_plugins, warm_up), found through the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shieldops_ansible.engines as engines_package
from shieldops_ansible.engines.warm.in_worker import ALLOWED_MODULES
from shieldops_ansible.providers import PROVIDER_TYPES

ENGINES = Path(engines_package.__file__).parent
# Words that only a provider's code has business knowing: its collections, its SDKs.
PROVIDER_WORDS = ("amazon.aws", "community.aws", "kubernetes.core", "boto", "botocore", "kubernetes.", "jsonpatch")


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", sorted(ENGINES.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINES)))
def test_the_engines_name_no_provider(path: Path) -> None:
    named = [s for s in _code_strings(path) if any(word in s for word in PROVIDER_WORDS)]
    assert named == [], f"{path.name} names provider code: {named}"


def test_the_worker_allow_list_is_the_providers_own() -> None:
    declared = set().union(*(p.worker_modules for p in PROVIDER_TYPES.values()))
    assert declared <= ALLOWED_MODULES
    # What is not a provider's is the controller's own file modules, used by our action plugins.
    assert {m.partition(".")[0] + "." + m.split(".")[1] for m in ALLOWED_MODULES - declared} == {"ansible.builtin"}


def test_request_ids_are_the_providers_reading_of_a_result() -> None:
    """The audit record's request ids: ``request_ids`` for every provider; where else amazon.aws keeps one (a
    failed call's response_metadata) only AWS knows."""
    from shieldops_ansible.providers.base import Provider

    failed_call = {"request_ids": ["r1"], "response_metadata": {"request_id": "r2"}}
    assert Provider.request_ids(failed_call) == ["r1"]
    assert PROVIDER_TYPES["aws"].request_ids(failed_call) == ["r1", "r2"]
    assert PROVIDER_TYPES["kubernetes"].request_ids({"request_ids": "not a list"}) == []


COLLECTION = Path(engines_package.__file__).parents[2] / "collections/ansible_collections/shieldops/connectors"
PACKAGE = Path(engines_package.__file__).parents[1]


def _owner(path: Path) -> str | None:
    """The provider a file belongs to: its package, its role, or a plugin named after it."""
    for name in PROVIDER_TYPES:
        if path.is_relative_to(PACKAGE / "providers" / name) or path.is_relative_to(COLLECTION / "roles" / name):
            return name
        if path.is_relative_to(COLLECTION / "plugins") and (path.stem == name or path.stem.startswith(name + "_")):
            return name
    return None


def _shared_files() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *COLLECTION.rglob("*.py"), *COLLECTION.glob("roles/*/**/*.yml")]
    files += [*(PACKAGE.parent / "playbooks").glob("*.yml")]
    return sorted(p for p in files if _owner(p) is None and "__pycache__" not in p.parts)


def _names_in_python(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    words = _code_strings(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append(node.module)
    return words


def _names_in_yaml(data: object) -> list[str]:
    if isinstance(data, dict):
        return [w for k, v in data.items() for w in (str(k), *_names_in_yaml(v))]
    if isinstance(data, list):
        return [w for item in data for w in _names_in_yaml(item)]
    return [str(data)] if data is not None else []


@pytest.mark.parametrize("path", _shared_files(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_shared_code_names_no_provider(path: Path) -> None:
    """Code (not comments or docstrings) outside a provider's package, role and plugins names no provider and no
    provider's collections or SDKs: a provider is added by adding its folder, never by editing shared code."""
    import re

    import yaml

    words = _names_in_python(path) if path.suffix == ".py" else _names_in_yaml(yaml.safe_load(path.read_text()))
    names = "|".join(map(re.escape, PROVIDER_TYPES))
    pattern = re.compile(rf"(?<![a-z])({names})(?![a-z])", re.IGNORECASE)
    named = sorted({w for w in words if pattern.search(w) or any(word in w for word in PROVIDER_WORDS)})
    assert named == [], f"{path.name} names a provider: {named}"
