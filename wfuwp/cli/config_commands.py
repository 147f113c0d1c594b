"""`wfuwp config ...`: read and change the configuration file; the wizard; the predecessor's file.

Thin, like the rest of the CLI: wfuwp.config.settings does the work. Passwords are never arguments: they are
asked for (a terminal) or read as one line of stdin, and shown only as ********.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from wfuwp.cli.common import CONTEXT, Group, current_state, emit_json, global_options, json_option
from wfuwp.cli.ui import Ui
from wfuwp.config.settings import (
    Config,
    DbConfig,
    config_path,
    secret_env_var,
    upgrade_predecessor,
    wfu_named_values,
)
from wfuwp.errors import ConfigError, UsageError, WfuwpError


@click.group("config", cls=Group, context_settings=CONTEXT)
@global_options
def config_group() -> None:
    """Read and change the configuration: environments, the migration database, S3.

    Keys are dotted (env.prod.host, migration.database, s3.bucket, notify.command, protected_envs).
    Passwords and notify.webhook are never taken as arguments: `set ... password` asks for it (or
    reads one line from stdin), or use WFUWP_ENV_<NAME>_PASSWORD / WFUWP_MIGRATION_PASSWORD /
    WFUWP_NOTIFY_WEBHOOK. See docs/configuration.md.
    """


def _is_secret(key: str) -> bool:
    return key == "password" or key.endswith(".password") or key == "notify.webhook"


def _set(config: Config, key: str, value: str | None) -> None:
    """Set one key: a password is read from a prompt or stdin, never from the command line."""
    if _is_secret(key):
        if value is not None:
            what = "webhook URLs (they are credentials) are" if key == "notify.webhook" else "passwords are"
            raise UsageError(
                f"{key}: {what} not taken as arguments (they would show in the process list and "
                f"shell history); run `wfuwp config set {key}` and type it, or set the environment variable"
            )
        value = _read_secret(f"{key}")
    elif value is None:
        raise UsageError(f"{key}: give a value (or '' to unset it)")
    config.set(key, value)
    path = config.save()
    shown = config.get(key)
    click.echo(f"{key} = {_show(shown)}  (saved to {path})")


def _read_secret(label: str) -> str:
    if sys.stdin.isatty():
        return str(click.prompt(label, hide_input=True, confirmation_prompt=True, err=True))
    line = sys.stdin.readline()
    if not line:
        what = "webhook URL" if label == "notify.webhook" else "password"
        raise UsageError(f"{label}: no {what} on stdin; pipe one line, or run in a terminal to be asked")
    return line.rstrip("\r\n")


def _show(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def _get(config: Config, key: str) -> None:
    click.echo(_show(config.get(key)))


def _list(config: Config, prefix: str, as_json: bool) -> None:
    items = [(k, v) for k, v in config.items() if not prefix or k == prefix or k.startswith(prefix + ".")]
    if as_json:
        emit_json(dict(items))
    else:
        Ui().key_values(items)


@config_group.command("set", context_settings=CONTEXT)
@click.argument("key")
@click.argument("value", required=False)
@global_options
def config_set(key: str, value: str | None) -> None:
    """Set KEY (dotted: env.prod.host, migration.database, s3.bucket, protected_envs) to VALUE.

    An empty VALUE ('') unsets an optional key. For a password give no VALUE: it is asked for
    (or read as one line from stdin).
    """
    _set(current_state().config(create=True), key, value)


@config_group.command("get", context_settings=CONTEXT)
@click.argument("key")
@global_options
def config_get(key: str) -> None:
    """Print the value of KEY (passwords are shown as ********)."""
    _get(current_state().config(), key)


@config_group.command("unset", context_settings=CONTEXT)
@click.argument("key")
@global_options
def config_unset(key: str) -> None:
    """Put KEY back to its default; `env.<name>` removes that environment."""
    config = current_state().config()
    config.unset(key)
    click.echo(f"{key} unset  (saved to {config.save()})")


@config_group.command("list", context_settings=CONTEXT)
@json_option
@global_options
def config_list(as_json: bool) -> None:
    """List every key that is set (passwords masked), and where the file is."""
    config = current_state().config()
    if as_json:
        emit_json({"file": str(config.source), **config.masked()})
        return
    click.echo(f"# {config.source}")
    _list(config, "", False)


@config_group.group("env", cls=Group, context_settings=CONTEXT)
@click.argument("env_name", metavar="ENV")
@global_options
@click.pass_context
def config_env(ctx: click.Context, env_name: str) -> None:
    """Read and change environment ENV's keys (host, port, user, database, site_host, ...)."""
    ctx.meta["wfuwp.env"] = env_name


def _env_key(key: str) -> str:
    return f"env.{click.get_current_context().meta['wfuwp.env']}.{key}"


@config_env.command("set", context_settings=CONTEXT)
@click.argument("key")
@click.argument("value", required=False)
@global_options
def config_env_set(key: str, value: str | None) -> None:
    """Set KEY of the environment (creating the environment if new); no VALUE for password."""
    _set(current_state().config(create=True), _env_key(key), value)


@config_env.command("get", context_settings=CONTEXT)
@click.argument("key")
@global_options
def config_env_get(key: str) -> None:
    """Print KEY of the environment."""
    _get(current_state().config(), _env_key(key))


@config_env.command("list", context_settings=CONTEXT)
@json_option
@global_options
def config_env_list(as_json: bool) -> None:
    """List the environment's keys that are set (password masked)."""
    config = current_state().config()
    name = click.get_current_context().meta["wfuwp.env"]
    config.env(name)  # an unknown environment is an error, not an empty list
    _list(config, f"env.{name}", as_json)


