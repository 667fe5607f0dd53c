# -*- coding: utf-8 -*-
"""The snapshot_id filter: the operation role names a snapshot with the one definition of a snapshot id
(plugin_utils/snapshot_signing.py), which the snapshot_store and snapshot_load actions and the facade use too."""
from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.plugin_utils import snapshot_signing

DOCUMENTATION = ""


def snapshot_id(requested, state_dir=None):
    """The snapshot id asked for, checked before any path is made from it (it names the snapshot's document and
    folder in the state directory); a new one when none is asked for (empty or none). With ``state_dir``, an id
    whose document exists is refused: a caller who may name a snapshot may not replace someone's way back."""
    if not requested:
        return snapshot_signing.new_snapshot_id()
    if not snapshot_signing.is_snapshot_id(requested):
        raise AnsibleFilterError("invalid_request: not a snapshot id")
    if state_dir and os.path.exists(snapshot_signing.document_path(state_dir, requested)):
        raise AnsibleFilterError("invalid_request: a snapshot %s exists already: name another, or none for a new one"
                                 % requested)
    return requested


class FilterModule(object):
    def filters(self):
        return {"snapshot_id": snapshot_id}
