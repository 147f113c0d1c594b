"""The wfuwp configuration: environments, the migration database and S3, in one JSON file.

The file is `platformdirs.user_config_dir("wfuwp")/config.json` (Linux: `~/.config/wfuwp/config.json`),
or the path in `WFUWP_CONFIG`, or a path passed explicitly. It is written atomically with mode 0600 in
a 0700 directory. docs/configuration.md describes every key; docs/examples/wfu-config.json is WFU's.

Dotted keys, as `wfuwp config get/set` take them:
    env.<name>.<field>                  one environment; any name (dev, uat, pprd, prod, local, ...)
    env.<name>.extra_pairs.<label>      a named value the replacement plan maps between environments
    env.<name>.include_tables           table globs a site owns besides its own (comma-separated)
    env.<name>.exclude_tables           table globs a site never owns (comma-separated)
    migration.<field>                   the scratch database of --simple/transform (not of migrations)
    s3.<field>                          the archive bucket and media copying
    notify.<field>                      who hears when a migration, an import or a restore ends
    protected_envs                      environments a migration must confirm (comma-separated)
    include_tables, exclude_tables      table globs for every environment (comma-separated)

Secrets (the two kinds of `password`, and `notify.webhook`, whose URL is a credential) are encrypted at
rest with a per-user key (see `wfuwp.config.secrets`). Each can come from an environment variable
instead, which wins over the file and is never written to it:
    env.<name>.password   ->  WFUWP_ENV_<NAME>_PASSWORD   (<NAME> upper-cased, '-' turned into '_')
    migration.password    ->  WFUWP_MIGRATION_PASSWORD
    notify.webhook        ->  WFUWP_NOTIFY_WEBHOOK
A password is never part of a repr, an error message or `items()`/`masked()`; `connect_kwargs()` is the
one place it comes out in clear, as the dict handed to `mysql.connector.connect`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson
import platformdirs

from wfuwp.archive.location import ArchiveLocation, default_local_root
from wfuwp.config.secrets import MASK, KeyStore, Secret, decrypt_predecessor
from wfuwp.errors import ConfigError, UsageError
from wfuwp.mysql.connection import Database
from wfuwp.mysql.schema import TableFilter
from wfuwp.storage.local import fsync_dir
from wfuwp.storage.objects import S3Options

CONFIG_ENV_VAR = "WFUWP_CONFIG"
FILE_VERSION = 1
PREDECESSOR_PATH = Path("~/.wfuwp/config.json")
SSE_CHOICES = ("AES256", "aws:kms")
NOTIFY_ON = ("failure", "always")
WEBHOOK_ENV_VAR = "WFUWP_NOTIFY_WEBHOOK"

_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
# A host name with an optional port: no scheme, no path. The plan matches these as whole host tokens.
_HOST = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(:[0-9]{1,5})?\Z")
# The table prefix ends up in table names and LIKE patterns; MySQL identifiers allow more, WordPress
# installs never need more.
_TABLE_PREFIX = re.compile(r"[A-Za-z0-9_]+\Z")
# A list of table-name globs (env.<name>.include_tables/exclude_tables), coerced by its own name.
TablePatterns = list[str]
# Top-level keys of table patterns for every environment.
_GLOBAL_PATTERNS = ("include_tables", "exclude_tables")
_HOST_FIELDS = ("site_host", "bare_host", "subdomain_base", "media_bucket", "media_bucket_host", "cdn_host")
_TLS_FIELDS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity", "ssl_disabled")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_WIZARD_FIX = "fix it or move it away and run `wfuwp config wizard`"


class ConnectKwargs(dict[str, Any]):
    """Keyword arguments for `mysql.connector.connect`; its repr masks the password."""

    def __repr__(self) -> str:
        shown = {k: (MASK if k == "password" else v) for k, v in self.items()}
        return f"ConnectKwargs({shown!r})"

    __str__ = __repr__


@dataclass
class DbConfig:
    """Where a MySQL/MariaDB database is and how to log in; the part environments and migration share."""

    host: str | None = None
    port: int = 3306
    user: str | None = None
    password: Secret | None = None
    database: str | None = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool | None = None
    ssl_verify_identity: bool | None = None
    ssl_disabled: bool | None = None

    @property
    def key(self) -> str:
        """The dotted-key prefix of this section (`env.prod`, `migration`), for messages."""
        return "database"

    @property
    def password_env_var(self) -> str | None:
        """The environment variable that overrides the stored password, if this section has one."""
        return None

    def effective_password(self) -> str | None:
        """Return the password: its environment variable when set, else the decrypted stored one."""
        var = self.password_env_var
        if var and os.environ.get(var):
            return os.environ[var]
        if self.password is None:
            return None
        return self.password.reveal(where=f"{self.key}.password")

    def connect_kwargs(self) -> ConnectKwargs:
        """Return the arguments for `mysql.connector.connect(**kwargs)`.

        Only TLS options that are set are included, so the connector's defaults apply otherwise.
        Raise ConfigError naming the key to set when host, user or database is missing.
        """
        for name in ("host", "user", "database"):
            if not getattr(self, name):
                raise ConfigError(
                    f"{self.key}.{name} is not set: run `wfuwp config set {self.key}.{name} VALUE`"
                )
        kwargs = ConnectKwargs(host=self.host, port=self.port, user=self.user, database=self.database)
        password = self.effective_password()
        if password is not None:
            kwargs["password"] = password
        for name in _TLS_FIELDS:
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs

    def as_database(self) -> Database:
        """Return this section as the engine's `wfuwp.mysql.connection.Database`.

        The password is resolved, and kept out of the Database's repr; every TLS option goes along
        (ssl_ca, ssl_cert, ssl_key, ssl_verify_cert, ssl_verify_identity, ssl_disabled).

        Raise ConfigError when host, user or database is missing.
        """
        kwargs = self.connect_kwargs()
        return Database(
            host=kwargs["host"],
            database=kwargs["database"],
            user=kwargs["user"],
            password=kwargs.get("password", ""),
            port=kwargs["port"],
            table_prefix=getattr(self, "table_prefix", "wp_"),
            ssl_ca=self.ssl_ca,
            ssl_cert=self.ssl_cert,
            ssl_key=self.ssl_key,
            ssl_verify_cert=self.ssl_verify_cert,
            ssl_verify_identity=bool(self.ssl_verify_identity),
            ssl_disabled=self.ssl_disabled,
            name=self.key.removeprefix("env."),
        )

    def display(self) -> str:
        """Return `user@host:port/database` for messages and logs (never the password)."""
        return f"{self.user or '?'}@{self.host or '?'}:{self.port}/{self.database or '?'}"


@dataclass
class EnvConfig(DbConfig):
    """One environment: its WordPress database and the named values the replacement plan maps.

    Named values (all host names without scheme or path, None when the environment has none):
    `site_host` the network's main host ("www.wfu.edu"); `bare_host` another name of it ("wfu.edu");
    `subdomain_base` the domain whose subdomains belong to this environment ("wfu.edu",
    "pprd.wfu.edu"); `media_bucket`, `media_bucket_host`, `cdn_host` where media is served from;
    `extra_pairs` label -> value, mapped to the value with the same label in the other environment.
    `include_tables`/`exclude_tables`: table-name globs added to or taken out of a site's tables
    (see `wfuwp.mysql.schema.TableFilter`) whenever this environment is read or written.
    """

    table_prefix: str = "wp_"
    site_host: str | None = None
    bare_host: str | None = None
    subdomain_base: str | None = None
    media_bucket: str | None = None
    media_bucket_host: str | None = None
    cdn_host: str | None = None
    extra_pairs: dict[str, str] = field(default_factory=dict)
    include_tables: TablePatterns = field(default_factory=list)
    exclude_tables: TablePatterns = field(default_factory=list)
    # The environment's name is its key in Config.environments; kept here for messages and env vars.
    name: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"env.{self.name or '?'}"

    @property
    def password_env_var(self) -> str | None:
        return secret_env_var(self.name) if self.name else None


@dataclass
class MigrationDbConfig(DbConfig):
    """The scratch database of the predecessor's flow: `--simple`, `transform` and `import --migration-db`
    rewrite tables loaded into it. A migration between environments stages in its target and never
    uses it."""

    database: str | None = "wp_migration"

    @property
    def key(self) -> str:
        return "migration"

    @property
    def password_env_var(self) -> str | None:
        return "WFUWP_MIGRATION_PASSWORD"


@dataclass
class S3Config:
    """Where archives go and how media is copied between environments' buckets.

    `prefix` is the key prefix of archives in `bucket`; `sse` is "AES256", "aws:kms" (with
    `sse_kms_key_id`) or None; `media_prefix` is the key prefix of one site's media in a media bucket,
    with `{site_id}` replaced (see `media_prefix_for`).
    """

    bucket: str | None = None
    region: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    media_prefix: str = "sites/{site_id}/"

    def media_prefix_for(self, site_id: int) -> str:
        """Return the media key prefix of site `site_id` ("sites/43/")."""
        return self.media_prefix.format(site_id=site_id)

    def options(self) -> S3Options:
        """How to reach and write S3 as configured (endpoint, region, encryption, storage class)."""
        return S3Options(
            endpoint_url=self.endpoint_url,
            region=self.region,
            sse=self.sse,
            sse_kms_key_id=self.sse_kms_key_id,
            storage_class=self.storage_class,
        )

    def archive_url(self) -> str | None:
        """`s3://<bucket>/<prefix>` when a bucket is configured, else None."""
        if not self.bucket:
            return None
        return f"s3://{self.bucket}/{(self.prefix or '').strip('/')}".rstrip("/")


@dataclass
class NotifyConfig:
    """Who hears when a migration, an environment refresh (import) or a restore ends (wfuwp.ops.notify).

    `command` is run through the shell with the outcome as JSON on stdin and WFUWP_STATUS set;
    `webhook` gets a Slack-compatible JSON POST (`{"text": ...}`); both when the outcome is a failure,
    or every time with `on` = "always". `timeout`: seconds each may take.
    """

    command: str | None = None
    on: str = "failure"
    webhook: Secret | None = None
    timeout: int = 30

    def effective_webhook(self) -> str | None:
        """The webhook URL: WFUWP_NOTIFY_WEBHOOK when set, else the decrypted stored one."""
        if os.environ.get(WEBHOOK_ENV_VAR):
            return os.environ[WEBHOOK_ENV_VAR]
        return self.webhook.reveal(where="notify.webhook") if self.webhook is not None else None


@dataclass
class Config:
    """The whole configuration. Load with `Config.load()`, change with `set()`, write with `save()`."""

    environments: dict[str, EnvConfig] = field(default_factory=dict)
    migration: MigrationDbConfig = field(default_factory=MigrationDbConfig)
    s3: S3Config = field(default_factory=S3Config)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    protected_envs: list[str] = field(default_factory=lambda: ["prod"])
    # Table patterns of every environment, before each environment's own (see table_filter).
    include_tables: TablePatterns = field(default_factory=list)
    exclude_tables: TablePatterns = field(default_factory=list)
    # The file it was loaded from: the default destination of save().
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, env in self.environments.items():
            env.name = name

    def archive_location(self, work_dir: Path | None = None, *, local: bool = False) -> ArchiveLocation:
        """Where archives go: s3://<s3.bucket>/<s3.prefix> (unless `local`), else <work_dir>/archives,
        else the per-user data directory."""
        url = self.s3.archive_url()
        if url is not None and not local:
            o = self.s3.options()
            return ArchiveLocation.parse(
                url,
                endpoint_url=o.endpoint_url,
                region=o.region,
                sse=o.sse,
                sse_kms_key_id=o.sse_kms_key_id,
                storage_class=o.storage_class,
            )
        return ArchiveLocation.parse(work_dir.expanduser() / "archives" if work_dir else default_local_root())

    # -- files -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str | None = None) -> Config:
        """Read the config file (see `config_path`); a missing file gives an empty Config.

        Raise ConfigError on a file that is unreadable, not JSON, or holds unknown keys or wrong types.
        Encrypted passwords are decrypted only when used.
        """
        target = config_path(path)
        if not target.exists():
            return cls(source=target)
        data = _read_json(target, f"config file {target}", _WIZARD_FIX)
        try:
            config = _config_from_dict(data, KeyStore(key_path(target)))
        except _Invalid as exc:
            raise ConfigError(f"config file {target}: {exc}: {_WIZARD_FIX}") from None
        config.source = target
        return config

    def save(self, path: Path | str | None = None) -> Path:
        """Write the config atomically (mode 0600, directory 0700) and return where.

        The destination is `path`, else the file it was loaded from, else `config_path()`. Passwords are
        encrypted with the per-user key, which is created on first use. Raise ConfigError on OS errors.
        """
        target = config_path(path) if path is not None or self.source is None else self.source
        data = _config_to_dict(self, KeyStore(key_path(target)))
        _write_private(target, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        self.source = target
        return target

    # -- environments ----------------------------------------------------------------------------

    def env(self, name: str) -> EnvConfig:
        """Return environment `name`; raise ConfigError listing the known ones if there is none."""
        env = self.environments.get(name)
        if env is None:
            raise ConfigError(_unknown_env_message(name, sorted(self.environments)))
        env.name = name
        return env

    def table_filter(self, *env_names: str) -> TableFilter:
        """The global include/exclude table patterns, then those of the named environments (unknown ones
        have none)."""
        found = TableFilter(tuple(self.include_tables), tuple(self.exclude_tables))
        for name in dict.fromkeys(env_names):
            env = self.environments.get(name)
            if env is not None:
                found = found.merged(TableFilter(tuple(env.include_tables), tuple(env.exclude_tables)))
        return found

    def is_protected(self, name: str) -> bool:
        """Tell whether migrating into `name` needs an explicit confirmation."""
        return name in self.protected_envs

    # -- dotted keys -----------------------------------------------------------------------------

    def get(self, key: str, *, reveal: bool = False) -> object:
        """Return the value at a dotted key (None when unset); a password is masked unless `reveal`.

        A revealed password is the effective one (its environment variable wins). Raise ConfigError on
        an unknown key or environment.
        """
        section, name, sub = self._locate(key, create=False)
        if name is None:
            return section
        value = getattr(section, name)
        if sub is not None:
            return value.get(sub)
        if isinstance(section, DbConfig) and name == "password":
            if not reveal:
                return MASK if (value is not None or _env_secret_set(section)) else None
            return section.effective_password()
        if isinstance(section, NotifyConfig) and name == "webhook":
            if not reveal:
                return MASK if (value is not None or os.environ.get(WEBHOOK_ENV_VAR)) else None
            return section.effective_webhook()
        return value

    def set(self, key: str, value: object) -> None:
        """Set a dotted key from a string (as typed on a command line) or a value of the field's type.

        Setting a key of an unknown environment creates it. An empty string or None unsets an optional
        key. Raise ConfigError on an unknown key, UsageError on a value of the wrong type.
        """
        known = set(self.environments)
        try:
            self._assign(key, value)
        except Exception:
            # A failed set must not leave behind the empty environment it created.
            for name in set(self.environments) - known:
                del self.environments[name]
            raise

    def _assign(self, key: str, value: object) -> None:
        section, name, sub = self._locate(key, create=True)
        if name is None:
            raise ConfigError(f"config key {key!r} is a section: set one of its keys, e.g. {key}.host")
        if sub is not None:
            pairs: dict[str, str] = getattr(section, name)
            if value is None or value == "":
                pairs.pop(sub, None)
            else:
                pairs[sub] = _label_value(sub, value, key)
            return
        spec = next(f for f in fields(section) if f.name == name)
        try:
            coerced = _coerce(spec.type, name, value, None)
        except _Invalid as exc:
            raise UsageError(f"{key} {exc}") from None
        if coerced is None and spec.default is not MISSING and spec.default is not None:
            coerced = spec.default
        setattr(section, name, coerced)

    def unset(self, key: str) -> None:
        """Put a dotted key back to its default; `env.<name>` removes the environment."""
        parts = key.split(".")
        if len(parts) == 2 and parts[0] in ("env", "environments"):
            if self.environments.pop(parts[1], None) is None:
                raise ConfigError(_unknown_env_message(parts[1], sorted(self.environments)))
            return
        section, name, sub = self._locate(key, create=False)
        if name is None:
            raise ConfigError(f"config key {key!r} is a section: unset one of its keys")
        if sub is not None:
            getattr(section, name).pop(sub, None)
            return
        default = next(f for f in fields(section) if f.name == name)
        setattr(section, name, _field_default(default))

    def items(self) -> list[tuple[str, str]]:
        """Return every set key with a printable value, passwords masked, for `wfuwp config list`."""
        out: list[tuple[str, str]] = [("protected_envs", ",".join(self.protected_envs))]
        out += [(name, ",".join(getattr(self, name))) for name in _GLOBAL_PATTERNS if getattr(self, name)]
        for name in sorted(self.environments):
            out += _section_items(f"env.{name}", self.env(name))
        out += _section_items("migration", self.migration)
        out += _section_items("s3", self.s3)
        out += _section_items("notify", self.notify)
        return out

    def masked(self) -> dict[str, object]:
        """Return the file's content with every password replaced by "********" (for `list --json`)."""
        return _config_to_dict(self, None)

    def _locate(self, key: str, *, create: bool) -> tuple[Any, str | None, str | None]:
        """Resolve a dotted key to (section object, field name or None, extra_pairs label or None)."""
        parts = key.split(".")
        head, rest = parts[0], parts[1:]
        if head in ("protected_envs", *_GLOBAL_PATTERNS) and not rest:
            return self, head, None
        if head in ("env", "environments") and rest:
            name = rest[0]
            if name not in self.environments:
                if not create:
                    raise ConfigError(_unknown_env_message(name, sorted(self.environments)))
                _check_env_name(name, UsageError)
                self.environments[name] = EnvConfig(name=name)
            return _locate_field(self.env(name), rest[1:], key, allow_label=True)
        if head == "migration":
            return _locate_field(self.migration, rest, key, allow_label=False)
        if head == "s3":
            return _locate_field(self.s3, rest, key, allow_label=False)
        if head == "notify":
            return _locate_field(self.notify, rest, key, allow_label=False)
        raise ConfigError(
            f"unknown config key {key!r}: keys start with env.<name>., migration., s3., notify. or are "
            "protected_envs, include_tables, exclude_tables"
        )


