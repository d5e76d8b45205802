"""A throwaway CA and server certificate, so the simulator serves HTTPS like a real API server.

kubectl (client-go) sends a kubeconfig's bearer token only over TLS, so a plain-HTTP API server
would never see credentials. The CA goes into the kubeconfig as certificate-authority-data.
The real control plane also gets client certificates (``client_certificate``) for its admin
and its components, signed by the same CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    """PEM files written for one simulator run."""

    ca_pem: bytes
    cert_path: Path
    key_path: Path
    ca_path: Path
    ca_key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context that serves the certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _signed(
    subject: x509.Name, public: ec.EllipticCurvePublicKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )


def make_certificates(out_dir: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")) -> Certificates:
    """Create a CA and a server certificate for ``hosts``, valid for 30 days, in ``out_dir``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fleetctl-simulator-ca"))
        .issuer_name(_name("fleetctl-simulator-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        _signed(_name("kube-apiserver"), key.public_key(), ca, ca_key)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    paths = (out_dir / "ca.crt", out_dir / "server.crt", out_dir / "server.key", out_dir / "ca.key")
    paths[0].write_bytes(ca_pem)
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for path, pem in ((paths[2], _key_pem(key)), (paths[3], _key_pem(ca_key))):
        path.write_bytes(pem)
        path.chmod(0o600)
    return Certificates(ca_pem=ca_pem, ca_path=paths[0], cert_path=paths[1], key_path=paths[2], ca_key_path=paths[3])


def client_certificate(certs: Certificates, user: str, groups: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A client certificate (PEM cert, PEM key) for ``user`` in ``groups``, as the API server reads
    them from CN and O, signed by the run's CA."""
    ca = x509.load_pem_x509_certificate(certs.ca_pem)
    ca_key = serialization.load_pem_private_key(certs.ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
            x509.NameAttribute(NameOID.COMMON_NAME, user),
        ]
    )
    cert = (
        _signed(subject, key.public_key(), ca, ca_key)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def signing_key(path: Path) -> Path:
    """An EC private key (PEM) at ``path``, e.g. for service-account tokens; its public half beside it (.pub)."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(_key_pem(key))
    path.chmod(0o600)
    pub = path.with_suffix(".pub")
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pub
