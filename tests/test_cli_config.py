"""`wfuwp config ...` in-process: set/get/list with masked passwords, the predecessor's file, the wizard."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from wfuwp.cli.main import main
from wfuwp.config.settings import Config

PASSWORD = "s3cr3t-Pa55-xyzzy"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in list(os.environ):
        if name in ("WFUWP_CONFIG", "WFUWP_NOTIFY_WEBHOOK") or (
            name.startswith("WFUWP_") and name.endswith("_PASSWORD")
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "config.json"


def run(capsys: pytest.CaptureFixture[str], path: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--config", str(path), *args])
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_set_get_list_and_masking(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    assert run(capsys, path, "config", "env", "prod", "set", "host", "db.example.edu")[0] == 0
    assert run(capsys, path, "config", "env", "prod", "set", "port", "3307")[0] == 0
    code, out, err = run(capsys, path, "config", "env", "prod", "set", "password", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert out == f"env.prod.password = ******** (saved to {path})\n".replace(" (", "  (")
    assert run(capsys, path, "config", "migration", "set", "host", "mig.example.edu")[0] == 0
    assert run(capsys, path, "config", "migration", "set", "password", stdin="mig-" + PASSWORD + "\n")[0] == 0
    assert run(capsys, path, "config", "s3", "set", "bucket", "backups")[0] == 0
    assert run(capsys, path, "config", "set", "protected_envs", "prod,pprd")[0] == 0

    assert run(capsys, path, "config", "env", "prod", "get", "host")[1] == "db.example.edu\n"
    assert run(capsys, path, "config", "env", "prod", "get", "port")[1] == "3307\n"
    assert run(capsys, path, "config", "env", "prod", "get", "password")[1] == "********\n"
    assert run(capsys, path, "config", "get", "env.prod.password")[1] == "********\n"
    assert run(capsys, path, "config", "s3", "get", "bucket")[1] == "backups\n"
    assert run(capsys, path, "config", "get", "protected_envs")[1] == "prod,pprd\n"

    code, out, _ = run(capsys, path, "config", "env", "prod", "list")
    assert code == 0
    assert "env.prod.host = db.example.edu" in out and "env.prod.password = ********" in out
    code, out, _ = run(capsys, path, "config", "list")
    assert "migration.password = ********" in out and "s3.bucket = backups" in out
    code, out, _ = run(capsys, path, "config", "list", "--json")
    data = orjson.loads(out)
    assert data["environments"]["prod"]["password"] == "********"
    assert data["file"] == str(path)
    code, out, _ = run(capsys, path, "config", "migration", "list", "--json")
    assert orjson.loads(out) == {
        "migration.host": "mig.example.edu",
        "migration.port": "3306",
        "migration.password": "********",
        "migration.database": "wp_migration",
    }

    # The password is nowhere in what was printed, nor in clear in the file; the library reads it back.
    assert PASSWORD not in path.read_text()
    assert Config.load(path).env("prod").effective_password() == PASSWORD


def test_password_never_taken_as_an_argument(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = run(capsys, path, "config", "env", "prod", "set", "password", PASSWORD)
    assert code == 2
    assert err.startswith("error: env.prod.password: passwords are not taken as arguments")
    assert PASSWORD not in out + err
    assert not path.exists()
    code, _out, err = run(capsys, path, "config", "migration", "set", "password")  # empty stdin
    assert code == 2 and "no password on stdin" in err


def test_config_errors(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, _out, err = run(capsys, path, "config", "env", "nope", "list")
    assert code == 2 and err.startswith(f"error: config file {path} not found: check the --config path")
    Config().save(path)
    code, _out, err = run(capsys, path, "config", "env", "nope", "list")
    assert (
        code == 2
        and err == "error: unknown environment 'nope': none is configured; run `wfuwp config wizard`\n"
    )
    code, _out, err = run(capsys, path, "config", "env", "prod", "set", "port", "http")
    assert code == 2 and err.startswith("error: env.prod.port must be an integer")
    code, _out, err = run(capsys, path, "config", "s3", "get", "colour")
    assert code == 2 and err.startswith("error: unknown config key 's3.colour'")
    code, _out, err = run(capsys, path, "config", "env", "prod", "set", "host")
    assert code == 2 and "give a value" in err
    path.write_text("{not json")
    code, _out, err = run(capsys, path, "config", "list")
    assert code == 2 and err.startswith(f"error: config file {path} is not valid JSON")


def test_unset(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    run(capsys, path, "config", "env", "uat", "set", "host", "uat.example.edu")
    run(capsys, path, "config", "env", "uat", "set", "cdn_host", "cdn.example.edu")
    assert run(capsys, path, "config", "env", "uat", "set", "cdn_host", "")[0] == 0
    assert run(capsys, path, "config", "env", "uat", "get", "cdn_host")[1] == "(unset)\n"
    assert run(capsys, path, "config", "unset", "env.uat")[0] == 0
    assert Config.load(path).environments == {}


def predecessor_encrypt(plain: str) -> str:
    """Encrypt as the TypeScript wfuwp did: AES-256-CBC, scrypt key of a constant, `<ivHex>:<cipherHex>`."""
    key = Scrypt(salt=b"salt", length=32, n=16384, r=8, p=1).derive(b"wfuwp-config-key-v1")
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv.hex() + ":" + (encryptor.update(padded) + encryptor.finalize()).hex()


def test_upgrade_from_the_predecessor(capsys: pytest.CaptureFixture[str], path: Path, tmp_path: Path) -> None:
    old = tmp_path / "home" / ".wfuwp" / "config.json"
    old.parent.mkdir(parents=True)
    old.write_bytes(
        orjson.dumps(
            {
                "environments": {
                    "prod": {
                        "host": "prod.db",
                        "port": "3306",
                        "user": "admin",
                        "password": predecessor_encrypt(PASSWORD),
                        "database": "wordpress",
                    },
                    "pprd": {"host": "pprd.db", "port": "3306", "user": "admin", "database": "wordpress"},
                },
                "migration": {
                    "host": "mig.db",
                    "user": "admin",
                    "password": predecessor_encrypt("mig-pw"),
                    "database": "wp_migration",
                },
                "s3": {"bucket": "wfu-backups", "region": "us-east-1", "prefix": "wordpress/sql"},
                "backup": {"localPath": "~/.wfuwp/backups"},
            }
        )
    )
    before = old.read_bytes()
    code, out, err = run(capsys, path, "config", "upgrade", str(old))
    assert code == 0, err
    assert f"imported 2 environment(s) into {path}" in out
    assert "env.prod.password = ********" in out and PASSWORD not in out
    assert "env.prod.site_host = www.wfu.edu" in out  # WFU's named values filled in
    assert old.read_bytes() == before  # the old file is left as it was
    config = Config.load(path)
    assert config.env("prod").effective_password() == PASSWORD
    assert config.migration.effective_password() == "mig-pw"
    assert config.s3.prefix == "wordpress/sql"
    assert PASSWORD not in path.read_text()

    code, _out, err = run(capsys, path, "config", "upgrade", str(old))
    assert code == 2 and "add --force" in err
    assert run(capsys, path, "config", "upgrade", str(old), "--force")[0] == 0

    code, _out, err = run(capsys, path, "config", "upgrade", str(tmp_path / "missing.json"), "--force")
    assert code == 2 and "no predecessor config at" in err


def test_wizard_from_stdin(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    answers = (
        "\n".join(
            [
                "pprd,local",  # environments
                "pprd.db",
                "3306",
                "wp",
                "wordpress",
                "y",  # pprd: database, then WFU's values
                "127.0.0.1",
                "3307",
                "root",
                "wp_local",
                "local.test",  # local: database, site host
                "y",
                "mig.db",
                "3306",
                "wp",
                "wp_migration",  # migration database
                "",  # no S3 bucket
                "prod,pprd",  # protected
            ]
        )
        + "\n"
    )
    code, out, err = run(capsys, path, "config", "wizard", "--no-test", stdin=answers)
    assert code == 0, err
    assert f"saved {path}" in out
    config = Config.load(path)
    assert config.env("pprd").site_host == "pprd.wfu.edu"
    assert config.env("pprd").cdn_host == "pprd.wp.cdn.aws.wfu.edu"
    assert (config.env("local").port, config.env("local").site_host) == (3307, "local.test")
    assert config.migration.host == "mig.db"
    assert config.s3.bucket is None
    assert config.protected_envs == ["prod", "pprd"]
    assert "WFUWP_ENV_PPRD_PASSWORD" in err  # no terminal: passwords are not asked for
