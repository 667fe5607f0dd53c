"""Mint a short-lived GCP access token from a Workload Identity Federation config, on the controller.

The minting itself is the collection's ``plugin_utils/gcp_federation.py``, which the GCP role's gcp_access_token
lookup runs in a playbook run without the facade: one piece of code for both. Here its refusals become our errors.
"""

from __future__ import annotations

from ...errors import error_for_kind
from ...models import plugin_utils

__all__ = ["mint_access_token"]


def mint_access_token(credentials_file: str, https_proxy: str | None, ca_file: str | None) -> tuple[str, float]:
    """Return (access token, expiry as a Unix time)."""
    module = plugin_utils("gcp_federation")
    try:
        token, expires_at = module.mint_access_token(credentials_file, https_proxy, ca_file)
    except module.MintRefused as refused:
        raise error_for_kind(refused.kind, str(refused)) from None
    return str(token), float(expires_at)