# -- paths and environment variables ---------------------------------------------------------------


def config_path(path: Path | str | None = None) -> Path:
    """Return the config file to use: `path`, else `$WFUWP_CONFIG`, else the per-user default."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR]).expanduser()
    return Path(platformdirs.user_config_dir("wfuwp")) / "config.json"


def key_path(config_file: Path) -> Path:
    """Return the key file that belongs to a config file (`key`, in the same directory)."""
    return config_file.parent / "key"


def secret_env_var(env_name: str) -> str:
    """Return the variable that overrides environment `env_name`'s password (WFUWP_ENV_PROD_PASSWORD)."""
    return f"WFUWP_ENV_{env_name.upper().replace('-', '_')}_PASSWORD"


def _env_secret_set(section: DbConfig) -> bool:
    var = section.password_env_var
    return bool(var and os.environ.get(var))


def _unknown_env_message(name: str, known: list[str]) -> str:
    if not known:
        return f"unknown environment {name!r}: none is configured; run `wfuwp config wizard`"
    if not _ENV_NAME.match(name):  # never echo a name with newlines or spaces into a command line
        return f"unknown environment {name!r}: known environments are {', '.join(known)}"
    return (
        f"unknown environment {name!r}: known environments are {', '.join(known)}; "
        f"add it with `wfuwp config set env.{name}.host HOST`"
    )


