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
