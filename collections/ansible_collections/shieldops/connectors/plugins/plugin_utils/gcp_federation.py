# -*- coding: utf-8 -*-
"""Mint a short-lived GCP access token from a Workload Identity Federation config, on the controller: the code the
facade (shieldops_ansible.providers.gcp, which caches tokens across runs) and the GCP role's gcp_access_token lookup
(a run without the facade: ansible-playbook, AWX) share.

google-auth reads the ``external_account`` config, fetches the subject token from where it says (a file, a URL,
AWS), exchanges it at STS and, when the config names a service account, impersonates it. Errors are MintRefused
with a kind (config_error, authentication, permission_denied, backend_unavailable: the facade's error kinds) and a message naming what failed and
Google's error code only: the responses may quote the request, and the subject token is a secret. Only the
standard library at import time (the facade loads this file by path).
"""
from __future__ import annotations

import datetime
import json
import re
import time

__all__ = ["SCOPES", "MintRefused", "connection_env", "mint_access_token"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_ERROR_CODE = re.compile(r"Error code ([a-z_]+)")


class MintRefused(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def connection_env(settings):
    """How a run reaches Google, from the environment's settings (the token aside): the project, the token kind,
    the quota project, the proxy and the CA, as google.cloud's modules and ours read them. The facade's runs and
    the GCP role's task environment (the gcp_connection_env filter) both take it from here."""
    env = {"GCP_AUTH_KIND": "accesstoken", "GCP_PROJECT": str(settings["project"])}
    if settings.get("quota_project"):
        env["GOOGLE_CLOUD_QUOTA_PROJECT"] = str(settings["quota_project"])
    if settings.get("https_proxy"):
        env["HTTPS_PROXY"] = str(settings["https_proxy"])
    if settings.get("ca_file"):
        env["REQUESTS_CA_BUNDLE"] = str(settings["ca_file"])
    return env


def mint_access_token(credentials_file, https_proxy=None, ca_file=None):
    """Return (access token, expiry as a Unix time)."""
    import google.auth.exceptions
    import requests
    from google.auth.transport.requests import Request

    info = _federation_config(credentials_file)
    try:
        credentials = _credentials_from(info)
    except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
        raise MintRefused(
            "config_error", f"credentials_file {credentials_file}: not a usable external_account config ({exc})") from None
    session = requests.Session()
    # Only what the settings say: the controller's own proxy variables are not the environment's business.
    session.trust_env = False
    if https_proxy:
        session.proxies = {"https": https_proxy}
    if ca_file:
        session.verify = ca_file
    try:
        credentials.refresh(Request(session=session))
    except google.auth.exceptions.TransportError as exc:
        raise MintRefused(
            "backend_unavailable", f"Google's token endpoints unreachable: {type(exc.__cause__ or exc).__name__}"
        ) from None
    except (google.auth.exceptions.RefreshError, google.auth.exceptions.OAuthError) as exc:
        raise _refusal(exc) from None
    finally:
        session.close()
    token = credentials.token
    if not isinstance(token, str) or not token:
        raise MintRefused("authentication", "Workload Identity Federation returned no access token")
    expiry = credentials.expiry  # google-auth keeps it as a naive UTC datetime
    expires_at = expiry.replace(tzinfo=datetime.timezone.utc).timestamp() if expiry is not None else time.time() + 300
    return token, expires_at


def _credentials_from(info):
    """The credentials class for the config's subject-token source, as google.auth.default picks it, without
    load_credentials_from_file's project lookup (a token exchange and a Resource Manager call, outside our
    session, at every load)."""
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        from google.auth import aws

        return aws.Credentials.from_info(info, scopes=list(SCOPES))
    if "executable" in source:
        from google.auth import pluggable

        return pluggable.Credentials.from_info(info, scopes=list(SCOPES))
    from google.auth import identity_pool

    return identity_pool.Credentials.from_info(info, scopes=list(SCOPES))


def _federation_config(path):
    try:
        with open(path) as handle:
            document = json.load(handle)
    except OSError as exc:
        raise MintRefused("config_error", f"cannot read credentials_file {path}: {exc.strerror}") from None
    except ValueError:
        raise MintRefused("config_error", f"credentials_file {path} is not JSON") from None
    kind = document.get("type") if isinstance(document, dict) else None
    if kind != "external_account":
        # A service-account key would work with google-auth, and is exactly what PRD-005 rules out.
        raise MintRefused(
            "config_error",
            f"credentials_file {path} is of type {kind!r}; only Workload Identity Federation "
            "(type external_account) configs are accepted, never service-account keys",
        )
    return dict(document)


def _refusal(exc):
    first = str(exc.args[0]) if exc.args else ""
    if first.startswith("Unable to acquire impersonated credentials"):
        # iamcredentials answered with an error: the federated identity may not impersonate the account.
        status = _google_status(exc.args[1] if len(exc.args) > 1 else "")
        if status in {"PERMISSION_DENIED", "NOT_FOUND"}:
            return MintRefused("permission_denied", f"service account impersonation refused: {status}")
        return MintRefused("authentication", f"service account impersonation failed: {status or 'error'}")
    code = _ERROR_CODE.search(first)
    if code:
        return MintRefused("authentication", f"the STS token exchange was refused: {code.group(1)}")
    if "was not found" in first or "Unable to retrieve" in first:
        return MintRefused("authentication", "the subject token could not be read from the credential source")
    return MintRefused("authentication", f"Workload Identity Federation failed: {type(exc).__name__}")


def _google_status(body):
    try:
        status = json.loads(body)["error"]["status"]
    except (ValueError, KeyError, TypeError):
        return None
    return status if isinstance(status, str) and re.fullmatch(r"[A-Z_]{1,40}", status) else None