def _check_env_name(name: str, error: type[Exception]) -> None:
    if not _ENV_NAME.match(name):
        raise error(
            f"environment name {name!r} is not allowed: use letters, digits, '-' and '_' (it names an "
            "environment variable)"
        )


# -- dotted keys -------------------------------------------------------------------------------------


def _field_names(section: object) -> list[str]:
    return [f.name for f in fields(section) if f.name != "name"]  # type: ignore[arg-type]


def _locate_field(
    section: object, rest: list[str], key: str, *, allow_label: bool
) -> tuple[Any, str | None, str | None]:
    if not rest:
        return section, None, None
    names = _field_names(section)
    if rest[0] in names:
        if len(rest) == 1:
            return section, rest[0], None
        if allow_label and rest[0] == "extra_pairs" and len(rest) == 2:
            return section, "extra_pairs", rest[1]
    raise ConfigError(f"unknown config key {key!r}: known keys here are {', '.join(names)}")


def _label_value(label: str, value: object, key: str) -> str:
    if not _ENV_NAME.match(label):
        raise UsageError(f"{key}: the label {label!r} is not allowed: use letters, digits, '-' and '_'")
    if not isinstance(value, str):
        raise UsageError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _section_items(prefix: str, section: object) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in _field_names(section):
        value = getattr(section, name)
        if name == "password" and isinstance(section, DbConfig):
            var = section.password_env_var
            if var and os.environ.get(var):
                out.append((f"{prefix}.password", f"{MASK} (from ${var})"))
            elif value is not None:
                out.append((f"{prefix}.password", MASK))
        elif isinstance(value, Secret) or (name == "webhook" and os.environ.get(WEBHOOK_ENV_VAR)):
            from_env = name == "webhook" and os.environ.get(WEBHOOK_ENV_VAR)
            out.append((f"{prefix}.{name}", f"{MASK} (from ${WEBHOOK_ENV_VAR})" if from_env else MASK))
        elif isinstance(value, dict):
            out += [(f"{prefix}.{name}.{label}", text) for label, text in sorted(value.items())]
        elif isinstance(value, list):
            if value:
                out.append((f"{prefix}.{name}", ",".join(value)))
        elif value is not None:
            out.append((f"{prefix}.{name}", str(value).lower() if isinstance(value, bool) else str(value)))
    return out


