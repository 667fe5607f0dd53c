"""Throwaway test certificates: a CA and a server certificate for 127.0.0.1 written as PEM files
(``make_ca_and_server_cert``), and a ``TestCA`` kept on disk that issues a certificate per host name on demand (the
intercepting proxy's, which poses as each cloud API host)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["IssuedCertificate", "TestCA", "make_ca_and_server_cert"]

_CA_NAME = "shieldops test CA"
_LIFETIME = datetime.timedelta(days=1)
# Backdated so that a client whose clock is slightly behind ours does not see a certificate from the future.
_BACKDATE = datetime.timedelta(minutes=5)


class IssuedCertificate(NamedTuple):
    """A leaf certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _common_name(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 rather than chmod-ed after writing, so the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # O_CREAT's mode does not apply to a file that already existed
        file.write(data)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, valid_for: datetime.timedelta) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = _common_name(_CA_NAME)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Key identifiers: OpenSSL's X509 strict mode (Python 3.13's default client context) refuses chains without.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    names: list[x509.GeneralName],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_common_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        # Never past the CA: a CA loaded from disk may have less than a day left.
        .not_valid_after(min(now + _LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_ca_and_server_cert(directory: Path, common_name: str = "shieldops-sandbox") -> tuple[Path, Path, Path]:
    """Return (ca.pem, server.pem, server.key)."""
    ca_key = _new_key()
    ca = _ca_certificate(ca_key, _LIFETIME)
    key = _new_key()
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = _leaf_certificate(ca, ca_key, key, common_name, names)
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(_cert_pem(ca))
    cert_path.write_bytes(_cert_pem(cert))
    _write_private(key_path, _key_pem(key))
    return ca_path, cert_path, key_path


class TestCA:
    """A CA kept as two PEM files in a directory, issuing a server certificate for any host name.

    Clients trust ``cert_path`` (``REQUESTS_CA_BUNDLE``); ``server_context(host)`` is what a server posing as
    ``host`` wraps its sockets with. Thread-safe.
    """

    __test__ = False  # pytest would otherwise try to collect this class from any test module that imports it
    CERT_FILE = "test-ca.pem"  # not ca.pem: make_ca_and_server_cert may write that into the same directory
    KEY_FILE = "test-ca.key"

    def __init__(self, directory: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        """Use ``create`` or ``load``."""
        self._directory = directory
        self._certificate = certificate
        self._key = key
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path, *, valid_for: datetime.timedelta = _LIFETIME) -> TestCA:
        """A new CA, written to ``directory`` (created if missing; the key file 0600), replacing any CA there."""
        key = _new_key()
        certificate = _ca_certificate(key, valid_for)
        directory.mkdir(parents=True, exist_ok=True)
        _write_private(directory / cls.KEY_FILE, _key_pem(key))
        (directory / cls.CERT_FILE).write_bytes(_cert_pem(certificate))
        return cls(directory, certificate, key)

    @classmethod
    def load(cls, directory: Path) -> TestCA:
        """The CA ``create`` wrote to ``directory``; ValueError if its files do not belong together."""
        certificate = x509.load_pem_x509_certificate((directory / cls.CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((directory / cls.KEY_FILE).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / cls.KEY_FILE} holds no EC private key")
        if key.public_key() != certificate.public_key():
            raise ValueError(f"{directory / cls.KEY_FILE} is not the key of {directory / cls.CERT_FILE}")
        return cls(directory, certificate, key)

    @property
    def cert_path(self) -> Path:
        return self._directory / self.CERT_FILE

    @property
    def key_path(self) -> Path:
        return self._directory / self.KEY_FILE

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def issue(self, host: str) -> IssuedCertificate:
        """A new server certificate (serverAuth) for ``host``, a DNS name (or an IP address), and its key."""
        host = host.lower()
        key = _new_key()
        cert = _leaf_certificate(self._certificate, self._key, key, host, [_host_name(host)])
        return IssuedCertificate(_cert_pem(cert), _key_pem(key))

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for ``host``; one per host, made on first use.

        A client whose SNI names another host is refused during the handshake rather than shown a certificate
        for the wrong name.
        """
        host = host.lower()
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = self._new_context(host)
            return context

    def _new_context(self, host: str) -> ssl.SSLContext:
        issued = self.issue(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # The servers behind are HTTP/1.1 and bytes are relayed unchanged: a client must not negotiate HTTP/2.
        context.set_alpn_protocols(["http/1.1"])
        # load_cert_chain reads only files; mkdtemp's directory is 0700 and gone once the key is loaded.
        with tempfile.TemporaryDirectory(prefix="shieldops-tls-") as scratch:
            cert_file, key_file = Path(scratch, "cert.pem"), Path(scratch, "key.pem")
            cert_file.write_bytes(issued.cert_pem)
            _write_private(key_file, issued.key_pem)
            context.load_cert_chain(cert_file, key_file)

        def refuse_other_names(_conn: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> int | None:
            if server_name is not None and server_name.lower() != host:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            return None

        context.sni_callback = refuse_other_names
        return context
