"""The snapshot store: signed JSON documents under ``<state_dir>/snapshots/``, written by the playbooks.

The create_snapshot playbook, and an execute_action run that snapshots first, write them (atomically and signed,
through the shieldops.connectors.snapshot_store action), so snapshots taken by the facade, the CLI, plain
ansible-playbook or an AWX job are all found here; this module only reads, and only documents whose signature is
this installation's key's.

The key location, the signed form and the checks are defined once, in the collection's
``plugin_utils/snapshot_signing.py`` (the playbooks' action plugins cannot import this package); this module loads
that same file by path, from the project whose playbooks the engines run.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from .errors import SnapshotNotFound, quote_untrusted
from .models import Snapshot
from .paths import project_dir

__all__ = ["SnapshotStore", "default_key_file", "signing"]

_SIGNING_FILE = "collections/ansible_collections/shieldops/connectors/plugins/plugin_utils/snapshot_signing.py"


@cache
def signing() -> ModuleType:
    """The collection's snapshot_signing module (standard library only, so it loads outside Ansible)."""
    name = "shieldops_ansible._snapshot_signing"
    path = project_dir() / _SIGNING_FILE
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        # SHIELDOPS_PROJECT_DIR naming a project older than signed snapshots, for example.
        raise ImportError(f"cannot load {path}: the project's playbooks do not match this package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def default_key_file() -> Path:
    """$XDG_CONFIG_HOME/shieldops/snapshot.key, else ~/.config/shieldops/snapshot.key (the playbooks' default)."""
    return Path(signing().default_key_file())


class SnapshotStore:
    def __init__(self, state_dir: Path, key_file: Path | None = None) -> None:
        self.state_dir = state_dir
        self.directory = state_dir / "snapshots"
        self.key_file = key_file if key_file is not None else default_key_file()

    def path(self, snapshot_id: str) -> Path:
        # Looked up at use, not at import: importing the package must not depend on the project folder.
        if not isinstance(snapshot_id, str) or not signing().SNAPSHOT_ID.match(snapshot_id):
            raise SnapshotNotFound(f"not a snapshot id: {quote_untrusted(snapshot_id)}")
        return self.directory / f"{snapshot_id}.json"

    def exists(self, snapshot_id: str) -> bool:
        return self.path(snapshot_id).is_file()

    def load(self, snapshot_id: str) -> Snapshot:
        """The snapshot, if its document is signed with this installation's key and holds that snapshot;
        SnapshotNotFound otherwise (missing, unreadable, unsigned, edited, or signed with another key)."""
        self.path(snapshot_id)
        module = signing()
        try:
            document: Any = module.read_verified(str(self.state_dir), snapshot_id, str(self.key_file))
            return Snapshot.model_validate(document)
        except module.SnapshotRefused as exc:
            raise SnapshotNotFound(str(exc)) from None
        except ValidationError as exc:
            raise SnapshotNotFound(f"snapshot {snapshot_id} is unreadable: {type(exc).__name__}") from None

    def list(self) -> list[Snapshot]:
        """The snapshots that load (signed with this installation's key), oldest first."""
        if not self.directory.exists():
            return []
        found = []
        for path in self.directory.glob("snap-*.json"):
            try:
                found.append(self.load(path.stem))
            except SnapshotNotFound:
                continue
        return sorted(found, key=lambda s: s.created_at)