# -- reading and writing values ----------------------------------------------------------------------


class _Invalid(Exception):
    """A value or key that does not fit; the caller adds where it came from."""


T = TypeVar("T")
D = TypeVar("D", bound=DbConfig)


def _coerce(type_name: object, name: str, value: object, store: KeyStore | None) -> object:
    """Turn `value` (from the file, or a command-line string) into the field's type and check it.

    `store` is given for values read from the file: a password is then a stored (maybe encrypted) form.
    """
    coercer = _COERCERS.get(str(type_name))
    if coercer is None:  # pragma: no cover - a field type this module forgot to handle
        raise AssertionError(f"no coercion for field type {type_name}")
    result = coercer(value, store)
    check = _CHECKS.get(name)
    # A secret read from the file was checked when it was set; checking it again would decrypt it.
    if check is not None and result is not None and not (isinstance(result, Secret) and store is not None):
        check(result)
    return result


def _to_str(value: object, _store: KeyStore | None) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"must be a non-empty string, got {value!r}")
    return value


def _to_opt_str(value: object, store: KeyStore | None) -> str | None:
    return None if value is None or value == "" else _to_str(value, store)


def _to_int(value: object, _store: KeyStore | None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Invalid(f"must be an integer, got {value!r}")


def _to_opt_bool(value: object, _store: KeyStore | None) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise _Invalid(f"must be true or false, got {value!r}")


def _to_secret(value: object, store: KeyStore | None) -> Secret | None:
    if value is None or value == "":
        return None
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise _Invalid("must be a string")  # the value itself is not echoed: it may be a password
    return Secret.stored(value, store) if store is not None else Secret(value)


def _to_names(value: object, _store: KeyStore | None) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"must be a list of environment names, got {value!r}")
    for name in value:
        _check_env_name(name, _Invalid)
    return list(value)


