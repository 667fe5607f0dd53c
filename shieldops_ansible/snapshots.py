"""The snapshot store: JSON documents under ``<state_dir>/snapshots/``, written by the playbooks.

The create_snapshot playbook, and an execute_action run that snapshots first, write them (atomically, through the
shieldops.connectors.snapshot_store action), so snapshots taken by the facade, the CLI, plain ansible-playbook or
an AWX job are all found here; this module only reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from .errors import SnapshotNotFound, quote_untrusted
from .models import Snapshot

__all__ = ["SNAPSHOT_ID", "SnapshotStore"]

SNAPSHOT_ID = re.compile(r"^snap-[a-z0-9][a-z0-9-]{7,62}$")


class SnapshotStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "snapshots"

    def path(self, snapshot_id: str) -> Path:
        if not isinstance(snapshot_id, str) or not SNAPSHOT_ID.match(snapshot_id):
            raise SnapshotNotFound(f"not a snapshot id: {quote_untrusted(snapshot_id)}")
        return self.directory / f"{snapshot_id}.json"

    def exists(self, snapshot_id: str) -> bool:
        return self.path(snapshot_id).is_file()

    def load(self, snapshot_id: str) -> Snapshot:
        path = self.path(snapshot_id)
        try:
            return Snapshot.model_validate(json.loads(path.read_text()))
        except FileNotFoundError:
            raise SnapshotNotFound(f"no snapshot {snapshot_id} in {self.directory}") from None
        except (ValueError, ValidationError) as exc:
            raise SnapshotNotFound(f"snapshot {snapshot_id} is unreadable: {type(exc).__name__}") from None

    def list(self) -> list[Snapshot]:
        if not self.directory.exists():
            return []
        return sorted((self.load(p.stem) for p in self.directory.glob("snap-*.json")), key=lambda s: s.created_at)
