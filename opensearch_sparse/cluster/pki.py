"""A private CA and a server certificate for one secured local node, and owner-only files.

Every ``cluster start --secure`` install gets its own CA, never shared demo certificates: a
client that trusts ``ca.pem`` trusts this one node and nothing else. The CA's private key signs
the server certificate and is then dropped (never written), so nothing can later issue another
certificate this CA vouches for; renewing means a new CA, at the same ``ca.pem`` path.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opensearch_sparse import config

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` so that only the owner can ever read it (0600 from creation on, then an
    atomic rename: no moment where the file exists with wider permissions or half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def server_names(bind: str) -> list[str]:
    """Names the server certificate must carry: loopback, this machine's names, and the bind
    address when it is a specific one (clients verify the name they connected to)."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]
    if bind not in ("0.0.0.0", "::", "127.0.0.1"):
        names.append(bind)
    return list(dict.fromkeys(n for n in names if n))


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class Pki:
    """The TLS files of one secured node, in its ``secure/`` folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / CA_FILE

    @property
    def cert(self) -> Path:
        return self.folder / CERT_FILE

    @property
    def key(self) -> Path:
        return self.folder / KEY_FILE

    def current(self, names: list[str]) -> bool:
        """True when the certificate exists, names every host in ``names`` and stays valid for
        at least ``config.CERT_RENEW_DAYS`` more days."""
        if not (self.ca.is_file() and self.cert.is_file() and self.key.is_file()):
            return False
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        return left > dt.timedelta(days=config.CERT_RENEW_DAYS) and all(
            _san(n) in san for n in names
        )

    def issue(self, names: list[str], label: str) -> None:
        """Create a CA and a server certificate for ``names``; ``label`` names the node in both
        subjects so a user can tell which install a ``ca.pem`` belongs to."""
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate small clock skew
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opensearch-sparse"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"opensearch-sparse CA for {label}"),
            ]
        )
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=config.CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opensearch-sparse"),
                        x509.NameAttribute(NameOID.COMMON_NAME, label),
                    ]
                )
            )
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=config.CERT_VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_private(
            self.key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        # Certificates are public: clients (possibly other local users) must read ca.pem.
        for path, item in ((self.cert, cert), (self.ca, ca_cert)):
            write_private(path, item.public_bytes(serialization.Encoding.PEM))
            path.chmod(0o644)