def _to_patterns(value: object, _store: KeyStore | None) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Invalid(f"must be a list of table names or globs (like wp_stream*), got {value!r}")
    return [v.strip() for v in value]


def _to_pairs(value: object, _store: KeyStore | None) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _Invalid(f"must be an object of label: value strings, got {value!r}")
    return dict(value)


_COERCERS: dict[str, Callable[[object, KeyStore | None], object]] = {
    "str": _to_str,
    "str | None": _to_opt_str,
    "int": _to_int,
    "bool | None": _to_opt_bool,
    "Secret | None": _to_secret,
    "list[str]": _to_names,
    "dict[str, str]": _to_pairs,
    "TablePatterns": _to_patterns,
}


def _check_port(value: object) -> None:
    if not 1 <= int(value) <= 65535:  # type: ignore[call-overload]
        raise _Invalid(f"must be a port number from 1 to 65535, got {value}")


def _check_host(value: object) -> None:
    if not _HOST.match(str(value)):
        raise _Invalid(f"must be a host name without scheme or path (like www.wfu.edu), got {value!r}")


def _check_sse(value: object) -> None:
    if value not in SSE_CHOICES:
        raise _Invalid(f"must be one of {', '.join(SSE_CHOICES)} (or empty for none), got {value!r}")


def _check_table_prefix(value: object) -> None:
    if not _TABLE_PREFIX.match(str(value)):
        raise _Invalid(f"must be letters, digits and '_' (like wp_), got {value!r}")


