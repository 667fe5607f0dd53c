# -*- coding: utf-8 -*-
"""Snapshot documents are signed: an HMAC-SHA256 with a key of this installation, kept outside the state directory.

A document is what rollback later acts on (paths, modes, manifests applied with force, ECS handles), read from a
folder that other processes can write to; the signature is what makes it ours and unedited. The signed bytes are
the document without its ``signature`` field in a canonical form (sorted keys, compact separators, ASCII), so the
writer and every reader compute them the same way from the parsed JSON.

Standard library only, and no imports from the collection or the shieldops_ansible package: the controller-side
action plugins (snapshot_store, snapshot_load) and the snapshot_id filter import it through Ansible's collection
loader, and the facade loads this same file by path, so there is one definition of the snapshot id (its pattern
and how a new one is made), the key location, the format and the checks.

The same key signs the facade's grants (``sign_grant``/``check_grant``): what the facade decided for one action
(its approver said yes, it counted the action under the rate limit), which the playbooks' policy check accepts
only with a valid signature, so an extra var alone cannot claim an approval. A grant is a different kind of
document (``kind: facade_grant``): neither can pass for the other.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time

__all__ = [
    "SNAPSHOT_ID",
    "action_digest",
    "SnapshotRefused",
    "canonical",
    "check_key_location",
    "default_key_file",
    "document_path",
    "is_snapshot_id",
    "load_key",
    "load_or_create_key",
    "new_snapshot_id",
    "read_verified",
    "sign",
    "sign_grant",
    "check_grant",
    "verify",
]

# A snapshot id names a file and a folder in the state directory: nothing but these characters may reach a path.
SNAPSHOT_ID_PREFIX = "snap-"
SNAPSHOT_ID = re.compile(r"^%s[a-z0-9][a-z0-9-]{7,62}$" % re.escape(SNAPSHOT_ID_PREFIX))
SIGNATURE_FIELD = "signature"
GRANT_KIND = "facade_grant"
# How long a grant is good: one run of the action it was made for starts within seconds.
GRANT_TTL_S = 300
_SCHEME = "hmac-sha256:"
_MIN_KEY_BYTES = 32


class SnapshotRefused(ValueError):
    """A snapshot document that cannot be trusted (missing, unreadable, unsigned, or its signature fails)."""


def is_snapshot_id(value):
    """Whether ``value`` is a snapshot id: a string of the pattern, all of it (``$`` alone would let a final
    newline through)."""
    return isinstance(value, str) and SNAPSHOT_ID.fullmatch(value) is not None


def new_snapshot_id():
    """A new snapshot id: the prefix and 20 random hexadecimal digits (80 bits)."""
    return SNAPSHOT_ID_PREFIX + secrets.token_hex(10)


def default_key_file():
    """$XDG_CONFIG_HOME/shieldops/snapshot.key, else ~/.config/shieldops/snapshot.key: the same for the facade and
    for a direct ansible-playbook run by the same user."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "shieldops", "snapshot.key")


def check_key_location(key_file, state_dir):
    """The key's absolute path; refuses one inside the state directory, where whoever edits documents could
    replace the key too."""
    key_file = os.path.expanduser(str(key_file))
    if not os.path.isabs(key_file):
        raise SnapshotRefused("the snapshot key file must be an absolute path, not %r" % key_file[:200])
    state = os.path.realpath(os.path.expanduser(str(state_dir)))
    real = os.path.realpath(key_file)
    if os.path.commonpath([state, real]) == state:
        raise SnapshotRefused("the snapshot key file %s is inside the state directory %s" % (key_file, state))
    return key_file


def load_key(key_file):
    """The key's bytes. Raises FileNotFoundError when there is none, SnapshotRefused when it is not private."""
    with open(key_file, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SnapshotRefused("the snapshot key %s is not a regular file" % key_file)
        if info.st_mode & 0o077:
            raise SnapshotRefused(
                "the snapshot key %s is readable or writable by others (mode %04o); chmod 600 it"
                % (key_file, stat.S_IMODE(info.st_mode)))
        key = handle.read(4096).strip()
    if len(key) < _MIN_KEY_BYTES:
        raise SnapshotRefused("the snapshot key %s is shorter than %d bytes" % (key_file, _MIN_KEY_BYTES))
    return key


def load_or_create_key(key_file):
    """The key, created on first use: 256 random bits, 0600 in a 0700 folder. Two processes racing on first use
    end with one key: each writes a complete temporary file and hard-links it to the key's name, which succeeds
    for one of them only (the others read the winner's key); a reader never sees a half-written key."""
    try:
        return load_key(key_file)
    except FileNotFoundError:
        pass
    folder = os.path.dirname(key_file)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    partial = "%s.%d.%s.partial" % (key_file, os.getpid(), secrets.token_hex(6))
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # whatever the umask
            out.write((secrets.token_hex(32) + "\n").encode("ascii"))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, key_file)
        except FileExistsError:
            pass  # another process created it first: its key is the key, read below
    finally:
        os.unlink(partial)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return load_key(key_file)


