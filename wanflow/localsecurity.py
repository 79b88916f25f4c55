"""Locking down the local SeaweedFS server: only S3 clients with the credentials get in.

``weed mini`` runs a master, a volume server, a filer, an S3 gateway and an admin gRPC service in
one process, each with TCP ports of its own. Binding them to 127.0.0.1 keeps other machines out,
not other users of this one: through the master's or filer's gRPC port ``weed shell`` reads and
writes every bucket and prints the S3 secret key, and the HTTP ports serve UIs and file data.
So every port but S3 demands a client certificate:

* gRPC (master, volume, filer, S3, admin): mutual TLS with a certificate authority made afresh
  for each start, whose private key is never written anywhere;
* HTTP (master, volume, filer): HTTPS with the same mutual TLS, and the internal HTTP clients
  present the certificate;
* JWT signing keys, random per start, on the volume and filer HTTP APIs as a second lock.

The certificates and the S3 identity file reach ``weed`` as anonymous files (``O_TMPFILE``,
never linked into a directory) that it inherits as open descriptors and opens as
``/dev/fd/N``; the signing keys travel in its environment (readable only by its owner). Nothing
with a secret in it is left on disk, whatever happens to either process.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Every weed component that serves or dials gRPC, and those that serve HTTP.
GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")
HTTPS_COMPONENTS = ("master", "volume", "filer", "admin")


def _certificates() -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and one certificate it signed (PEM): CA, certificate, private key."""
    now = datetime.datetime.now(datetime.UTC)
    valid = {
        "not_valid_before": now - datetime.timedelta(minutes=5),
        "not_valid_after": now + datetime.timedelta(days=365),
    }
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wanflow local S3 CA")])
    ca = (
        x509.CertificateBuilder(subject_name=ca_name, issuer_name=ca_name, **valid)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wanflow-local-s3")])
    cert = (
        x509.CertificateBuilder(subject_name=name, issuer_name=ca_name, **valid)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _anonymous_file(directory: str, data: bytes) -> int:
    """An open descriptor on a file with ``data`` and no name: nothing to clean up, ever."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # a file system without O_TMPFILE: a name that lives for microseconds
        path = os.path.join(directory, secrets.token_hex(8))
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.unlink(path)
    try:
        os.write(fd, data)
    except BaseException:
        os.close(fd)
        raise
    return fd


class SealedConfig:
    """The secrets one ``weed`` start needs, as inheritable descriptors and environment.

    ``fds`` go to ``Popen(pass_fds=...)``; ``close()`` (after the child started) drops this
    process's copies, so the files vanish when ``weed`` exits.
    """

    def __init__(self, access_key: str, secret_key: str) -> None:
        ca, cert, key = _certificates()
        identity = {
            "identities": [
                {
                    "name": "wanflow",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.fds: dict[str, int] = {}
        directory = tempfile.mkdtemp(prefix="wanflow-s3-")  # 0700
        try:
            for name, data in (
                ("ca", ca),
                ("cert", cert),
                ("key", key),
                ("s3", json.dumps(identity).encode()),
            ):
                self.fds[name] = _anonymous_file(directory, data)
        except BaseException:
            self.close()
            raise
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def path(self, name: str) -> str:
        return f"/dev/fd/{self.fds[name]}"

    @property
    def s3_config(self) -> str:
        return self.path("s3")

    def environment(self) -> dict[str, str]:
        """``WEED_*`` settings (weed reads them as it would ``security.toml``)."""
        ca, cert, key = self.path("ca"), self.path("cert"), self.path("key")
        env = {"WEED_GRPC_CA": ca}
        for component in GRPC_COMPONENTS:
            env[f"WEED_GRPC_{component.upper()}_CERT"] = cert
            env[f"WEED_GRPC_{component.upper()}_KEY"] = key
        for component in HTTPS_COMPONENTS:
            env[f"WEED_HTTPS_{component.upper()}_CERT"] = cert
            env[f"WEED_HTTPS_{component.upper()}_KEY"] = key
            env[f"WEED_HTTPS_{component.upper()}_CA"] = ca
        env |= {
            "WEED_HTTPS_CLIENT_ENABLED": "true",
            "WEED_HTTPS_CLIENT_CERT": cert,
            "WEED_HTTPS_CLIENT_KEY": key,
            "WEED_HTTPS_CLIENT_CA": ca,
            "WEED_ACCESS_UI": "false",
            "WEED_FILER_EXPOSE_DIRECTORY_METADATA_ENABLED": "false",
        }
        for name in (
            "WEED_JWT_SIGNING_KEY",
            "WEED_JWT_SIGNING_READ_KEY",
            "WEED_JWT_FILER_SIGNING_KEY",
            "WEED_JWT_FILER_SIGNING_READ_KEY",
        ):
            env[name] = secrets.token_urlsafe(32)
        return env

    def close(self) -> None:
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = {}
