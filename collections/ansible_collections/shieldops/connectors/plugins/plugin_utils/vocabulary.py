# -*- coding: utf-8 -*-
"""The words of the contract that the playbooks and the facade both judge by, defined once: the states a resource
is in and the health statuses in their order of gravity.

Standard library only, and no imports from the collection or the shieldops_ansible package: the filters import it
through Ansible's collection loader, and the facade loads this same file by path (shieldops_ansible/models.py), as
it loads snapshot_signing.py. The facade's pydantic types (``ResourceState``, ``HealthState``) spell the words
again as ``typing.Literal``s for mypy; tests/unit/test_single_sources.py holds them equal to these.
"""
from __future__ import annotations

__all__ = ["HEALTH_STATUSES", "RESOURCE_STATES", "health_rank"]

# What a resource is doing, whatever its provider: every provider's native states map onto these.
RESOURCE_STATES = ("running", "stopped", "pending", "failed", "unknown")

# The health statuses, best first: healthy < unknown < degraded < unhealthy. The worst of a resource's checks is
# its status, and an action after which the status ranks higher made things worse.
HEALTH_STATUSES = ("healthy", "unknown", "degraded", "unhealthy")
_RANK = {status: rank for rank, status in enumerate(HEALTH_STATUSES)}


def health_rank(status):
    """The gravity of a health status, 0 for healthy; a status we do not know ranks as unknown."""
    return _RANK.get(status, _RANK["unknown"])
