"""A self-signed TLS certificate for the tests that talk gRPC over TLS (client and served ingress)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from content_signals.config import TlsConfig

HOSTNAME = "signals.test"


def self_signed_pem(hostname: str = HOSTNAME) -> tuple[bytes, bytes]:
    """A fresh key and a certificate for ``hostname`` signed by that key, both PEM: ``(key, cert)``.

    The certificate is its own CA (basic constraints ``ca=True``) so a client can trust it as the root,
    and names ``hostname`` only, never 127.0.0.1, so a client must override the server name to connect.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def self_signed_tls(directory: Path, hostname: str = HOSTNAME) -> TlsConfig:
    """:func:`self_signed_pem` written to ``directory`` as ``key.pem`` and ``cert.pem``, as the server's
    TLS settings."""
    key_pem, cert_pem = self_signed_pem(hostname)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    return TlsConfig(cert_path=directory / "cert.pem", key_path=directory / "key.pem")