def canonical(document):
    """The signed bytes: the document without its signature, sorted keys, compact separators, ASCII."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _mac(document, key):
    return hmac.new(key, canonical(document), hashlib.sha256).hexdigest()


def sign(document, key):
    """The document (plain JSON data) with its signature field set."""
    return dict(document, **{SIGNATURE_FIELD: _SCHEME + _mac(document, key)})


def _refuse_unsigned(document):
    name = str(document.get("id", "?"))[:80]
    if document.get(SIGNATURE_FIELD) is None:
        raise SnapshotRefused(
            "snapshot %s has no signature (taken before snapshots were signed); take a new one with create_snapshot"
            % name)
    return name


def verify(document, key):
    """The document without its signature, if the signature is this key's; else SnapshotRefused."""
    name = _refuse_unsigned(document)
    signature = document[SIGNATURE_FIELD]
    expected = _SCHEME + _mac(document, key)
    # compare_digest: the time taken must not tell how much of a forged signature was right.
    if not isinstance(signature, str) or not hmac.compare_digest(signature.encode("utf-8"), expected.encode("ascii")):
        raise SnapshotRefused(
            "snapshot %s fails its signature check (edited after it was taken, or signed with another "
            "installation's key)" % name)
    return {k: v for k, v in document.items() if k != SIGNATURE_FIELD}


def document_path(state_dir, snapshot_id):
    """Where a snapshot's document is: STATE_DIR/snapshots/ID.json (the id checked by the caller)."""
    return os.path.join(os.path.expanduser(str(state_dir)), "snapshots", snapshot_id + ".json")


def read_verified(state_dir, snapshot_id, key_file):
    """Read STATE_DIR/snapshots/ID.json and return its verified content (without the signature). Refuses an id
    that is not a snapshot id, a missing or unreadable document, an unsigned or forged one, and one that holds
    another snapshot than its name says. Never creates the key."""
    if not is_snapshot_id(snapshot_id):
        raise SnapshotRefused("not a snapshot id: %r" % str(snapshot_id)[:80])
    key_file = check_key_location(key_file, state_dir)
    path = document_path(state_dir, snapshot_id)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise SnapshotRefused("no snapshot %s in the state directory" % snapshot_id) from None
    except OSError as error:
        raise SnapshotRefused("snapshot %s is unreadable: %s" % (snapshot_id, error.strerror)) from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise SnapshotRefused("snapshot %s is unreadable: not JSON" % snapshot_id) from None
    if not isinstance(document, dict):
        raise SnapshotRefused("snapshot %s is unreadable: not a JSON object" % snapshot_id)
    _refuse_unsigned(document)  # before the key: an old document is refused for what it is
    try:
        key = load_key(key_file)
    except FileNotFoundError:
        raise SnapshotRefused(
            "snapshot %s cannot be checked: no snapshot key at %s (the key that signed it is missing or the "
            "snapshot_key_file setting changed)" % (snapshot_id, key_file)) from None
    except OSError as error:
        raise SnapshotRefused(
            "snapshot %s cannot be checked: %s: %s" % (snapshot_id, key_file, error.strerror)) from None
    document = verify(document, key)
    if document.get("id") != snapshot_id:
        # A signed document of another snapshot put under this name.
        raise SnapshotRefused("the document of snapshot %s holds another snapshot" % snapshot_id)
    return document


def action_digest(environment, action):
    """What a grant is bound to: the environment and what the action does (type, resource, parameters)."""
    bound = {"environment": environment, "type": action.get("type"), "resource_id": action.get("resource_id"),
             "parameters": action.get("parameters") or {}}
    return hashlib.sha256(json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def sign_grant(key, environment, action, approved_by=None, rate_limit_reserved=False, now=None, ttl_s=GRANT_TTL_S):
    """The facade's signed grant for one action (plain JSON data)."""
    now = time.time() if now is None else now
    document = {"kind": GRANT_KIND, "action": action_digest(environment, action), "approved_by": approved_by,
                "rate_limit_reserved": bool(rate_limit_reserved), "expires_at": int(now + ttl_s)}
    return sign(document, key)


def check_grant(grant, key, environment, action, now=None):
    """The grant's content if it is the facade's, for this action and environment, and not expired; else
    SnapshotRefused saying why (never repeating the grant)."""
    now = time.time() if now is None else now
    if not isinstance(grant, dict) or grant.get("kind") != GRANT_KIND or not isinstance(grant.get(SIGNATURE_FIELD), str):
        raise SnapshotRefused("not a grant of the ShieldOps facade")
    expected = _SCHEME + _mac(grant, key)
    if not hmac.compare_digest(grant[SIGNATURE_FIELD].encode("utf-8"), expected.encode("ascii")):
        raise SnapshotRefused("the grant fails its signature check (not made by this installation's facade)")
    if not hmac.compare_digest(str(grant.get("action")), action_digest(environment, action)):
        raise SnapshotRefused("the grant is for another action or environment")
    if not isinstance(grant.get("expires_at"), int) or grant["expires_at"] <= now:
        raise SnapshotRefused("the grant has expired")
    return {k: v for k, v in grant.items() if k != SIGNATURE_FIELD}