def _check_media_prefix(value: object) -> None:
    try:
        str(value).format(site_id=1)
    except (KeyError, IndexError, ValueError):
        raise _Invalid(f"may contain only the placeholder {{site_id}}, got {value!r}") from None


def _check_notify_on(value: object) -> None:
    if value not in NOTIFY_ON:
        raise _Invalid(f"must be failure (notify only when it fails) or always, got {value!r}")


def _check_webhook(value: object) -> None:
    url = value.reveal(where="notify.webhook") if isinstance(value, Secret) else str(value)
    if not url.startswith(("https://", "http://")) or len(url.split("/")) < 4:
        # The URL itself is a credential: it is not echoed.
        raise _Invalid("must be an https:// URL (a Slack-compatible incoming webhook)")


def _check_timeout(value: object) -> None:
    if not 1 <= int(value) <= 3600:  # type: ignore[call-overload]
        raise _Invalid(f"must be from 1 to 3600 seconds, got {value}")


def _check_pairs(value: object) -> None:
    for label, text in value.items():  # type: ignore[attr-defined]
        if not _ENV_NAME.match(label) or not text:
            raise _Invalid(f"needs labels of letters, digits, '-', '_' and non-empty values, got {label!r}")


_CHECKS: dict[str, Callable[[object], None]] = {
    "port": _check_port,
    "sse": _check_sse,
    "table_prefix": _check_table_prefix,
    "media_prefix": _check_media_prefix,
    "extra_pairs": _check_pairs,
    "on": _check_notify_on,
    "webhook": _check_webhook,
    "timeout": _check_timeout,
    **dict.fromkeys(_HOST_FIELDS, _check_host),
}


def _field_default(spec: Any) -> object:
    if spec.default is not MISSING:
        return spec.default
    return spec.default_factory()


