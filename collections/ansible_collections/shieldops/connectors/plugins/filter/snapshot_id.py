# -*- coding: utf-8 -*-
"""The snapshot_id filter: the operation role names a snapshot with the one definition of a snapshot id
(plugin_utils/snapshot_signing.py), which the snapshot_store and snapshot_load actions and the facade use too."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.shieldops.connectors.plugins.plugin_utils import snapshot_signing

DOCUMENTATION = ""


def snapshot_id(requested):
    """The snapshot id asked for, checked before any path is made from it (it names the snapshot's document and
    folder in the state directory); a new one when none is asked for (empty or none)."""
    if not requested:
        return snapshot_signing.new_snapshot_id()
    if not snapshot_signing.is_snapshot_id(requested):
        raise AnsibleFilterError("invalid_request: not a snapshot id")
    return requested


class FilterModule(object):
    def filters(self):
        return {"snapshot_id": snapshot_id}
