"""The snapshot store: signed JSON documents under ``<state_dir>/snapshots/``, written by the playbooks.

The create_snapshot playbook, and an execute_action run that snapshots first, write them (atomically and signed,
through the shieldops.connectors.snapshot_store action), so snapshots taken by the facade, the CLI, plain
ansible-playbook or an AWX job are all found here; this module only reads, and only documents whose signature is
this installation's key's.

The snapshot id (its pattern and how a new one is made), the key location, the signed form and the checks are
defined once, in the collection's ``plugin_utils/snapshot_signing.py`` (the playbooks' plugins cannot import this
package); this module loads that same file by path, from the project whose playbooks the engines run.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from .errors import SnapshotNotFound, quote_untrusted
from .models import Snapshot, plugin_utils

__all__ = ["SnapshotStore", "default_key_file", "signing"]


def signing() -> ModuleType:
    """The collection's snapshot_signing module."""
    return plugin_utils("snapshot_signing")


def default_key_file() -> Path:
    """$XDG_CONFIG_HOME/shieldops/snapshot.key, else ~/.config/shieldops/snapshot.key (the playbooks' default)."""
    return Path(signing().default_key_file())


class SnapshotStore:
    def __init__(self, state_dir: Path, key_file: Path | None = None) -> None:
        self.state_dir = state_dir
        self.directory = state_dir / "snapshots"
        self.key_file = key_file if key_file is not None else default_key_file()

    @staticmethod
    def new_id() -> str:
        """A new snapshot id."""
        new: str = signing().new_snapshot_id()
        return new

    def path(self, snapshot_id: str) -> Path:
        if not signing().is_snapshot_id(snapshot_id):
            raise SnapshotNotFound(f"not a snapshot id: {quote_untrusted(snapshot_id)}")
        return self.directory / f"{snapshot_id}.json"

    def exists(self, snapshot_id: str) -> bool:
        return self.path(snapshot_id).is_file()

    def grant(
        self,
        environment: str,
        action: dict[str, Any],
        *,
        approved_by: str | None = None,
        rate_limit_reserved: bool = False,
    ) -> dict[str, Any]:
        """The facade's signed grant for one action (its approver's yes, its rate-limit count), which the
        playbooks' policy check verifies with this installation's key (created on first use, as for snapshots)."""
        module = signing()
        key = module.load_or_create_key(str(self.key_file))
        grant: dict[str, Any] = module.sign_grant(
            key, environment, action, approved_by=approved_by, rate_limit_reserved=rate_limit_reserved
        )
        return grant

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
        for path in self.directory.glob(f"{signing().SNAPSHOT_ID_PREFIX}*.json"):
            try:
                found.append(self.load(path.stem))
            except SnapshotNotFound:
                continue
        return sorted(found, key=lambda s: s.created_at)