def _read_section(cls: type[T], data: object, label: str, store: KeyStore) -> T:
    """Build one dataclass section from its JSON object; keys starting with '_' are comments."""
    if not isinstance(data, dict):
        raise _Invalid(f"{label} must be an object")
    specs = {f.name: f for f in fields(cls) if f.name != "name"}  # type: ignore[arg-type]
    values: dict[str, object] = {}
    for name, raw in data.items():
        if name.startswith("_"):
            continue
        if name not in specs:
            raise _Invalid(f"unknown key {label}.{name}")
        try:
            values[name] = _coerce(specs[name].type, name, raw, store)
        except _Invalid as exc:
            raise _Invalid(f"{label}.{name} {exc}") from None
        if values[name] is None:
            values.pop(name)  # null means "default"
    return cls(**values)


def _config_from_dict(data: object, store: KeyStore) -> Config:
    if not isinstance(data, dict):
        raise _Invalid("the top level must be an object")
    if data.get("version", FILE_VERSION) != FILE_VERSION:
        raise _Invalid(
            f"version {data.get('version')!r} is not one this wfuwp reads (it reads {FILE_VERSION})"
        )
    known = {"version", "environments", "migration", "s3", "notify", "protected_envs", *_GLOBAL_PATTERNS}
    for name in data:
        if name not in known and not name.startswith("_"):
            raise _Invalid(f"unknown key {name}")
    envs = data.get("environments", {})
    if not isinstance(envs, dict):
        raise _Invalid("environments must be an object")
    environments: dict[str, EnvConfig] = {}
    for name, section in envs.items():
        if name.startswith("_"):
            continue
        _check_env_name(name, _Invalid)
        environments[name] = _read_section(EnvConfig, section, f"environments.{name}", store)
    config = Config(
        environments=environments,
        migration=_read_section(MigrationDbConfig, data.get("migration", {}), "migration", store),
        s3=_read_section(S3Config, data.get("s3", {}), "s3", store),
        notify=_read_section(NotifyConfig, data.get("notify", {}), "notify", store),
    )
    if "protected_envs" in data:
        try:
            config.protected_envs = _to_names(data["protected_envs"], store)
        except _Invalid as exc:
            raise _Invalid(f"protected_envs {exc}") from None
    for name in _GLOBAL_PATTERNS:
        if name in data:
            try:
                setattr(config, name, _to_patterns(data[name], store))
            except _Invalid as exc:
                raise _Invalid(f"{name} {exc}") from None
    return config


def _section_to_dict(section: object, store: KeyStore | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in _field_names(section):
        value = getattr(section, name)
        if isinstance(value, Secret):
            # store None: masked() replaces the value anyway, so never decrypt or encrypt for it.
            out[name] = value.to_stored(store) if store is not None else MASK
        elif isinstance(value, dict | list):
            if value or name == "protected_envs":
                out[name] = value.copy()
        elif value is not None:
            out[name] = value
    return out


def _config_to_dict(config: Config, store: KeyStore | None) -> dict[str, object]:
    return {
        "version": FILE_VERSION,
        "protected_envs": list(config.protected_envs),
        **{name: list(getattr(config, name)) for name in _GLOBAL_PATTERNS if getattr(config, name)},
        "environments": {name: _section_to_dict(env, store) for name, env in config.environments.items()},
        "migration": _section_to_dict(config.migration, store),
        "s3": _section_to_dict(config.s3, store),
        "notify": _section_to_dict(config.notify, store),
    }


def _read_json(path: Path, what: str, fix: str) -> object:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}: check its permissions") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON (line {exc.lineno}): {fix}") from None


def _write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; the file is 0600 from its creation, a new directory 0700."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created 0600 by open() itself, so the secrets are never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write config file {path}: {exc.strerror}: check the directory's permissions"
        ) from None


# -- WFU's named values and the predecessor's file ------------------------------------------------


def wfu_named_values(env_name: str) -> dict[str, str]:
    """Return WFU's named values for dev, uat, pprd or prod (empty for any other name), by key under
    `env.<name>.` (`extra_pairs.media_name` among them).

    These are what the predecessor hard-coded; `upgrade_predecessor` fills them in, and
    docs/examples/wfu-config.json holds the same. The media bucket is the one the predecessor copied a
    site's media from (`s3://wfu-cer-wordpress-<env>-us-east-1/sites/<id>/`); `wordpress-<env>-us`,
    which media URLs and plugin settings hold, is not a bucket: it is a named value the plan maps.
    """
    if env_name == "prod":
        hosts = {"site_host": "www.wfu.edu", "bare_host": "wfu.edu", "subdomain_base": "wfu.edu"}
    elif env_name in ("dev", "uat", "pprd"):
        hosts = {"site_host": f"{env_name}.wfu.edu", "subdomain_base": f"{env_name}.wfu.edu"}
    else:
        return {}
    return {
        **hosts,
        "media_bucket": f"wfu-cer-wordpress-{env_name}-us-east-1",
        "media_bucket_host": f"wfu-cer-wordpress-{env_name}-us-east-1.s3.amazonaws.com",
        "cdn_host": f"{env_name}.wp.cdn.aws.wfu.edu",
        "extra_pairs.media_name": f"wordpress-{env_name}-us",
    }