def _section_group(section: str, what: str) -> None:
    @config_group.group(section, cls=Group, context_settings=CONTEXT, help=f"Read and change {what}.")
    @global_options
    def group() -> None:
        pass

    secret = "the webhook" if section == "notify" else "a password"

    @group.command("set", context_settings=CONTEXT, help=f"Set KEY of {section} (no VALUE for {secret}).")
    @click.argument("key")
    @click.argument("value", required=False)
    @global_options
    def set_(key: str, value: str | None) -> None:
        _set(current_state().config(create=True), f"{section}.{key}", value)

    @group.command("get", context_settings=CONTEXT, help=f"Print KEY of {section}.")
    @click.argument("key")
    @global_options
    def get_(key: str) -> None:
        _get(current_state().config(), f"{section}.{key}")

    @group.command("list", context_settings=CONTEXT, help=f"List the keys of {section} that are set.")
    @json_option
    @global_options
    def list_(as_json: bool) -> None:
        _list(current_state().config(), section, as_json)


_section_group("migration", "the migration database (host, port, user, password, database, TLS)")
_section_group(
    "s3", "where archives go in S3 (bucket, region, prefix, endpoint_url, sse, storage_class, media_prefix)"
)
_section_group(
    "notify",
    "who hears when a migration, an import or a restore ends (command, on, webhook, timeout; "
    "see docs/configuration.md)",
)


@config_group.command("upgrade", context_settings=CONTEXT)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--phase1-env",
    default="prod",
    show_default=True,
    metavar="ENV",
    help='The environment the predecessor\'s first format ({"db": ...}) describes.',
)
@click.option("--force", is_flag=True, help="Replace an existing wfuwp config file.")
@global_options
def config_upgrade(path: Path | None, phase1_env: str, force: bool) -> None:
    """Import the TypeScript wfuwp's ~/.wfuwp/config.json (or PATH) into a new config file.

    Its passwords are decrypted and encrypted again under your own key; the old file is left as it is.
    Environments named dev, uat, pprd and prod get WFU's hosts, buckets and CDN values.
    """
    state = current_state()
    target = config_path(state.config_path)
    if target.exists() and not force:
        raise UsageError(
            f"{target} exists already: add --force to replace it with the upgraded configuration"
        )
    config = upgrade_predecessor(path, phase1_env=phase1_env)
    saved = config.save(target)
    click.echo(f"imported {len(config.environments)} environment(s) into {saved}:")
    Ui().key_values(config.items())


@config_group.command("wizard", context_settings=CONTEXT)
@click.option(
    "--test/--no-test",
    "test_connections",
    default=True,
    show_default=True,
    help="Connect to every database at the end.",
)
@global_options
def config_wizard(test_connections: bool) -> None:
    """Ask for every setting, one by one, and save the config file.

    The current values are the defaults. Passwords are asked for in a terminal only; elsewhere set
    them with `wfuwp config env ENV set password` or the WFUWP_*_PASSWORD variables.
    """
    config = current_state().config(create=True)
    ask_secret = sys.stdin.isatty()
    click.echo(f"Configuring {config.source}; press Enter to keep the value shown in brackets.", err=True)
    current = ",".join(config.environments) or "dev,uat,pprd,prod"
    names = [
        n.strip()
        for n in click.prompt("Environments (comma-separated)", default=current, err=True).split(",")
    ]
    for name in [n for n in names if n]:
        _wizard_database(config, f"env.{name}", ask_secret)
        if name in ("dev", "uat", "pprd", "prod") and click.confirm(
            f"Use WFU's hosts, buckets and CDN for {name}?", default=True, err=True
        ):
            for key, value in wfu_named_values(name).items():
                config.set(f"env.{name}.{key}", value)
        else:
            _ask(config, f"env.{name}.site_host", "main host (like www.example.edu)")
    if click.confirm(
        "Configure the migration database (for --simple and transform)?", default=True, err=True
    ):
        _wizard_database(config, "migration", ask_secret)
    _ask(config, "s3.bucket", "S3 bucket for archives (empty: local archives)")
    if config.s3.bucket:
        _ask(config, "s3.region", "S3 region")
        _ask(config, "s3.prefix", "S3 key prefix")
    _ask(config, "protected_envs", "protected environments (comma-separated)")
    path = config.save()
    click.echo(f"saved {path}")
    if test_connections:
        sections: list[tuple[str, DbConfig]] = [
            (f"env.{n}", config.env(n)) for n in sorted(config.environments)
        ]
        if config.migration.host:
            sections.append(("migration", config.migration))
        for key, section in sections:
            try:
                section.as_database().connect().close()
                click.echo(f"  ok   {key}: {section.display()}")
            except WfuwpError as exc:
                click.echo(f"  FAIL {key}: {exc}")


def _ask(config: Config, key: str, label: str) -> None:
    try:
        current = config.get(key)
    except ConfigError:  # an environment that does not exist yet
        current = None
    default = "" if current is None else _show(current)
    config.set(key, click.prompt(f"{key}: {label}", default=default, show_default=True, err=True))


def _wizard_database(config: Config, prefix: str, ask_secret: bool) -> None:
    for key, label in (
        ("host", "database host"),
        ("port", "port"),
        ("user", "user"),
        ("database", "database name"),
    ):
        _ask(config, f"{prefix}.{key}", label)
    if ask_secret:
        typed = click.prompt(
            f"{prefix}.password (Enter keeps the current one)",
            default="",
            hide_input=True,
            show_default=False,
            err=True,
        )
        if typed:
            config.set(f"{prefix}.password", typed)
    else:
        name = prefix.split(".", 1)[-1]
        var = "WFUWP_MIGRATION_PASSWORD" if prefix == "migration" else secret_env_var(name)
        click.echo(f"  (password: `wfuwp config set {prefix}.password` in a terminal, or ${var})", err=True)


__all__ = ["config_group"]
