"""Snapshot documents are signed with a key of this installation and checked before they are trusted: the key's
creation, the signed form, the refusals (the collection's plugin_utils/snapshot_signing.py, which the facade and
the playbooks' action plugins share), the facade's store and the two action plugins run on real Tasks."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import SnapshotNotFound
from shieldops_ansible.config import load_config
from shieldops_ansible.errors import ConfigError
from shieldops_ansible.snapshots import SnapshotStore, default_key_file, signing
from tests.action_plugins import run_action_plugin

DOCUMENT: dict[str, Any] = {
    "id": "snap-0123456789abcdef",
    "resource_id": "deployment/shop/web",
    "environment": "kubernetes",
    "provider": "kubernetes",
    "created_at": "2026-01-01T00:00:00+00:00",
    "kind": "kubernetes_deployment",
    "handles": {"revision": "3"},
    "state": {"manifest": {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}},
}


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "shieldops" / "snapshot.key"


def _write(state_dir: Path, document: dict[str, Any]) -> Path:
    path = state_dir / "snapshots" / f"{document['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4))
    return path


def _signed(document: dict[str, Any], key_file: Path) -> dict[str, Any]:
    signed: dict[str, Any] = signing().sign(document, signing().load_or_create_key(str(key_file)))
    return signed


def test_the_key_is_created_once_private_and_outside_the_state_dir(key_file: Path, state_dir: Path) -> None:
    key = signing().load_or_create_key(str(key_file))
    assert len(key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert signing().load_or_create_key(str(key_file)) == key  # created once, then read
    assert list(key_file.parent.iterdir()) == [key_file]  # no temporary file left behind
    with pytest.raises(ValueError, match="inside the state directory"):
        signing().check_key_location(str(state_dir / "snapshot.key"), str(state_dir))
    with pytest.raises(ValueError, match="absolute path"):
        signing().check_key_location("snapshot.key", str(state_dir))
    key_file.chmod(0o644)
    with pytest.raises(ValueError, match="readable or writable by others"):
        signing().load_key(str(key_file))


def test_a_key_created_by_another_process_meanwhile_is_kept(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other process creates the key between this one's look and its write: this one must use that key, not
    replace it (documents already signed with it would all fail)."""
    module = signing()
    real_makedirs = os.makedirs

    def makedirs_then_the_other_process_wins(path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
        real_makedirs(path, mode, exist_ok)
        if Path(path) != key_file.parent:
            return  # os.makedirs making a parent
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"k" * 64 + b"\n")
        os.close(fd)

    monkeypatch.setattr(module.os, "makedirs", makedirs_then_the_other_process_wins)
    assert module.load_or_create_key(str(key_file)) == b"k" * 64
    assert key_file.read_bytes() == b"k" * 64 + b"\n"


def _create_key(path: str, barrier: Any, out: Any) -> None:
    module = signing()
    barrier.wait()
    out.put(module.load_or_create_key(path))


