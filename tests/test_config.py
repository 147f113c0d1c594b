"""The configuration file: round trips, file modes, secrets at rest and in output, the predecessor's file."""

from __future__ import annotations

import os
import stat
import sys
import types
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from wfuwp.config.settings import (
    Config,
    EnvConfig,
    MigrationDbConfig,
    Secret,
    config_path,
    secret_env_var,
    upgrade_predecessor,
    wfu_named_values,
)
from wfuwp.errors import ConfigError, UsageError

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "wfu-config.json"
PASSWORD = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real keyring, no config path or password variables from the machine running the tests."""
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")
    for name in list(os.environ):
        if name == "WFUWP_CONFIG" or (name.startswith("WFUWP_") and name.endswith("_PASSWORD")):
            monkeypatch.delenv(name)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wfuwp" / "config.json"


def sample(path: Path) -> Config:
    config = Config.load(path)
    config.set("env.prod.host", "db.prod.internal")
    config.set("env.prod.port", "3307")
    config.set("env.prod.user", "wp")
    config.set("env.prod.password", PASSWORD)
    config.set("env.prod.database", "wordpress")
    config.set("env.prod.ssl_verify_identity", "yes")
    config.set("env.prod.site_host", "www.wfu.edu")
    config.set("env.prod.extra_pairs.sso", "login.wfu.edu")
    config.set("migration.host", "db.migration.internal")
    config.set("migration.user", "mig")
    config.set("migration.password", "mig-" + PASSWORD)
    config.set("s3.bucket", "archives")
    config.set("s3.sse", "aws:kms")
    config.set("protected_envs", "prod, pprd")
    return config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- file ----------------------------------------------------------------------------------------------


def test_round_trip_keeps_every_value(path: Path) -> None:
    config = sample(path)
    config.save()
    loaded = Config.load(path)
    assert loaded == config
    prod = loaded.env("prod")
    assert prod.port == 3307 and prod.ssl_verify_identity is True
    assert prod.effective_password() == PASSWORD
    assert loaded.migration.effective_password() == "mig-" + PASSWORD
    assert loaded.migration.database == "wp_migration"
    assert loaded.protected_envs == ["prod", "pprd"]
    assert prod.extra_pairs == {"sso": "login.wfu.edu"}


def test_file_key_and_directory_are_private(path: Path) -> None:
    sample(path).save()
    assert mode(path) == 0o600
    assert mode(path.parent / "key") == 0o600
    assert mode(path.parent) == 0o700
    assert {p.name for p in path.parent.iterdir()} == {"config.json", "key"}


def test_rewrite_replaces_a_loose_file_atomically(path: Path) -> None:
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)
    sample(path).save()
    sample(path).save()
    assert mode(path) == 0o600
    assert {p.name for p in path.parent.iterdir()} == {"config.json", "key"}  # no temporary files left


def test_passwords_are_encrypted_at_rest(path: Path) -> None:
    sample(path).save()
    text = path.read_text()
    assert PASSWORD not in text
    stored = orjson.loads(text)["environments"]["prod"]["password"]
    assert stored.startswith("enc:v1:")
    # A fresh nonce each time: the same password never gives the same token twice.
    other = Config.load(path)
    other.set("env.prod.password", PASSWORD)
    other.save()
    assert orjson.loads(path.read_bytes())["environments"]["prod"]["password"] != stored


def test_unchanged_secret_is_written_back_without_the_key(path: Path) -> None:
    sample(path).save()
    token = orjson.loads(path.read_bytes())["environments"]["prod"]["password"]
    (path.parent / "key").unlink()
    config = Config.load(path)
    config.set("env.prod.host", "elsewhere")
    config.save()
    assert orjson.loads(path.read_bytes())["environments"]["prod"]["password"] == token


def test_lost_key_fails_only_where_the_password_is_needed(path: Path) -> None:
    sample(path).save()
    (path.parent / "key").unlink()
    config = Config.load(path)
    assert ("env.prod.password", "********") in config.items()
    with pytest.raises(
        ConfigError, match=r"cannot decrypt env\.prod\.password: no key .*config set env\.prod"
    ):
        config.env("prod").connect_kwargs()


def test_tampered_token_is_a_config_error(path: Path) -> None:
    sample(path).save()
    data = orjson.loads(path.read_bytes())
    token = data["environments"]["prod"]["password"]
    data["environments"]["prod"]["password"] = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    path.write_bytes(orjson.dumps(data))
    with pytest.raises(ConfigError, match=r"cannot decrypt env\.prod\.password with the key at") as info:
        Config.load(path).env("prod").effective_password()
    assert PASSWORD not in str(info.value)


def test_hand_typed_password_is_accepted_then_encrypted(path: Path) -> None:
    path.parent.mkdir()
    path.write_text(
        '{"environments": {"dev": {"host": "h", "user": "u", "database": "d", "password": "typed"}}}'
    )
    config = Config.load(path)
    assert config.env("dev").connect_kwargs()["password"] == "typed"
    config.save()
    assert orjson.loads(path.read_bytes())["environments"]["dev"]["password"].startswith("enc:v1:")
    assert Config.load(path).env("dev").effective_password() == "typed"


def test_missing_file_is_an_empty_config(path: Path) -> None:
    config = Config.load(path)
    assert config.environments == {} and config.protected_envs == ["prod"]
    assert not path.exists()


def test_path_explicit_then_variable_then_per_user_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert config_path() == tmp_path / "xdg" / "wfuwp" / "config.json"
    monkeypatch.setenv("WFUWP_CONFIG", str(tmp_path / "env.json"))
    assert config_path() == tmp_path / "env.json"
    assert config_path(tmp_path / "explicit.json") == tmp_path / "explicit.json"
    Config(environments={"x": EnvConfig(host="h")}).save()
    assert (tmp_path / "env.json").exists() and (tmp_path / "key").exists() is False  # no secret, no key


# -- corrupt files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{\n  "s3": {"bucket": "b"},\n  oops\n}',
            r"^config file .*config\.json is not valid JSON \(line 3\): ",
        ),
        ("[]", r"the top level must be an object"),
        (
            '{"environments": {"prod": {"port": "abc"}}}',
            r"environments\.prod\.port must be an integer, got 'abc'",
        ),
        ('{"environments": {"prod": {"hots": "x"}}}', r"unknown key environments\.prod\.hots"),
        ('{"environments": {"prod": []}}', r"environments\.prod must be an object"),
        ('{"s3": {"sse": "rot13"}}', r"s3\.sse must be one of AES256, aws:kms"),
        (
            '{"environments": {"prod": {"site_host": "https://www.wfu.edu/"}}}',
            r"site_host must be a host name",
        ),
        ('{"version": 2}', r"version 2 is not one this wfuwp reads"),
        ('{"environments": {"a b": {}}}', r"environment name 'a b' is not allowed"),
    ],
)
def test_corrupt_file_is_one_line_naming_file_and_fix(path: Path, content: str, message: str) -> None:
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        Config.load(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    assert text.endswith("fix it or move it away and run `wfuwp config wizard`")


def test_wrong_password_type_does_not_echo_the_value(path: Path) -> None:
    path.parent.mkdir()
    path.write_text('{"environments": {"prod": {"password": ["hunter2"]}}}')
    with pytest.raises(ConfigError, match=r"environments\.prod\.password must be a string") as info:
        Config.load(path)
    assert "hunter2" not in str(info.value)


# -- keys --------------------------------------------------------------------------------------------


def test_unknown_environment_lists_the_known_ones(path: Path) -> None:
    config = sample(path)
    config.set("env.dev.host", "h")
    with pytest.raises(ConfigError, match=r"unknown environment 'prd': known environments are dev, prod; "):
        config.env("prd")
    with pytest.raises(ConfigError, match=r"unknown environment 'prd'"):
        config.get("env.prd.host")
    with pytest.raises(ConfigError, match=r"none is configured"):
        Config().env("prod")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("env.local.port", "3308", 3308),
        ("env.local.port", 3309, 3309),
        ("env.local.ssl_disabled", "off", False),
        ("env.local.ssl_disabled", "TRUE", True),
        ("env.local.ssl_disabled", "", None),
        ("env.local.table_prefix", "wpx_", "wpx_"),
        ("env.local.site_host", "localhost:8080", "localhost:8080"),
        ("env.local.extra_pairs.ga", "G-123", "G-123"),
        ("migration.database", "", "wp_migration"),  # empty puts a default back
        ("s3.sse", "AES256", "AES256"),
        ("s3.media_prefix", "media/{site_id}/", "media/{site_id}/"),
        ("protected_envs", "prod,pprd", ["prod", "pprd"]),
    ],
)
def test_set_coerces_command_line_strings(key: str, value: object, expected: object) -> None:
    config = Config()
    config.set(key, value)
    assert config.get(key) == expected


@pytest.mark.parametrize(
    ("key", "value", "error", "message"),
    [
        (
            "env.prod.hots",
            "x",
            ConfigError,
            r"unknown config key 'env\.prod\.hots': known keys here are host, port",
        ),
        ("s3.bukket", "x", ConfigError, r"unknown config key 's3\.bukket'"),
        ("nothing", "x", ConfigError, r"unknown config key 'nothing'"),
        ("env.prod", "x", ConfigError, r"is a section"),
        ("env.prod.port", "http", UsageError, r"env\.prod\.port must be an integer, got 'http'"),
        ("env.prod.port", "0", UsageError, r"from 1 to 65535"),
        ("env.prod.ssl_disabled", "maybe", UsageError, r"must be true or false"),
        ("env.prod.cdn_host", "https://cdn/", UsageError, r"without scheme or path"),
        ("env.prod.table_prefix", "wp-", UsageError, r"letters, digits and '_'"),
        ("s3.media_prefix", "sites/{id}/", UsageError, r"only the placeholder \{site_id\}"),
        ("protected_envs", "prod,no way", UsageError, r"environment name 'no way'"),
        ("env.no way.host", "h", UsageError, r"environment name 'no way' is not allowed"),
    ],
)
def test_set_rejects_in_one_line(key: str, value: str, error: type[Exception], message: str) -> None:
    config = Config()
    with pytest.raises(error, match=message) as info:
        config.set(key, value)
    assert "\n" not in str(info.value)
    assert config.environments == {}  # a failed set creates no environment


def test_unset_restores_defaults_and_removes_environments() -> None:
    config = Config()
    config.set("env.dev.port", "3310")
    config.set("env.dev.extra_pairs.ga", "G-1")
    config.unset("env.dev.port")
    config.unset("env.dev.extra_pairs.ga")
    assert config.get("env.dev.port") == 3306 and config.get("env.dev.extra_pairs") == {}
    config.unset("env.dev")
    assert config.environments == {}
    with pytest.raises(ConfigError, match="unknown environment 'dev'"):
        config.unset("env.dev")


def test_environments_may_have_any_name(path: Path) -> None:
    config = Config.load(path)
    config.set("env.local-docker.host", "127.0.0.1")
    config.set("env.local-docker.password", "pw")
    config.save()
    env = Config.load(path).env("local-docker")
    assert env.name == "local-docker" and env.key == "env.local-docker"
    assert env.password_env_var == "WFUWP_ENV_LOCAL_DOCKER_PASSWORD"


# -- secrets in output ---------------------------------------------------------------------------------


def test_passwords_are_masked_in_every_output(path: Path) -> None:
    config = sample(path)
    config.save()
    config = Config.load(path)
    prod = config.env("prod")
    kwargs = prod.connect_kwargs()
    assert kwargs["password"] == PASSWORD  # the one place it is in clear
    shown = [
        repr(config),
        str(config),
        repr(prod),
        f"{prod.password}",
        str(prod.password),
        repr(kwargs),
        str(kwargs),
        prod.display(),
        repr(config.items()),
        repr(config.masked()),
        str(config.get("env.prod.password")),
        str(config.get("migration.password")),
    ]
    for text in shown:
        assert PASSWORD not in text
    assert ("env.prod.password", "********") in config.items()
    assert config.masked()["environments"]["prod"]["password"] == "********"  # type: ignore[index]
    assert config.get("env.prod.password") == "********"
    assert config.get("env.prod.password", reveal=True) == PASSWORD
    assert prod.display() == "wp@db.prod.internal:3307/wordpress"


def test_environment_variable_wins_and_is_never_saved(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample(path).save()
    monkeypatch.setenv("WFUWP_ENV_PROD_PASSWORD", "from-env")
    monkeypatch.setenv("WFUWP_MIGRATION_PASSWORD", "mig-from-env")
    config = Config.load(path)
    assert config.env("prod").connect_kwargs()["password"] == "from-env"
    assert config.migration.connect_kwargs()["password"] == "mig-from-env"
    assert config.get("env.prod.password", reveal=True) == "from-env"
    assert ("env.prod.password", "******** (from $WFUWP_ENV_PROD_PASSWORD)") in config.items()
    config.save()
    monkeypatch.delenv("WFUWP_ENV_PROD_PASSWORD")
    assert Config.load(path).env("prod").effective_password() == PASSWORD
    assert b"from-env" not in path.read_bytes()


def test_environment_variable_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFUWP_ENV_UAT_PASSWORD", "only-env")
    config = Config()
    for key, value in (("host", "h"), ("user", "u"), ("database", "d")):
        config.set(f"env.uat.{key}", value)
    assert config.env("uat").connect_kwargs()["password"] == "only-env"
    assert config.get("env.uat.password") == "********"
    assert secret_env_var("uat") == "WFUWP_ENV_UAT_PASSWORD"


def test_connect_kwargs_has_tls_only_when_set_and_names_missing_keys() -> None:
    env = EnvConfig(host="h", user="u", database="d", name="dev")
    assert dict(env.connect_kwargs()) == {"host": "h", "port": 3306, "user": "u", "database": "d"}
    env.ssl_ca, env.ssl_verify_identity = "/etc/ca.pem", True
    assert env.connect_kwargs()["ssl_ca"] == "/etc/ca.pem"
    assert env.connect_kwargs()["ssl_verify_identity"] is True
    with pytest.raises(
        ConfigError, match=r"^migration\.host is not set: run `wfuwp config set migration\.host"
    ):
        MigrationDbConfig().connect_kwargs()


def test_as_database_gives_the_engine_its_database(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    config = sample(path)
    db = config.env("prod").as_database()
    assert (db.host, db.port, db.user, db.database, db.table_prefix, db.name) == (
        "db.prod.internal",
        3307,
        "wp",
        "wordpress",
        "wp_",
        "prod",
    )
    assert db.password == PASSWORD and db.ssl_verify_identity is True
    assert PASSWORD not in repr(db) and PASSWORD not in str(db)
    monkeypatch.setenv("WFUWP_MIGRATION_PASSWORD", "from-env")
    migration = config.migration.as_database()
    assert (migration.name, migration.database, migration.password) == (
        "migration",
        "wp_migration",
        "from-env",
    )
    # Every TLS option reaches the engine (and the driver), none is refused.
    for key, value in (("ssl_cert", "/etc/client.pem"), ("ssl_key", "/etc/client.key"),
                       ("ssl_verify_cert", "true"), ("ssl_disabled", "false")):  # fmt: skip
        config.set(f"env.prod.{key}", value)
    db = config.env("prod").as_database()
    assert (db.ssl_cert, db.ssl_key, db.ssl_verify_cert, db.ssl_disabled) == (
        "/etc/client.pem",
        "/etc/client.key",
        True,
        False,
    )
    kwargs = db.connect_kwargs()
    assert (kwargs["ssl_cert"], kwargs["ssl_key"], kwargs["ssl_verify_cert"], kwargs["ssl_disabled"]) == (
        "/etc/client.pem",
        "/etc/client.key",
        True,
        False,
    )


def test_secret_equality_and_masking() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert repr(Secret("a")) == "Secret('********')"


# -- keyring ---------------------------------------------------------------------------------------------


def install_fake_keyring(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    """Make `import keyring` give a usable in-memory backend; return its store."""
    store: dict[tuple[str, str], str] = {}
    module = types.ModuleType("keyring")
    module.get_keyring = lambda: types.SimpleNamespace(priority=5)  # type: ignore[attr-defined]
    module.get_password = lambda service, user: store.get((service, user))  # type: ignore[attr-defined]
    module.set_password = lambda service, user, value: store.__setitem__((service, user), value)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)
    monkeypatch.delenv("WFUWP_NO_KEYRING")
    return store


def test_key_goes_to_a_usable_keyring(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_keyring = install_fake_keyring(monkeypatch)
    sample(path).save()
    assert not (path.parent / "key").exists()
    assert [service for service, _ in fake_keyring] == ["wfuwp"]
    assert Config.load(path).env("prod").effective_password() == PASSWORD


def test_existing_key_file_wins_over_the_keyring(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample(path).save()  # key file, no keyring
    store = install_fake_keyring(monkeypatch)
    config = Config.load(path)
    assert config.env("prod").effective_password() == PASSWORD
    config.set("env.prod.password", "new")
    config.save()
    assert store == {}
    assert Config.load(path).env("prod").effective_password() == "new"


# -- the WFU example -------------------------------------------------------------------------------------


def test_wfu_example_loads_and_holds_wfu_named_values() -> None:
    config = Config.load(EXAMPLE)
    assert sorted(config.environments) == ["dev", "pprd", "prod", "uat"]
    for name, env in config.environments.items():
        for key, value in wfu_named_values(name).items():
            assert config.get(f"env.{name}.{key}") == value, (name, key)
        assert env.password is None
    # The bucket the predecessor copied media from, not the name media URLs hold.
    assert config.env("pprd").media_bucket == "wfu-cer-wordpress-pprd-us-east-1"
    assert config.env("pprd").extra_pairs == {"media_name": "wordpress-pprd-us"}
    assert config.env("prod").bare_host == "wfu.edu"
    assert config.env("pprd").bare_host is None
    assert all(
        "password" not in section for section in orjson.loads(EXAMPLE.read_bytes())["environments"].values()
    )


# -- the predecessor's file --------------------------------------------------------------------------------


def predecessor_encrypt(plain: str) -> str:
    """Encrypt as the TypeScript wfuwp did: AES-256-CBC, scrypt key of a constant, `<ivHex>:<cipherHex>`."""
    key = Scrypt(salt=b"salt", length=32, n=16384, r=8, p=1).derive(b"wfuwp-config-key-v1")
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv.hex() + ":" + (encryptor.update(padded) + encryptor.finalize()).hex()


def test_upgrade_later_format(tmp_path: Path, path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_bytes(
        orjson.dumps(
            {
                "environments": {
                    "prod": {
                        "host": "prod-db",
                        "port": "3306",
                        "user": "admin",
                        "password": predecessor_encrypt("prod-pw"),
                        "database": "wordpress",
                    },
                    "pprd": {"host": "pprd-db", "port": "3307", "user": "admin", "password": "plain-pw"},
                },
                "migration": {
                    "host": "mig-db",
                    "user": "admin",
                    "password": predecessor_encrypt("mig-pw"),
                    "database": "wp_migration",
                },
                "s3": {"bucket": "b", "region": "us-east-1", "prefix": "wordpress/mysql-dumps/sql-backups"},
                "backup": {"localPath": "~/.wfuwp/backups"},
            }
        )
    )
    before = old.read_bytes()
    config = upgrade_predecessor(old)
    prod, pprd = config.env("prod"), config.env("pprd")
    assert (prod.host, prod.port, prod.user, prod.database) == ("prod-db", 3306, "admin", "wordpress")
    assert prod.effective_password() == "prod-pw"
    assert pprd.port == 3307 and pprd.effective_password() == "plain-pw"  # no ':' means clear text
    assert config.migration.effective_password() == "mig-pw"
    assert (config.s3.bucket, config.s3.region, config.s3.prefix) == (
        "b",
        "us-east-1",
        "wordpress/mysql-dumps/sql-backups",
    )
    assert prod.site_host == "www.wfu.edu" and pprd.cdn_host == "pprd.wp.cdn.aws.wfu.edu"

    config.save(path)
    assert old.read_bytes() == before  # the old file is never written
    text = path.read_text()
    for secret in ("prod-pw", "plain-pw", "mig-pw"):
        assert secret not in text
    stored = orjson.loads(text)
    assert stored["environments"]["prod"]["password"].startswith("enc:v1:")
    assert ":" not in stored["environments"]["prod"]["password"].removeprefix("enc:v1:")
    assert Config.load(path).env("prod").effective_password() == "prod-pw"


def test_upgrade_phase1_format(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    db = {"host": "h", "user": "u", "password": predecessor_encrypt("pw:with:colons"), "name": "wp"}
    old.write_bytes(orjson.dumps({"db": db}))
    config = upgrade_predecessor(old)
    assert list(config.environments) == ["prod"]
    prod = config.env("prod")
    assert (prod.host, prod.user, prod.database, prod.port) == ("h", "u", "wp", 3306)
    assert prod.effective_password() == "pw:with:colons"
    assert config.is_protected("prod")
    assert list(upgrade_predecessor(old, phase1_env="dev", wfu_defaults=False).environments) == ["dev"]
    assert upgrade_predecessor(old, phase1_env="dev", wfu_defaults=False).env("dev").site_host is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", r"predecessor config .* is not valid JSON \(line 1\)"),
        ('{"environments": {"prod": "db.example"}}', r"env\.prod must be an object"),
        ('{"other": 1}', r"neither `environments` nor `db`"),
        ('{"environments": {"prod": {"port": "x"}}}', r"env\.prod\.port must be an integer, got 'x'"),
        (
            orjson.dumps({"environments": {"prod": {"password": "00" * 16 + ":" + "11" * 16}}}).decode(),
            r"cannot decrypt env\.prod\.password of the predecessor's config",
        ),
    ],
)
def test_upgrade_bad_predecessor_file(tmp_path: Path, content: str, message: str) -> None:
    old = tmp_path / "old.json"
    old.write_text(content)
    with pytest.raises(ConfigError, match=message):
        upgrade_predecessor(old)


def test_upgrade_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no predecessor config at .*nothing to upgrade"):
        upgrade_predecessor(tmp_path / "absent.json")
