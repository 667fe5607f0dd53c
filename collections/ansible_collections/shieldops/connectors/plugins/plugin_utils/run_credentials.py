# -*- coding: utf-8 -*-
"""Short-lived credentials a playbook run gets for itself (the aws_assumed_role and gcp_access_token lookups), kept
for the run: the lookups are templated into every task's environment, and the credentials are fetched once and
again only shortly before they expire. In this process's memory only (one ansible-playbook run): never registered,
set as a fact or returned by a task; only the tasks' environment holds them."""
from __future__ import annotations

import time

__all__ = ["REFRESH_MARGIN_S", "kept_for_the_run", "settings_of"]

REFRESH_MARGIN_S = 300
_kept = {}


def kept_for_the_run(key, fetch):
    """The credentials ``fetch()`` returns as (value, expires_at), fetched once per ``key`` until
    REFRESH_MARGIN_S before they expire; the value."""
    kept = _kept.get(key)
    if kept is None or kept[1] - time.time() < REFRESH_MARGIN_S:
        kept = _kept[key] = fetch()
    return kept[0]


def settings_of(terms):
    """The settings a lookup was given (its one term, shieldops_settings), or {}."""
    return dict(terms[0]) if terms and isinstance(terms[0], dict) else {}
