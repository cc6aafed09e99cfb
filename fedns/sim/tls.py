"""A throwaway self-signed certificate for simulated members that require a token.

kubectl (client-go) never sends credentials over plain HTTP (kubernetes/kubectl#744),
so a member with a bearer token must serve HTTPS.  This makes one self-signed
certificate for ``127.0.0.1``/``::1``/``localhost`` with the ``openssl`` command
(Debian's openssl package) and builds the server and client SSL contexts from it;
the kubeconfig carries the certificate as ``certificate-authority-data``.
Not for anything but loopback test clusters.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import ssl
import subprocess
import tempfile

from fedns import errors


class NoOpenSSL(errors.UsageError):
    """The openssl command is needed to serve HTTPS (apt-get install openssl)."""


@dataclasses.dataclass(frozen=True)
class Certificate:
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="fedns-sim-tls-") as directory:
            cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
            _write(cert, self.cert_pem)
            _write(key, self.key_pem)
            context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.cert_pem.decode())


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def self_signed(common_name: str = "fedns-sim", days: int = 365) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise NoOpenSSL()
    with tempfile.TemporaryDirectory(prefix="fedns-sim-tls-") as directory:
        cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
        result = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
             "-days", str(days), "-subj", f"/CN={common_name}",
             "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
             "-addext", "extendedKeyUsage=serverAuth"],
            capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise NoOpenSSL(f"openssl could not make a certificate: {result.stderr.strip()}")
        with open(cert, "rb") as c, open(key, "rb") as k:
            return Certificate(c.read(), k.read())
