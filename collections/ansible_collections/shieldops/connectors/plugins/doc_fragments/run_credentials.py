# -*- coding: utf-8 -*-
from __future__ import annotations


class ModuleDocFragment(object):
    # What the lookups that fetch a run's own short-lived credentials take and how they keep them
    # (plugin_utils/run_credentials.py).
    DOCUMENTATION = r"""
notes:
  - The credentials are fetched once per run (this process) and again only shortly before they expire. They are
    never registered, set as a fact or returned by a task; only the tasks' environment holds them.
options:
  _terms:
    description: The environment's settings (shieldops_settings).
    required: true
"""
