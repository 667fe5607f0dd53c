# -*- coding: utf-8 -*-
"""Store a snapshot: as a fact for the rest of the play and as a JSON document in the state directory.

The document is what rollback reads later from any process (facade, CLI, ansible-playbook, AWX), so it is written
atomically (a temporary file in the same folder, fsync, rename) with mode 0600 in a 0700 folder, and signed with
this installation's key (plugin_utils/snapshot_signing.py; the key is created on first use and never leaves this
plugin: not an argument, not a result). This runs on the controller, where the state directory is: one action
where the role ran file, stat and copy (each a module process of its own, ~20 ms apiece in the warm engine).
"""
from __future__ import annotations

import json
import os

from ansible.module_utils.common.json import get_encoder
from ansible.plugins.action import ActionBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils import snapshot_signing
from ansible_collections.shieldops.connectors.plugins.plugin_utils.private_files import write_privately

DOCUMENTATION = """
module: snapshot_store
short_description: Keep a ShieldOps snapshot as a fact and write its document into the state directory
description:
  - Makes the snapshot document, the envelope (C(id), C(resource_id), C(environment), C(provider), C(created_at),
    in that order) followed by the provider's I(snapshot); checks the snapshot id, then writes
    C(STATE_DIR/snapshots/ID.json) atomically (mode 0600, folder 0700), signed (HMAC-SHA256, field C(signature))
    with the key in I(key_file), and sets the cacheable fact C(shieldops_snapshot). In check mode nothing is
    written.
  - Returns the document as C(snapshot).
options:
  snapshot:
    description:
      - What the provider's snapshot task file knows (C(kind), C(handles), C(state)); none of the envelope's
        fields, which are the options below.
    type: dict
    required: true
  snapshot_id:
    description: The snapshot's id (shieldops.connectors.snapshot_id names it).
    type: str
    required: true
  resource_id:
    description: The resource snapshotted (the operation's resolved target).
    type: str
    required: true
  environment:
    description: The request's environment.
    type: str
    required: true
  provider:
    description: The request's provider.
    type: str
    required: true
  created_at:
    description: When the snapshot was named, ISO 8601 in UTC.
    type: str
    required: true
  state_dir:
    description: The ShieldOps state directory.
    type: path
    required: true
  key_file:
    description:
      - The signing key, outside the state directory; created (0600, folder 0700) on first use.
      - Default C($XDG_CONFIG_HOME/shieldops/snapshot.key), else C(~/.config/shieldops/snapshot.key).
    type: path
"""


# The envelope: the document's fields the operation knows, option -> field, in the document's order.
_ENVELOPE = {"snapshot_id": "id", "resource_id": "resource_id", "environment": "environment",
             "provider": "provider", "created_at": "created_at"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("snapshot", *_ENVELOPE, "state_dir", "key_file"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        provided = args.get("snapshot")
        state_dir = args.get("state_dir")
        missing = [option for option in _ENVELOPE if not args.get(option)]
        if not isinstance(provided, dict) or not state_dir or missing:
            return dict(result, failed=True, msg="snapshot_store needs a snapshot (a dict), %s and a state_dir"
                        % ", ".join(_ENVELOPE))
        spelled = sorted(set(provided) & set(_ENVELOPE.values()))
        if spelled:
            # One writer per field: a provider that disagreed with the operation would go unnoticed otherwise.
            return dict(result, failed=True, msg="the provider's snapshot sets %s, which the operation role sets"
                        % ", ".join(spelled))
        snapshot = {field: args[option] for option, field in _ENVELOPE.items()}
        snapshot.update(provided)
        if not snapshot_signing.is_snapshot_id(snapshot["id"]):
            # The id becomes a file name: nothing else may reach the path.
            return dict(result, failed=True, msg="invalid snapshot id")
        path = snapshot_signing.document_path(state_dir, snapshot["id"])
        result.update(changed=True, path=path, snapshot=snapshot)
        result["ansible_facts"] = {"shieldops_snapshot": snapshot}
        result["_ansible_facts_cacheable"] = True
        if self._task.check_mode:
            return result
        if os.path.exists(path):
            # name_snapshot refused the id already; two runs naming the same new id at once end here.
            result.pop("ansible_facts")
            result.pop("snapshot")
            return dict(result, failed=True, changed=False, msg="invalid_request: a snapshot %s exists already"
                        % snapshot["id"])
        try:
            key_file = snapshot_signing.check_key_location(
                self._task.args.get("key_file") or snapshot_signing.default_key_file(), state_dir)
            key = snapshot_signing.load_or_create_key(key_file)
        except (OSError, ValueError) as error:
            result.pop("ansible_facts")
            result.pop("snapshot")
            return dict(result, failed=True, changed=False, msg="cannot sign the snapshot: %s" % error)
        # Signed as plain JSON data, as every reader will parse it back.
        plain = json.loads(json.dumps(snapshot, cls=get_encoder("tagless")))
        document = json.dumps(snapshot_signing.sign(plain, key), indent=4, sort_keys=True, separators=(",", ": "))
        write_privately(path, (document + "\n").encode("utf-8"))
        return result
