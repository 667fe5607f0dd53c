"""Each fact the playbooks and the facade share is written once, in the collection's plugin_utils: the snapshot id
(snapshot_signing.py), the resource states and the health ranking (vocabulary.py). What must spell a fact again
(the pydantic Literal types) is held equal to it here, and the snapshot document's envelope is the operation
role's alone."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from shieldops_ansible import connector, transaction
from shieldops_ansible.models import HealthState, ResourceState, Snapshot, plugin_utils, vocabulary
from shieldops_ansible.paths import project_dir, role_path
from shieldops_ansible.providers import PROVIDER_TYPES
from shieldops_ansible.snapshots import SnapshotStore, signing

sys.path.insert(0, str(project_dir() / "collections"))
from ansible_collections.shieldops.connectors.plugins.filter import core
from ansible_collections.shieldops.connectors.plugins.filter.snapshot_id import snapshot_id
from ansible_collections.shieldops.connectors.plugins.plugin_utils import (
    snapshot_signing as collection_signing,
)
from ansible_collections.shieldops.connectors.plugins.plugin_utils import (
    vocabulary as collection_vocabulary,
)

ECHO_ROLE = Path(__file__).resolve().parents[1] / "providers" / "echo" / "role"
# The fields the operation role adds to every snapshot document (store_snapshot.yml, the snapshot_store action).
ENVELOPE = ("id", "resource_id", "environment", "provider", "created_at")


def test_the_package_loads_the_collections_own_files() -> None:
    """By path, the files the playbooks' plugins import: one definition, not a copy that could drift."""
    assert Path(str(vocabulary().__file__)).samefile(str(collection_vocabulary.__file__))
    assert Path(str(signing().__file__)).samefile(str(collection_signing.__file__))
    assert plugin_utils("vocabulary") is vocabulary()  # loaded once
    with pytest.raises(ImportError, match="do not match this package"):
        plugin_utils("no_such_module")


def test_the_literal_types_are_the_vocabularys_words() -> None:
    assert set(get_args(ResourceState)) == set(vocabulary().RESOURCE_STATES)
    assert len(get_args(ResourceState)) == len(vocabulary().RESOURCE_STATES)
    assert set(get_args(HealthState)) == set(vocabulary().HEALTH_STATUSES)
    assert len(get_args(HealthState)) == len(vocabulary().HEALTH_STATUSES)


def test_the_facades_state_filter_accepts_the_vocabularys_states() -> None:
    # connector.py keeps its own set for the list filter check (to be derived from the vocabulary there).
    assert set(vocabulary().RESOURCE_STATES) == connector._STATES


def test_the_health_ranking_is_one_for_the_filters_and_the_transaction() -> None:
    statuses = [*vocabulary().HEALTH_STATUSES, "something-else"]
    assert [vocabulary().health_rank(s) for s in ("healthy", "unknown", "degraded", "unhealthy")] == [0, 1, 2, 3]
    assert vocabulary().health_rank("something-else") == vocabulary().health_rank("unknown")
    assert not hasattr(core, "_STATUS_ORDER") and not hasattr(transaction, "_HEALTH_RANK")
    for before, after in itertools.product(statuses, repeat=2):
        worst = core.worst_status([{"status": before}, {"status": after}])
        got_worse = transaction._worse(after, before)
        assert got_worse == (vocabulary().health_rank(after) > vocabulary().health_rank(before))
        assert worst == (after if got_worse else before)


def test_a_snapshot_id_is_made_and_checked_by_one_definition() -> None:
    made = {SnapshotStore.new_id() for _ in range(50)} | {snapshot_id("") for _ in range(50)} | {snapshot_id(None)}
    assert len(made) == 101
    assert all(signing().is_snapshot_id(i) and i.startswith(signing().SNAPSHOT_ID_PREFIX) for i in made)
    assert snapshot_id("snap-byoperator01") == "snap-byoperator01"
    for bad in ("snap-../../../etc/passwd", "snap-byoperator01\n", "snap-short", "SNAP-byoperator01", 123, ["x"]):
        assert not signing().is_snapshot_id(bad)
        with pytest.raises(AnsibleFilterError, match=r"^invalid_request: not a snapshot id$"):
            snapshot_id(bad)


def test_the_operation_role_names_snapshots_with_the_filter() -> None:
    tasks = role_path("shieldops.connectors.operation") / "tasks"
    text = (tasks / "name_snapshot.yml").read_text()
    assert "shieldops.connectors.snapshot_id" in text
    for copy in ("snap-", "{7,62}", "is match("):
        assert copy not in text


def _snapshot_leaves() -> list[Path]:
    roles = [role_path(provider.role()) for provider in PROVIDER_TYPES.values()] + [ECHO_ROLE]
    return sorted(leaf for role in roles for leaf in (role / "tasks" / "snapshot").glob("*.yml"))


def _values_set(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        task["ansible.builtin.set_fact"]["shieldops_value"]
        for task in tasks or []
        if "shieldops_value" in (task.get("ansible.builtin.set_fact") or {})
    ]


@pytest.mark.parametrize("leaf", _snapshot_leaves(), ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_a_provider_snapshot_sets_only_what_the_provider_knows(leaf: Path) -> None:
    for value in _values_set(yaml.safe_load(leaf.read_text())):
        assert set(value) <= {"kind", "handles", "state"}, f"{leaf}: the envelope is the operation role's"


def test_every_snapshot_document_field_has_one_writer() -> None:
    """The envelope and the provider's part together are the Snapshot model's fields, each written once."""
    store = (role_path("shieldops.connectors.operation") / "tasks" / "store_snapshot.yml").read_text()
    for source in ("shieldops_snapshot_id", "shieldops_target.resource_id", "shieldops_snapshot_created_at"):
        assert store.count(source) == 1
    assert set(ENVELOPE) | {"kind", "handles", "state"} == set(Snapshot.model_fields)
