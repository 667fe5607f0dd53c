"""The HTTP transport's options (issue 18): which Host names pass, and which tokens are accepted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shieldops_ansible.errors import InvalidRequest
from shieldops_ansible.mcp_http import BearerToken, HttpOptions, is_loopback, load_token, transport_security


def test_host_names_that_pass() -> None:
    loopback = transport_security(HttpOptions())
    assert loopback.enable_dns_rebinding_protection and "127.0.0.1:*" in loopback.allowed_hosts
    bound = transport_security(HttpOptions(host="192.0.2.10", allowed_hosts=("mcp.example.org",)))
    assert bound.allowed_hosts == ["192.0.2.10:*", "mcp.example.org:*"]
    assert "https://mcp.example.org:*" in bound.allowed_origins
    assert transport_security(HttpOptions(host="2001:db8::1")).allowed_hosts == ["[2001:db8::1]:*"]
    with pytest.raises(InvalidRequest, match="--allowed-host"):
        transport_security(HttpOptions(host="0.0.0.0"))
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("192.0.2.10")
    assert HttpOptions(host="::1", port=9).url == "http://[::1]:9/mcp"


def test_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIELDOPS_MCP_TOKEN", raising=False)
    assert load_token(None) is None
    monkeypatch.setenv("SHIELDOPS_MCP_TOKEN", "short")
    with pytest.raises(InvalidRequest, match="at least 32") as refused:
        load_token(None)
    assert "short" not in str(refused.value)
    path = tmp_path / "token"
    path.write_text("x" * 40)
    path.chmod(0o600)
    assert load_token(path) == "x" * 40
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(InvalidRequest, match="not a regular file"):
        load_token(link)
    verifier = BearerToken("x" * 40)
    accepted = asyncio.run(verifier.verify_token("x" * 40))
    assert accepted is not None and accepted.token == "(redacted)" and accepted.subject == "bearer-token"
    assert asyncio.run(verifier.verify_token("y" * 40)) is None
