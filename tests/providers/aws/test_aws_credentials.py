"""The AssumeRole cache, with a fake STS call (the real one is exercised against moto in the integration tests)."""

from __future__ import annotations

import time

import pytest

from shieldops_ansible.providers import aws
from shieldops_ansible.providers.aws import AwsProvider, AwsSettings

SETTINGS = AwsSettings(provider="aws", region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/sre")


class FakeSts:
    def __init__(self) -> None:
        self.calls = 0
        self.lifetime_s = 3600.0

    def assume(self, settings: AwsSettings) -> aws._Cached:
        self.calls += 1
        return aws._Cached(
            env={"AWS_ACCESS_KEY_ID": f"ASIA{self.calls}", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"},
            expires_at=time.time() + self.lifetime_s,
        )


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> FakeSts:
    fake = FakeSts()
    monkeypatch.setattr(aws, "_assume_role", fake.assume)
    return fake


async def test_credentials_are_cached_until_near_expiry(sts: FakeSts) -> None:
    provider = AwsProvider()
    first = await provider.credentials_env(SETTINGS)
    second = await provider.credentials_env(SETTINGS)
    assert sts.calls == 1 and first == second
    assert first["AWS_REGION"] == "eu-west-1" and first["AWS_ACCESS_KEY_ID"] == "ASIA1"


async def test_credentials_refresh_shortly_before_expiry(sts: FakeSts) -> None:
    sts.lifetime_s = 200  # inside the refresh margin: every call must assume again
    provider = AwsProvider()
    await provider.credentials_env(SETTINGS)
    again = await provider.credentials_env(SETTINGS)
    assert sts.calls == 2 and again["AWS_ACCESS_KEY_ID"] == "ASIA2"


async def test_no_role_passes_profile_without_assuming(sts: FakeSts) -> None:
    settings = AwsSettings(provider="aws", region="eu-west-1", profile="sso-dev")
    env = await AwsProvider().credentials_env(settings)
    assert sts.calls == 0 and env["AWS_PROFILE"] == "sso-dev" and "AWS_SECRET_ACCESS_KEY" not in env


async def test_kubernetes_token_file_is_read_at_every_call(tmp_path: object) -> None:
    from pathlib import Path

    from shieldops_ansible import AuthenticationError
    from shieldops_ansible.providers.kubernetes import KubernetesProvider, KubernetesSettings

    token = Path(str(tmp_path)) / "token"
    token.write_text("first\n")
    settings = KubernetesSettings(
        provider="kubernetes", server="https://127.0.0.1:6443", ca_file="/ca.pem", token_file=str(token)
    )
    provider = KubernetesProvider()
    assert (await provider.credentials_env(settings))["K8S_AUTH_API_KEY"] == "first"
    token.write_text("rotated")  # what the kubelet does to a projected token
    env = await provider.credentials_env(settings)
    assert env["K8S_AUTH_API_KEY"] == "rotated" and env["K8S_AUTH_VERIFY_SSL"] == "true"
    token.write_text("")
    with pytest.raises(AuthenticationError, match="empty"):
        await provider.credentials_env(settings)


def test_kubernetes_settings_take_one_way_in() -> None:
    from pydantic import ValidationError

    from shieldops_ansible.providers.kubernetes import KubernetesSettings

    with pytest.raises(ValidationError):
        KubernetesSettings(provider="kubernetes")
    with pytest.raises(ValidationError):
        KubernetesSettings(provider="kubernetes", kubeconfig="/k", server="https://x", ca_file="/c", token_file="/t")
    assert KubernetesSettings(provider="kubernetes", kubeconfig="~/k", context="prod").kubeconfig.endswith("/k")


def test_a_garbled_sts_answer_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real AssumeRole call (botocore, no fake) against a loopback server that answers 200 with a body that is
    not STS's XML: botocore raises a parser error, which must surface typed, not as a botocore exception."""
    import http.server
    import threading

    from shieldops_ansible import BackendUnavailable

    class Garbled(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<<not xml at all"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-only-not-a-secret")
    try:
        settings = AwsSettings(
            provider="aws",
            region="eu-west-1",
            role_arn="arn:aws:iam::123456789012:role/sre",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        )
        with pytest.raises(BackendUnavailable, match="sts:AssumeRole failed: "):
            aws._assume_role(settings)
    finally:
        server.shutdown()
        server.server_close()
