"""The intercepting proxy hands a routed cloud API host to its local fake, over TLS with a certificate from the test
CA, keeps one tunnel for many requests, forwards plain proxy requests (IMDS), and refuses every other host without
connecting anywhere. The TestCA it uses is kept on disk and issues a certificate per host.

Only loopback: refused hosts are never connected to, and the client's "real" hosts all resolve at the proxy.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from shieldops_ansible.sandbox.intercepting_proxy import InterceptingProxy
from shieldops_ansible.sandbox.tls import TestCA, make_ca_and_server_cert

GCE = "compute.googleapis.com"
IMDS = "169.254.169.254"


class Fake:
    """A plain-HTTP server on loopback that answers every GET with its Host header, path and client port."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        seen = self.seen

        class Echo(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so one tunnel can carry several requests

            def do_GET(self) -> None:
                answer = {"host": self.headers["Host"], "path": self.path, "peer": self.client_address[1]}
                seen.append(answer)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.server.daemon_threads = True
        self.address = ("127.0.0.1", self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests merges these into every call; the tests name their proxy and CA themselves.
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def fake() -> Iterator[Fake]:
    server = Fake()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def proxy(ca: TestCA, fake: Fake, log: list[str]) -> Iterator[InterceptingProxy]:
    with InterceptingProxy({GCE: fake.address, IMDS: fake.address}, ca, log=log.append) as started:
        yield started


def _wait_for(lines: list[str], prefix: str, count: int = 1) -> list[str]:
    """The proxy logs a tunnel when it ends, from its own thread."""
    deadline = time.monotonic() + 2
    while True:
        found = [line for line in lines if line.startswith(prefix)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def _raw_connect(proxy: InterceptingProxy, target: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return sock, answer


def test_https_to_a_routed_host_reaches_its_fake(proxy: InterceptingProxy, ca: TestCA, log: list[str]) -> None:
    answer = requests.get(f"https://{GCE}/x", proxies={"https": proxy.url}, verify=str(ca.cert_path), timeout=5)
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("host", "path")} == {"host": GCE, "path": "/x"}


def test_one_tunnel_carries_a_sessions_requests(
    proxy: InterceptingProxy, ca: TestCA, fake: Fake, log: list[str]
) -> None:
    with requests.Session() as session:
        session.proxies = {"https": proxy.url}
        session.verify = str(ca.cert_path)
        paths = [session.get(f"https://{GCE}/compute/v1/{n}", timeout=5).json()["path"] for n in range(3)]
    assert paths == [f"/compute/v1/{n}" for n in range(3)]
    tunnels = _wait_for(log, f"CONNECT {GCE}:443")
    assert len(tunnels) == 1 and "closed by client" in tunnels[0], log
    assert len({seen["peer"] for seen in fake.seen}) == 1  # one connection to the fake, too


def test_an_unrouted_host_is_refused_and_nothing_is_reached(
    proxy: InterceptingProxy, ca: TestCA, fake: Fake, log: list[str]
) -> None:
    with pytest.raises(requests.exceptions.ProxyError, match="403"):
        requests.get("https://example.com/", proxies={"https": proxy.url}, verify=str(ca.cert_path), timeout=5)
    sock, answer = _raw_connect(proxy, "Example.COM:443")
    with sock:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n") and b"example.com is not routed" in answer
    assert fake.seen == []
    assert _wait_for(log, "CONNECT example.com:443", 2) == ["CONNECT example.com:443: refused (not routed)"] * 2


def test_without_the_test_ca_the_certificate_is_not_trusted(proxy: InterceptingProxy, fake: Fake) -> None:
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(f"https://{GCE}/x", proxies={"https": proxy.url}, timeout=5)
    assert fake.seen == []


def test_plain_proxy_requests_reach_a_routed_address_only(proxy: InterceptingProxy, fake: Fake, log: list[str]) -> None:
    url = f"http://{IMDS}/metadata/identity/oauth2/token?api-version=2018-02-01"
    answer = requests.get(url, proxies={"http": proxy.url}, headers={"Metadata": "true"}, timeout=5)
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("host", "path")} == {
        "host": IMDS,
        "path": "/metadata/identity/oauth2/token?api-version=2018-02-01",
    }
    refused = requests.get("http://10.1.2.3/latest/meta-data/", proxies={"http": proxy.url}, timeout=5)
    assert refused.status_code == 403 and "10.1.2.3 is not routed" in refused.text
    assert len(fake.seen) == 1
    assert _wait_for(log, f"HTTP {IMDS}")[0].endswith("closed by fake")
    assert "token" not in "".join(log)  # no paths (nor headers) in the log


def test_an_sni_for_another_host_is_refused_and_the_proxy_carries_on(
    proxy: InterceptingProxy, ca: TestCA, log: list[str]
) -> None:
    sock, answer = _raw_connect(proxy, f"{GCE}:443")
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\n"
    client = ssl.create_default_context(cafile=str(ca.cert_path))
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        client.wrap_socket(sock, server_hostname="storage.googleapis.com")
    sock.close()
    after = requests.get(f"https://{GCE}/after", proxies={"https": proxy.url}, verify=str(ca.cert_path), timeout=5)
    assert after.json()["path"] == "/after"
    assert _wait_for(log, f"CONNECT {GCE}:443: TLS refused")[0].endswith("(the client's SNI names another host)")


def test_a_fake_that_is_down_and_clients_that_misbehave_cost_one_connection_each(
    ca: TestCA, fake: Fake, log: list[str]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    down = closed.getsockname()
    closed.close()
    with InterceptingProxy({"down.googleapis.com": down, GCE: fake.address}, ca, log=log.append) as proxy:
        with pytest.raises(requests.exceptions.ProxyError, match="502"):
            requests.get("https://down.googleapis.com/", proxies={"https": proxy.url}, timeout=5)
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:  # TLS to the proxy itself, then gone
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:  # half a head, then gone
            sock.sendall(b"GET http://")
        answer = requests.get(f"https://{GCE}/ok", proxies={"https": proxy.url}, verify=str(ca.cert_path), timeout=5)
        assert answer.json()["path"] == "/ok"
    [line] = _wait_for(log, "CONNECT down.googleapis.com:443")
    assert line == f"CONNECT down.googleapis.com:443: fake at {down[0]}:{down[1]} unreachable (ConnectionRefusedError)"
    assert "refused (client spoke TLS to the proxy)" in "".join(log)


def test_stop_cuts_open_tunnels(ca: TestCA, fake: Fake, log: list[str]) -> None:
    proxy = InterceptingProxy({GCE: fake.address}, ca, log=log.append)
    proxy.start()
    sock, answer = _raw_connect(proxy, f"{GCE}:443")
    assert answer.startswith(b"HTTP/1.1 200 ")
    tls = ssl.create_default_context(cafile=str(ca.cert_path)).wrap_socket(sock, server_hostname=GCE)
    with tls:
        proxy.stop()
        assert tls.recv(1) == b""
    assert _wait_for(log, f"CONNECT {GCE}:443")[0].endswith("(cut by stop)")


def test_the_test_ca_is_kept_on_disk_and_issues_per_host(ca: TestCA) -> None:
    directory = ca.cert_path.parent
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
    loaded = TestCA.load(directory)
    assert loaded.certificate == ca.certificate
    leaf = x509.load_pem_x509_certificate(loaded.issue("Management.Azure.com").cert_pem)
    leaf.verify_directly_issued_by(ca.certificate)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["management.azure.com"]
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert leaf.not_valid_after_utc <= ca.certificate.not_valid_after_utc
    assert ca.server_context(GCE) is ca.server_context(GCE.upper())
    other = TestCA.create(directory / "other", valid_for=datetime.timedelta(hours=1))
    (directory / "mismatch").mkdir()
    (directory / "mismatch" / TestCA.CERT_FILE).write_bytes(ca.cert_path.read_bytes())
    (directory / "mismatch" / TestCA.KEY_FILE).write_bytes(other.key_path.read_bytes())
    with pytest.raises(ValueError, match="is not the key of"):
        TestCA.load(directory / "mismatch")


def test_make_ca_and_server_cert_still_gives_a_server_certificate_for_loopback(tmp_path: Path) -> None:
    ca_path, cert_path, key_path = make_ca_and_server_cert(tmp_path)
    assert [p.name for p in (ca_path, cert_path, key_path)] == ["ca.pem", "server.pem", "server.key"]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
