"""``fedns member kubeconfig``: the kubeconfig fedns uses to reach a member cluster.

The member's admin applies ``deploy/member/`` (a ServiceAccount, the least RBAC
fedns needs and a long-lived token Secret), then prints a kubeconfig for that
ServiceAccount from the API server URL, the cluster CA and the token, given as files
(``--ca-file``, ``--token-file``) or as the token Secret itself (``--from-secret``,
the output of ``kubectl get secret -o yaml``; ``-`` reads standard input).  Nothing
here talks to a cluster: it works offline, from what the admin already has.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import sys
from typing import Any

import yaml

from fedns import errors

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


class BadCredentials(errors.UsageError):
    """The CA or token for the kubeconfig is not usable."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("member", help="helpers for joining member clusters")
    commands = parser.add_subparsers(title="member commands", metavar="COMMAND")
    k = commands.add_parser(
        "kubeconfig", help="print a kubeconfig for the member's fedns ServiceAccount",
        description="Print a kubeconfig for the ServiceAccount that deploy/member/ creates "
                    "in a member cluster, from the API server URL and either the CA and "
                    "token files or the token Secret (kubectl get secret -o yaml).")
    k.add_argument("--server", required=True, metavar="URL",
                   help="the member's API server, https://HOST[:PORT]")
    k.add_argument("--name", default="member", metavar="NAME",
                   help="the member's name: the cluster and context names (default "
                        "%(default)s)")
    k.add_argument("--ca-file", metavar="FILE", help="the cluster CA certificate (PEM)")
    k.add_argument("--token-file", metavar="FILE", help="the ServiceAccount token")
    k.add_argument("--from-secret", metavar="FILE",
                   help="the token Secret as YAML or JSON ('-' for standard input): its "
                        "ca.crt and token, instead of --ca-file and --token-file")
    k.set_defaults(func=_kubeconfig)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def kubeconfig(server: str, name: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    """The kubeconfig (as a mapping) for ``token`` on ``server``, trusting ``ca_pem``."""
    if not re.match(r"^https://[^/\s]+", server):
        raise errors.UsageError(f"--server {server!r} must be an https:// URL "
                                "(a token is not sent over plain HTTP)")
    if not _NAME.match(name):
        raise errors.UsageError(f"--name {name!r} is not a DNS label")
    if PEM_CERTIFICATE not in ca_pem:
        raise BadCredentials("the CA is not a PEM certificate")
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise BadCredentials("the token is empty or has spaces in it")
    user = f"fedns@{name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": server.rstrip("/"),
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }


def from_secret(document: Any) -> tuple[bytes, str]:
    """(CA PEM, token) from a ``kubernetes.io/service-account-token`` Secret."""
    if not isinstance(document, dict) or document.get("kind") != "Secret":
        raise BadCredentials("--from-secret: not a Secret")
    data = document.get("data") or {}
    missing = [k for k in ("ca.crt", "token") if not data.get(k)]
    if missing:
        raise BadCredentials(f"--from-secret: the Secret has no {' or '.join(missing)} yet "
                             "(is it a service-account-token Secret the cluster has filled?)")
    try:
        return (base64.b64decode(data["ca.crt"], validate=True),
                base64.b64decode(data["token"], validate=True).decode())
    except (binascii.Error, UnicodeDecodeError) as err:
        raise BadCredentials("--from-secret: ca.crt or token is not base64") from err


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise errors.UsageError(f"{path}: cannot read: {err.strerror}") from err


def _kubeconfig(args: argparse.Namespace) -> int:
    if args.from_secret:
        if args.ca_file or args.token_file:
            raise errors.UsageError("--from-secret replaces --ca-file and --token-file")
        try:
            document = yaml.safe_load(_read(args.from_secret))
        except yaml.YAMLError as err:
            first = str(err).strip().splitlines()[0]
            raise BadCredentials(f"--from-secret: not YAML or JSON: {first}") from err
        ca_pem, token = from_secret(document)
    elif args.ca_file and args.token_file:
        ca_pem = _read(args.ca_file)
        try:
            token = _read(args.token_file).decode()
        except UnicodeDecodeError as err:
            raise BadCredentials("the token file is not text") from err
    else:
        raise errors.UsageError("give --ca-file and --token-file, or --from-secret")
    config = kubeconfig(args.server, args.name, ca_pem, token)
    sys.stdout.write(yaml.safe_dump(config, sort_keys=False))
    return 0
