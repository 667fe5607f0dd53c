"""Contract tests of the content layout: every provider role serves all six operations, declared and specified."""

import configparser
from pathlib import Path

import pytest
import yaml

from shieldops_ansible.paths import project_dir, role_path
from shieldops_ansible.providers import PROVIDER_TYPES

OPERATIONS = ("get_health", "list_resources", "execute_action", "get_events", "create_snapshot", "rollback")
ROOT = project_dir()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_playbook_exists_and_is_provider_neutral(operation: str) -> None:
    text = (ROOT / "playbooks" / f"{operation}.yml").read_text()
    assert "include_role" in text
    for provider in PROVIDER_TYPES:
        assert provider not in text


# The operation role dispatches: a provider role holds one task file per native type and operation (its leaf
# files) and nothing that dispatches again.
LEAF_FOLDERS = {
    "get_health": "health",
    "get_events": "events",
    "list_resources": "list",
    "create_snapshot": "snapshot",
    "execute_action": "act",
    "rollback": "rollback",
}


@pytest.mark.parametrize("provider", sorted(PROVIDER_TYPES))
def test_provider_role_is_complete(provider: str) -> None:
    role = role_path(PROVIDER_TYPES[provider].role())
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    caps = yaml.safe_load((role / "vars" / "main.yml").read_text())["shieldops_capabilities"]
    assert "main" in specs, f"{provider} argument_specs lacks its generated main entry point"
    for operation in OPERATIONS:
        assert not (role / "tasks" / f"{operation}.yml").exists(), f"{provider} dispatches {operation} again"
    for native, spec in caps["native_types"].items():
        for operation, folder in LEAF_FOLDERS.items():
            if operation == "execute_action" and not spec.get("actions"):
                continue
            if operation == "rollback" and native.endswith("cluster"):
                continue
            assert (role / "tasks" / folder / f"{native}.yml").is_file(), f"{provider}: {folder}/{native}.yml"


def test_collection_requirements_list_upstream_collections() -> None:
    names = {c["name"] for c in yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]}
    assert {"amazon.aws", "community.aws", "kubernetes.core", "google.cloud", "azure.azcollection"} <= names


def test_ansible_cfg_paths_are_relative() -> None:
    text = (ROOT / "ansible.cfg").read_text()
    # Our roles live in our collection (shieldops.connectors.*): no roles path of ours to collide on AWX's.
    assert "collections_path = ./collections" in text and "roles_path" not in text
    assert not any(line.strip().startswith(("collections_path = /", "roles_path = /")) for line in text.splitlines())


def test_no_cloud_inventory_plugin_is_imported_by_every_run() -> None:
    """Every enabled inventory plugin is imported at every ansible-playbook start: azure_rm's import (the Azure SDK
    block) cost each run of every provider ~2.6 s, aws_ec2's ~0.2 s. Our cloud inventories reach theirs through
    `auto`, by the `plugin:` key of each file."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    enabled = [name.strip() for name in cfg["inventory"]["enable_plugins"].split(",")]
    assert all(name.startswith("ansible.builtin.") for name in enabled), enabled
    assert "ansible.builtin.auto" in enabled
    plugins = {yaml.safe_load(p.read_text())["plugin"] for p in (ROOT / "inventories").glob("*/shieldops.*.yml")}
    assert {"amazon.aws.aws_ec2", "azure.azcollection.azure_rm"} <= plugins


def test_every_yaml_parses() -> None:
    for path in [*(ROOT / "collections").rglob("*.yml"), *(ROOT / "playbooks").glob("*.yml")]:
        yaml.safe_load(Path(path).read_text())
