"""The MCP server's streamable HTTP transport: loopback by default, a bearer token required anywhere else.

On loopback the SDK's DNS-rebinding protection is on (Host and Origin must name the loopback address), so a web
page the user visits cannot reach the server through a name that resolves to 127.0.0.1. Bound to any other
address the server refuses to start without a bearer token, and checks Host against the bound name (or the
``--allowed-host`` names, required for a wildcard bind). The token comes from a file only its owner can read or from
``SHIELDOPS_MCP_TOKEN``, never from the command line (where ``ps`` shows it); it is compared in constant time and
never logged, stored or echoed. Audit records of calls over HTTP name the transport, the session and the token's
subject (``bearer-token``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from .errors import InvalidRequest

__all__ = [
    "MIN_TOKEN_CHARS",
    "TOKEN_ENV",
    "BearerToken",
    "HttpOptions",
    "auth_settings",
    "is_loopback",
    "load_token",
    "transport_security",
]

TOKEN_ENV = "SHIELDOPS_MCP_TOKEN"
MIN_TOKEN_CHARS = 32
_WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token_file: Path | None = None
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(token_file: Path | None) -> str | None:
    """The bearer token: from ``token_file`` (a regular file of ours that group and others cannot read), else from
    ``SHIELDOPS_MCP_TOKEN``, else None. Raises InvalidRequest naming what is wrong, never the token."""
    if token_file is not None:
        try:
            info = token_file.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise InvalidRequest(f"the token file {token_file} is not a regular file")
            if info.st_mode & 0o077:
                raise InvalidRequest(f"the token file {token_file} is readable by group or others: chmod 600 it")
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise InvalidRequest(f"the token file {token_file} cannot be read: {error.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise InvalidRequest(
            f"the bearer token must be at least {MIN_TOKEN_CHARS} characters without spaces "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


class BearerToken:
    """The SDK's TokenVerifier for one static token."""

    def __init__(self, token: str, subject: str = "bearer-token") -> None:
        self._token = token.encode()
        self._subject = subject

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.encode(), self._token):
            return None
        # What the SDK keeps of the request's identity: never the token itself.
        return AccessToken(token="(redacted)", client_id="shieldops-bearer", scopes=[], subject=self._subject)


def auth_settings(options: HttpOptions) -> AuthSettings:
    """Resource-server settings for a static token (no authorization server: the token is the operator's)."""
    return AuthSettings(
        issuer_url=options.url.removesuffix("/mcp"),  # type: ignore[arg-type]
        resource_server_url=options.url,  # type: ignore[arg-type]
        validate_token_resource=False,  # one static token, for this server only
    )


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: Host and Origin must name the loopback address (the SDK's own rule for loopback)
    or, bound elsewhere, the bound address; and any ``--allowed-host``."""
    if is_loopback(options.host):
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", *(f"{h}:*" for h in options.allowed_hosts)],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    if options.host in _WILDCARDS and not options.allowed_hosts:
        raise InvalidRequest(
            f"binding {options.host or 'every address'} needs --allowed-host NAME (the names clients use): "
            "Host headers are checked against them"
        )
    names = [h for h in (options.host, *options.allowed_hosts) if h not in _WILDCARDS]
    hosts = [f"[{h}]" if ":" in h else h for h in names]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in hosts],
        allowed_origins=[f"{scheme}://{h}:*" for h in hosts for scheme in ("http", "https")],
    )