def upgrade_predecessor(
    path: Path | str | None = None, *, phase1_env: str = "prod", wfu_defaults: bool = True
) -> Config:
    """Read the predecessor's `~/.wfuwp/config.json` (either format) and return it as a new Config.

    Passwords are decrypted from the predecessor's public-key scheme and re-encrypted with the real key
    when the result is saved; the old file is never written. The Phase 1 format (`{"db": {...}}`) knew
    one database: it becomes environment `phase1_env` (default prod, which is protected, so a wrong
    guess asks before anything is overwritten). With `wfu_defaults`, environments named dev, uat, pprd
    and prod get WFU's named values (what the predecessor hard-coded) where they have none.
    `backup.localPath` has no counterpart and is dropped. Raise ConfigError on a missing or bad file.
    """
    source = Path(path).expanduser() if path is not None else PREDECESSOR_PATH.expanduser()
    if not source.exists():
        raise ConfigError(
            f"no predecessor config at {source}: nothing to upgrade; give its path if it is elsewhere"
        )
    fix = "fix it, or configure from scratch with `wfuwp config wizard`"
    data = _read_json(source, f"predecessor config {source}", fix)
    try:
        config = _config_from_predecessor(data, phase1_env)
    except _Invalid as exc:
        raise ConfigError(f"predecessor config {source}: {exc}: {fix}") from None
    if wfu_defaults:
        for name in config.environments:
            for key, value in wfu_named_values(name).items():
                if config.get(f"env.{name}.{key}") is None:
                    config.set(f"env.{name}.{key}", value)
    return config


def _config_from_predecessor(data: object, phase1_env: str) -> Config:
    if not isinstance(data, dict):
        raise _Invalid("the top level must be an object")
    config = Config()
    envs = data.get("environments")
    if isinstance(envs, dict):
        for name, section in envs.items():
            _check_env_name(name, _Invalid)
            config.environments[name] = _predecessor_db(
                EnvConfig(name=name), section, f"env.{name}", "database"
            )
    elif isinstance(data.get("db"), dict):
        _check_env_name(phase1_env, _Invalid)
        config.environments[phase1_env] = _predecessor_db(
            EnvConfig(name=phase1_env), data["db"], f"env.{phase1_env}", "name"
        )
    else:
        raise _Invalid("it has neither `environments` nor `db`")
    if isinstance(data.get("migration"), dict):
        config.migration = _predecessor_db(MigrationDbConfig(), data["migration"], "migration", "database")
    s3 = data.get("s3")
    if isinstance(s3, dict):
        for name in ("bucket", "region", "prefix"):
            if s3.get(name):
                setattr(config.s3, name, _predecessor_value(s3[name], f"s3.{name}", _to_str))
    return config


def _predecessor_db(section: D, data: object, label: str, database_key: str) -> D:
    """Fill a DbConfig from the predecessor's {host, port, user, password, database|name}."""
    if not isinstance(data, dict):
        raise _Invalid(f"{label} must be an object")
    for ours, theirs in (("host", "host"), ("user", "user"), ("database", database_key)):
        if data.get(theirs):
            setattr(section, ours, _predecessor_value(data[theirs], f"{label}.{ours}", _to_str))
    if data.get("port") not in (None, ""):
        section.port = _predecessor_value(data["port"], f"{label}.port", _to_int)
        _check_port(section.port)
    password = data.get("password")
    if isinstance(password, str) and password:
        section.password = Secret(decrypt_predecessor(password, where=f"{label}.password"))
    elif password not in (None, ""):
        raise _Invalid(f"{label}.password must be a string")
    return section


def _predecessor_value(value: object, label: str, coercer: Callable[[object, None], T]) -> T:
    try:
        return coercer(value, None)
    except _Invalid as exc:
        raise _Invalid(f"{label} {exc}") from None


__all__ = [
    "CONFIG_ENV_VAR",
    "Config",
    "ConnectKwargs",
    "DbConfig",
    "EnvConfig",
    "MigrationDbConfig",
    "NotifyConfig",
    "S3Config",
    "Secret",
    "config_path",
    "key_path",
    "secret_env_var",
    "upgrade_predecessor",
    "wfu_named_values",
]
