# -*- coding: utf-8 -*-
"""Load a snapshot for rollback: only a document this installation signed, for the request's provider and
environment, becomes the fact rollback acts on.

The document comes from a folder that other processes can write to, and rollback acts on what it says (file
paths, modes and owners, files to remove, manifests applied with force, ECS handles): checked here, on the
controller, before any rollback step. The key is read here and goes nowhere else.
"""
from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.shieldops.connectors.plugins.plugin_utils import snapshot_signing

DOCUMENTATION = """
module: snapshot_load
short_description: Read a ShieldOps snapshot document, check its signature and its scope, and set it as a fact
description:
  - Checks the snapshot id, reads C(STATE_DIR/snapshots/ID.json), verifies its HMAC-SHA256 signature with the key
    in I(key_file) (in constant time) and that it holds snapshot ID, then that its provider and environment are
    the request's; sets the fact C(shieldops_snapshot) (without the signature).
  - A missing, unreadable, unsigned or forged document fails with C(snapshot_not_found:), another provider's or
    environment's with C(invalid_request:). The key file is never created here.
options:
  snapshot_id:
    description: The snapshot to load.
    type: str
    required: true
  state_dir:
    description: The ShieldOps state directory.
    type: path
    required: true
  key_file:
    description:
      - The signing key (see C(shieldops.connectors.snapshot_store)).
      - Default C($XDG_CONFIG_HOME/shieldops/snapshot.key), else C(~/.config/shieldops/snapshot.key).
    type: path
  provider:
    description: The request's provider; the document's must be the same.
    type: str
    required: true
  environment:
    description: The request's environment; the document's must be the same.
    type: str
    required: true
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("snapshot_id", "state_dir", "key_file", "provider", "environment"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        if not args.get("state_dir") or not args.get("provider") or not args.get("environment"):
            return dict(result, failed=True, msg="snapshot_load needs snapshot_id, state_dir, provider, environment")
        try:
            document = snapshot_signing.read_verified(
                args["state_dir"], args.get("snapshot_id"), args.get("key_file") or snapshot_signing.default_key_file())
        except snapshot_signing.SnapshotRefused as error:
            return dict(result, failed=True, msg="snapshot_not_found: %s" % error)
        for field in ("provider", "environment"):
            if document.get(field) != args[field]:
                return dict(result, failed=True, msg="invalid_request: snapshot %s belongs to %s %r, not %r" % (
                    document["id"], field, str(document.get(field))[:80], str(args[field])[:80]))
        result["ansible_facts"] = {"shieldops_snapshot": document}
        return result