def test_processes_racing_on_first_use_end_with_one_key(key_file: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(6), context.Queue()
    procs = [context.Process(target=_create_key, args=(str(key_file), barrier, out)) for _ in range(6)]
    for proc in procs:
        proc.start()
    keys = {out.get(timeout=60) for _ in procs}
    for proc in procs:
        proc.join(60)
    assert keys == {key_file.read_bytes().strip()}
    assert list(key_file.parent.iterdir()) == [key_file]


def test_sign_and_verify(key_file: Path, tmp_path: Path) -> None:
    module = signing()
    signed = _signed(DOCUMENT, key_file)
    assert signed["signature"].startswith("hmac-sha256:") and signed["signature"] not in key_file.read_text()
    # The canonical form: key order and whitespace of the file do not matter.
    reordered = json.loads(json.dumps(signed, indent=2, sort_keys=False))
    assert module.verify(dict(reversed(list(reordered.items()))), module.load_key(str(key_file))) == DOCUMENT
    key = module.load_key(str(key_file))
    edited = json.loads(json.dumps(signed))
    edited["state"]["manifest"]["spec"] = {"replicas": 99}
    with pytest.raises(ValueError, match="fails its signature check"):
        module.verify(edited, key)
    with pytest.raises(ValueError, match="fails its signature check"):
        module.verify(signed | {"signature": 42}, key)
    foreign = _signed(DOCUMENT, tmp_path / "other-installation" / "snapshot.key")
    with pytest.raises(ValueError, match="signed with another installation's key"):
        module.verify(foreign, key)
    with pytest.raises(ValueError, match=r"has no signature \(taken before snapshots were signed\); take a new one"):
        module.verify(DOCUMENT, key)


def test_the_store_refuses_what_it_cannot_trust(key_file: Path, state_dir: Path, tmp_path: Path) -> None:
    store = SnapshotStore(state_dir, key_file)
    path = _write(state_dir, _signed(DOCUMENT, key_file))
    snapshot = store.load(DOCUMENT["id"])
    assert snapshot.resource_id == "deployment/shop/web" and "signature" not in snapshot.model_dump()
    assert [s.id for s in store.list()] == [DOCUMENT["id"]]
    edited = json.loads(path.read_text())
    edited["resource_id"] = "deployment/shop/other"
    path.write_text(json.dumps(edited))
    with pytest.raises(SnapshotNotFound, match="fails its signature check"):
        store.load(DOCUMENT["id"])
    assert store.list() == []  # only what can be rolled back is listed
    _write(state_dir, _signed(DOCUMENT, tmp_path / "elsewhere" / "snapshot.key"))
    with pytest.raises(SnapshotNotFound, match="another installation's key"):
        store.load(DOCUMENT["id"])
    _write(state_dir, DOCUMENT)
    with pytest.raises(SnapshotNotFound, match=r"has no signature.*create_snapshot"):
        store.load(DOCUMENT["id"])
    # A signed document of another snapshot, copied under this snapshot's name.
    other = _signed(DOCUMENT | {"id": "snap-ffffffffffffffff"}, key_file)
    (state_dir / "snapshots" / f"{DOCUMENT['id']}.json").write_text(json.dumps(other))
    with pytest.raises(SnapshotNotFound, match="holds another snapshot"):
        store.load(DOCUMENT["id"])
    with pytest.raises(SnapshotNotFound, match="no snapshot key"):
        SnapshotStore(state_dir, tmp_path / "missing" / "snapshot.key").load(DOCUMENT["id"])
    assert not (tmp_path / "missing").exists()  # reading never creates a key


def test_the_default_key_location_and_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_key_file() == tmp_path / "xdg" / "shieldops" / "snapshot.key"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_key_file() == tmp_path / "home" / ".config" / "shieldops" / "snapshot.key"
    config = tmp_path / "shieldops.yaml"
    config.write_text(f"state_dir: {state_dir}\nenvironments:\n  aws: {{provider: aws, region: eu-west-1}}\n")
    assert load_config(config).snapshot_key_file == default_key_file()
    config.write_text(config.read_text() + "snapshot_key_file: keys/snapshot.key\n")
    assert load_config(config).snapshot_key_file == tmp_path / "keys" / "snapshot.key"
    config.write_text(config.read_text().replace("keys/snapshot.key", str(state_dir / "snapshot.key")))
    with pytest.raises(ConfigError, match=r"snapshot_key_file.*inside the state directory"):
        load_config(config)


def _action(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one of the collection's action plugins on a real Task, as the playbooks do: its imports of the
    collection go through Ansible's collection loader, not the plain packages that other unit tests import from
    sys.path (set aside meanwhile)."""
    plain = {k: sys.modules.pop(k) for k in list(sys.modules) if k.partition(".")[0] == "ansible_collections"}
    try:
        return run_action_plugin(name, args)
    finally:
        sys.modules.update(plain)


def _store_args(document: dict[str, Any]) -> dict[str, Any]:
    """snapshot_store's arguments for a document, as store_snapshot.yml passes them: the envelope as options, the
    provider's part (kind, handles, state) as ``snapshot``."""
    envelope = {"id": "snapshot_id", "resource_id": "resource_id", "environment": "environment"}
    envelope |= {"provider": "provider", "created_at": "created_at"}
    args = {option: document[field] for field, option in envelope.items()}
    return args | {"snapshot": {k: v for k, v in document.items() if k not in envelope}}


def test_the_playbooks_actions_sign_on_store_and_check_on_load(key_file: Path, state_dir: Path) -> None:
    stored = _action("snapshot_store", _store_args(DOCUMENT) | {"state_dir": str(state_dir), "key_file": str(key_file)})
    assert not stored.get("failed"), stored
    # The document as the facade reads it: the envelope first, then the provider's part, in the provider's order.
    assert list(stored["snapshot"].items()) == list(DOCUMENT.items())
    assert stored["ansible_facts"]["shieldops_snapshot"] == DOCUMENT
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # created on first use
    assert str(key_file.read_text().strip()) not in json.dumps(stored)  # the key is in no result
    document = json.loads(Path(stored["path"]).read_text())
    assert document["signature"].startswith("hmac-sha256:")
    wanted = {"snapshot_id": DOCUMENT["id"], "state_dir": str(state_dir), "key_file": str(key_file)}
    loaded = _action("snapshot_load", wanted | {"provider": "kubernetes", "environment": "kubernetes"})
    assert loaded["ansible_facts"]["shieldops_snapshot"] == DOCUMENT
    refused = _action("snapshot_load", wanted | {"provider": "kubernetes", "environment": "kubernetes-prod"})
    assert refused["failed"] and refused["msg"].startswith("invalid_request: snapshot snap-0123456789abcdef belongs")
    assert "ansible_facts" not in refused
    document["state"]["manifest"]["spec"] = {"template": {"spec": {"containers": [{"image": "evil"}]}}}
    Path(stored["path"]).write_text(json.dumps(document))
    tampered = _action("snapshot_load", wanted | {"provider": "kubernetes", "environment": "kubernetes"})
    assert tampered["failed"] and tampered["msg"].startswith("snapshot_not_found: snapshot snap-0123456789abcdef fails")
    assert "ansible_facts" not in tampered


def test_the_store_action_writes_the_envelope_once(key_file: Path, state_dir: Path) -> None:
    """The operation role gives the envelope; a provider's part that spells any of it again is refused, as is an
    id that is not one, before anything is written."""
    args = _store_args(DOCUMENT) | {"state_dir": str(state_dir), "key_file": str(key_file)}
    for field, value in (("id", DOCUMENT["id"]), ("resource_id", "deployment/shop/other")):
        again = _action("snapshot_store", args | {"snapshot": args["snapshot"] | {field: value}})
        assert again["failed"]
        assert again["msg"] == f"the provider's snapshot sets {field}, which the operation role sets"
    missing = _action("snapshot_store", {k: v for k, v in args.items() if k != "provider"})
    assert missing["failed"] and "needs a snapshot (a dict), snapshot_id, resource_id" in missing["msg"]
    for bad in ("snap-../../../etc/passwd", "snap-0123456789abcdef\n", "i-0123456789abcdef0"):
        refused = _action("snapshot_store", args | {"snapshot_id": bad})
        assert refused["failed"] and refused["msg"] == "invalid snapshot id"
    assert not state_dir.exists() and not key_file.exists()
