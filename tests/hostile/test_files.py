"""Hostile config and pool files get one line and exit 2, never a traceback or a hang; and
``fedns run`` will not serve writes beyond loopback without a token."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from fedns import cli, config
from tests.hostile.conftest import ROOT
from tests.test_safeload import alias_bomb

# pool commands refuse memory:// (nothing would persist); a bad file is refused before
# the store is opened, so nothing ever connects to this
UNUSED_ETCD = "etcd://127.0.0.1:9"
CONFIG = b"federation: f\ndomain: example.org\n"
POOLS = b"- {name: a, site: s, addresses: [192.0.2.0/24]}\n"

# (id, config file, pool file, what the one line says)
FILES = [
    ("not-utf8", CONFIG + b"store: memory://\xff\n", POOLS + b"- {name: \xe9}\n",
     "not valid UTF-8"),
    ("alias-bomb", CONFIG + alias_bomb(9), b"- " + alias_bomb(9).replace(b"\n", b"\n  "),
     "excessive aliasing"),
    ("deep", CONFIG + b"x: " + b"[" * 5000 + b"]" * 5000, b"[" * 5000 + b"]" * 5000,
     "nested deeper than 100 levels"),
    ("too-large", CONFIG + b"#" * (4 << 20), POOLS + b"#" * (4 << 20),
     "larger than 3145728 bytes"),
    ("duplicate-key", CONFIG + b"federation: g\n",
     b"- {name: a, site: s, addresses: [192.0.2.0/24], site: t}\n", "duplicate key"),
]


@pytest.mark.parametrize(("config_file", "pool_file", "message"),
                         [case[1:] for case in FILES], ids=[case[0] for case in FILES])
def test_a_hostile_file_is_one_line_and_exit_2(tmp_path, capsys, config_file, pool_file,
                                               message):
    (tmp_path / "fedns.yaml").write_bytes(config_file)
    (tmp_path / "pools.yaml").write_bytes(pool_file)
    for argv in (["run", "--config", str(tmp_path / "fedns.yaml")],
                 ["corefile", "render", "--config", str(tmp_path / "fedns.yaml")],
                 ["pool", "apply", "-f", str(tmp_path / "pools.yaml"), "--store", UNUSED_ETCD]):
        started = time.monotonic()
        assert cli.main(argv) == 2
        assert time.monotonic() - started < 1.0
        out, err = capsys.readouterr()
        assert out == ""
        assert len(err.splitlines()) == 1, err
        assert message in err


def test_the_duplicate_key_is_named(tmp_path):
    path = tmp_path / "fedns.yaml"
    path.write_bytes(CONFIG + b"api: {listen: '127.0.0.1:1'}\napi: {token: t}\n")
    with pytest.raises(config.ConfigError, match="line 4: duplicate key 'api'"):
        config.load(str(path))


def test_a_non_utf8_pool_file_is_one_line_as_a_user_runs_it(tmp_path):
    (tmp_path / "pools.yaml").write_bytes(POOLS + b"- {name: caf\xe9, site: s}\n")
    result = subprocess.run([sys.executable, "-m", "fedns.cli", "pool", "apply", "-f",
                             str(tmp_path / "pools.yaml"), "--store", UNUSED_ETCD],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 2
    offset = len(POOLS + b"- {name: caf")
    line = f"fedns: {tmp_path / 'pools.yaml'}: line 2: not valid UTF-8 (byte 0xe9 at offset "
    assert result.stderr.splitlines() == [f"{line}{offset})"]


def test_fedns_run_will_not_serve_writes_beyond_loopback_without_a_token(tmp_path):
    (tmp_path / "fedns.yaml").write_bytes(
        CONFIG + b"dns: {listen: '127.0.0.1:0'}\napi: {listen: '0.0.0.0:8080'}\n")
    result = subprocess.run([sys.executable, "-m", "fedns.cli", "run", "--config",
                             str(tmp_path / "fedns.yaml")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [(
        f"fedns: {tmp_path / 'fedns.yaml'}: api.token: is required when api.listen "
        "(0.0.0.0:8080) is not a loopback address: without it anyone who can reach the API "
        "can change pools")]


@pytest.mark.parametrize(("listen", "token", "refused"), [
    ("127.0.0.1:8443", "", False), ("127.0.0.53:8443", "", False), ("[::1]:8443", "", False),
    ("0.0.0.0:8080", "", True), ("[::]:8080", "", True), ("192.0.2.7:8080", "", True),
    ("0.0.0.0:8080", "s3cret", False), ("[::]:8080", "s3cret", False),
], ids=["loopback", "loopback-net", "loopback-v6", "any-v4", "any-v6", "address",
        "any-v4-token", "any-v6-token"])
def test_check_api_auth(listen, token, refused):
    settings = config.parse({"federation": "f", "domain": "example.org",
                             "api": {"listen": listen, "token": token or None}})
    if refused:
        with pytest.raises(config.ConfigError, match=r"^c\.yaml: api\.token: is required"):
            config.check_api_auth(settings, "c.yaml")
    else:
        config.check_api_auth(settings, "c.yaml")


def test_the_deploy_config_needs_the_token_its_init_container_adds():
    """deploy/base/config.yaml listens on 0.0.0.0 and leaves api.token to the init
    container (from the fedns-api-token Secret): without it fedns run would not start."""
    path = os.path.join(ROOT, "deploy", "base", "config.yaml")
    settings = config.load(path)
    assert settings.api.listen.startswith("0.0.0.0:")
    with pytest.raises(config.ConfigError, match="api.token: is required"):
        config.check_api_auth(settings, path)
    with open(path) as f:
        document = yaml.safe_load(f)
    document["api"]["token"] = "from-the-secret"  # what the init container writes
    config.check_api_auth(config.parse(document, path), path)
