"""The command line: `wfuwp` (groups migrate, config), `wfuwp-migrate` (= `wfuwp migrate`), `python -m wfuwp`.

A thin layer: each command parses its arguments, calls the library, and renders the result with
`wfuwp.cli.ui`. `main(argv)` returns the exit code instead of exiting, so tests run it in-process.
Errors become one line on stderr and the `WfuwpError`'s exit code (2 for usage and configuration
mistakes); `--debug` adds the traceback. Passwords are never accepted as arguments nor printed.
The `config` group lives in wfuwp.cli.config_commands; what every command shares in wfuwp.cli.common.
docs/cli.md is generated from the help texts by scripts/gen_cli_docs.py.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from wfuwp import signals
from wfuwp._version import __version__
from wfuwp.cli.common import (
    CONTEXT,
    Group,
    State,
    current_state,
    emit_json,
    global_options,
    json_option,
    nearest_command,
    notifies,
    send_notifications,
    unknown_command,
)
from wfuwp.cli.config_commands import config_group
from wfuwp.cli.ui import Ui
from wfuwp.config.plan import Plan
from wfuwp.config.settings import Config
from wfuwp.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PREFLIGHT,
    ArchiveError,
    PreflightError,
    UsageError,
    WfuwpError,
)
from wfuwp.mysql.connection import DRIVER
from wfuwp.mysql.network import SiteAddress
from wfuwp.mysql.schema import (
    NETWORK_SITE,
    TableFilter,
    site_or_network_name,
    validate_site_id,
    validate_site_or_network,
)
from wfuwp.ops.backup import backup_site
from wfuwp.ops.clean import plan_clean, run_clean
from wfuwp.ops.environment import migrate_between, plan_site, site_objects, site_tables, source_for_plan
from wfuwp.ops.export import default_export_name, export_site
from wfuwp.ops.media import CopyResult, media_location
from wfuwp.ops.migrate import migrate_site
from wfuwp.ops.network import refresh_between
from wfuwp.ops.preflight import PreflightReport
from wfuwp.ops.restore import LoadReport, check_file_network, check_network, import_sql, restore, rollback
from wfuwp.ops.verify import verify_site
from wfuwp.replace import IMPLEMENTATION

F = TypeVar("F", bound=Callable[..., Any])

# -- entry points -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run `wfuwp` with `argv` (default: sys.argv[1:]) and return the exit code."""
    return send_notifications(_run(cli, argv, "wfuwp"))


def migrate_main(argv: Sequence[str] | None = None) -> int:
    """Run `wfuwp-migrate`, which is exactly `wfuwp migrate`, and return the exit code."""
    return send_notifications(_run(migrate, argv, "wfuwp-migrate"))


def _run(command: click.Command, argv: Sequence[str] | None, prog_name: str) -> int:
    state = State()
    args = list(sys.argv[1:] if argv is None else argv)
    with signals.interruptible():
        try:
            result = command.main(args=args, prog_name=prog_name, standalone_mode=False, obj=state)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.exceptions.Abort as exc:
            # click turns a KeyboardInterrupt (and an end of input at a prompt) into Abort.
            if signals.was_interrupted() or isinstance(exc.__context__, KeyboardInterrupt):
                return _fail(state, exc, EXIT_INTERRUPTED, _INTERRUPTED)
            click.echo("aborted: nothing was written", err=True)
            return EXIT_FAILED
        except WfuwpError as exc:
            # Ctrl-C or SIGTERM stopped it, whatever the error became on the way (a driver turns a
            # KeyboardInterrupt inside a query into a lost connection).
            interrupted = signals.was_interrupted() or isinstance(exc.__cause__, KeyboardInterrupt)
            return _fail(state, exc, EXIT_INTERRUPTED if interrupted else exc.exit_code)
        except KeyboardInterrupt as exc:
            return _fail(state, exc, EXIT_INTERRUPTED, _INTERRUPTED)
        except Exception as exc:
            if signals.was_interrupted():
                return _fail(state, exc, EXIT_INTERRUPTED, f"interrupted ({type(exc).__name__}: {exc})")
            return _fail(
                state,
                exc,
                EXIT_FAILED,
                f"unexpected {type(exc).__name__}: {exc}; run again with --debug and report it",
            )
    return result if isinstance(result, int) else EXIT_OK


# A Ctrl-C or SIGTERM that stopped a command: what it stopped cleaned up after itself (a swap that had
# begun is finished first, and says so instead).
_INTERRUPTED = "interrupted (Ctrl-C or SIGTERM) before anything was swapped or restored"
# What a Ctrl-C or SIGTERM that arrived during a swap (which is never cut in half) did.
_LATE_INTERRUPT = (
    "interrupted during the swap, which cannot be cut: it finished first, and the new tables are live"
)


def _show_load(ui: Ui, report: LoadReport, *, verb: str, as_json: bool) -> int:
    """The end of a restore, rollback or import: the report (kept for notifications), shown."""
    current_state().result = report.to_dict()
    if as_json:
        emit_json(report.to_dict())
    else:
        ui.load_report(report, verb=verb)
    if report.interrupt_deferred:
        ui.warn(_LATE_INTERRUPT)
    return 0


def _show_checks(ui: Ui, checks: PreflightReport, *, tables: bool = False) -> None:
    if tables:
        ui.tables(checks.ownership)
    ui.preflight(checks)
    current_state().findings_shown = True


def _fail(state: State, exc: BaseException, code: int, message: str | None = None) -> int:
    if isinstance(exc, PreflightError) and state.findings_shown and not state.json and message is None:
        many = exc.problems > 1
        message = (
            f"pre-flight found {exc.problems} problem{'s' if many else ''} that would make the migration "
            f"fail, marked FAIL above with {'their fixes' if many else 'its fix'}: nothing was written"
        )
    text = " ".join((message or str(exc)).split())
    if state.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if state.json:
        emit_json({"status": "failed", "error": text, "exit_code": code, "error_type": type(exc).__name__})
    click.echo(f"error: {text}", err=True)
    return code


# -- the groups ----------------------------------------------------------------------------------------


@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(
    __version__,
    "--version",
    prog_name="wfuwp",
    # Which core and which MySQL driver loaded: the slow fallbacks are 4-6x slower each.
    message=f"%(prog)s %(version)s (core {IMPLEMENTATION}, MySQL driver {DRIVER})",
)
@global_options
def cli() -> None:
    """Migrate one site of a WordPress multisite network between environments.

    Environments, the migration database and S3 come from the config file: see `wfuwp config`.
    """


class _MigrateGroup(Group):
    """`wfuwp migrate SITE_ID ...` runs `wfuwp migrate run SITE_ID ...`: the group's default command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        i = 0
        while i < len(args):  # skip the group's own options
            if args[i] == "--config":
                i += 2
            elif args[i].startswith("--config=") or args[i] == "--debug":
                i += 1
            else:
                break
        if i < len(args) and args[i] not in self.commands and args[i] not in ctx.help_option_names:
            if not args[i].isdigit() and nearest_command(args[i], self.commands) is not None:
                raise unknown_command(ctx, args[i], self.commands)  # `lsit` is a typo, not a site id
            args.insert(i, "run")
        return super().parse_args(ctx, args)


cli.add_command(config_group)


@cli.group(cls=_MigrateGroup, context_settings=CONTEXT)
@global_options
def migrate() -> None:
    """Migrate a site, and the steps of a migration one by one.

    `wfuwp migrate SITE_ID --from ENV --to ENV` is `wfuwp migrate run SITE_ID --from ENV --to ENV`.
    """


# -- migrate ---------------------------------------------------------------------------------------------


def _from_to(f: F) -> F:
    f = click.option(
        "--to", "to_env", required=True, metavar="ENV", help="The environment to migrate the site into."
    )(f)
    f = click.option(
        "--from", "from_env", required=True, metavar="ENV", help="The environment the site comes from."
    )(f)
    return f


def _yes_option(f: F) -> F:
    return click.option(
        "--yes", "-y", is_flag=True, help="Do not ask before writing to a protected environment."
    )(f)


def _replace_option(f: F) -> F:
    f = click.option(
        "--force",
        "force",
        is_flag=True,
        help="Accept a --replace search shorter than 4 characters (it matches inside words and hosts).",
    )(f)
    return click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="FROM=TO",
        help="One more replacement, a plain substring after the plan's rules; repeatable. No rule may "
        "rewrite what another wrote: a pair that would is moved before that rule when their matches "
        "cannot overlap, and refused otherwise.",
    )(f)


def _table_options(f: F) -> F:
    f = click.option(
        "--allow-network-tables",
        is_flag=True,
        help="Let --include-table name a network table (wp_users, wp_blogs, ...): it is then copied as the "
        "site's, replacing the whole network's.",
    )(f)
    f = click.option(
        "--exclude-table",
        "exclude_tables",
        multiple=True,
        metavar="PATTERN",
        help="A table the site never owns, by name or glob (wp_stream*); repeatable; wins over every rule. "
        "The target's table of that name is left as it is. Added to the config's exclude_tables.",
    )(f)
    return click.option(
        "--include-table",
        "include_tables",
        multiple=True,
        metavar="PATTERN",
        help="A table the site owns although a rule leaves it out, by name or glob; repeatable. Never "
        "another site's numbered table. Added to the config's include_tables.",
    )(f)


def _table_filter(
    config: Config, envs: Sequence[str], include: Sequence[str], exclude: Sequence[str], allow_network: bool
) -> TableFilter:
    """The environments' configured table patterns, then those of the flags."""
    return config.table_filter(*envs).merged(TableFilter(tuple(include), tuple(exclude), allow_network))


def _site_argument(f: F) -> F:
    return click.argument("site_id", metavar="SITE_ID")(f)


class _RunCommand(click.Command):
    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        parent = ctx.parent.command_path if ctx.parent else "wfuwp migrate"
        formatter.write_usage(parent, "[run] SITE_ID --from ENV --to ENV [OPTIONS]")


@migrate.command("run", cls=_RunCommand, context_settings=CONTEXT)
@_site_argument
@_from_to
@click.option(
    "--complete/--simple",
    "complete",
    default=True,
    help="--complete (default): copy the site from the source environment into the target, replacing on "
    "the way. --simple: the predecessor's last step only: search-replace in place on the site's tables "
    "already in the migration database (no archive: it is scratch space).",
)
@click.option(
    "--skip-backup",
    is_flag=True,
    help="Write no archives, so keep no backup of the target's tables (a loud warning says so).",
)
@click.option(
    "--skip-s3",
    is_flag=True,
    help="Write the archives to a local directory (under --work-dir) even when s3.bucket is set.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="PATH",
    help="Directory for local archives (default: the per-user data directory, e.g. ~/.local/share/wfuwp).",
)
@click.option(
    "--keep-files",
    is_flag=True,
    help="Keep the target's replaced tables as _wfo_<id>_* after the swap: `wfuwp migrate rollback` then "
    "undoes the migration instantly; `wfuwp migrate clean` drops them.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Connect, run the pre-flight checks, print the plan, every table under the prefix (in or out "
    "of the site, and why) and the number of replacements per table and column; write nothing to any "
    "database.",
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask before writing to a protected environment (for automation)."
)
@_replace_option
@click.option(
    "--resume",
    metavar="MIGRATION_ID",
    help="Finish a migration whose process died (killed, power cut): tables it had loaded and verified are "
    "kept, the rest are copied, with the replacement rules it started with.",
)
@click.option(
    "--sync-media",
    is_flag=True,
    help="After the migration, copy the site's media from the source's media bucket to the target's.",
)
@_table_options
@json_option
@global_options
@notifies("migrate run")
def run(
    site_id: str,
    from_env: str,
    to_env: str,
    complete: bool,
    skip_backup: bool,
    skip_s3: bool,
    work_dir: Path | None,
    keep_files: bool,
    dry_run: bool,
    yes: bool,
    replace: tuple[str, ...],
    force: bool,
    resume: str | None,
    sync_media: bool,
    include_tables: tuple[str, ...],
    exclude_tables: tuple[str, ...],
    allow_network_tables: bool,
    as_json: bool,
) -> int:
    """Migrate site SITE_ID from one environment to another.

    Shows the replacement plan and the pre-flight checks, asks before writing to a protected
    environment, then copies every table of the site (see `wfuwp migrate plan` for which, and why;
    --include-table/--exclude-table change it) from --from into staging tables of --to,
    replacing URLs on the way, verifies them, backs up the target's tables and swaps the new ones in
    at once. Any failure leaves the target as it was. Archives (source export, target backup,
    migrated export) go to s3://<s3.bucket>/<s3.prefix>, or to a local directory.
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    config = current_state().config()
    if complete and not dry_run:
        _refuse_without_terminal(config, to_env, yes)
    if complete and skip_backup and not dry_run:  # before the question, so that it is read before the answer
        ui.warn(
            f"--skip-backup: no archive and NO BACKUP of site {site}'s tables in {to_env} will be kept; "
            "what the migration replaces cannot be restored"
        )
    if resume is not None and (skip_backup or not complete):
        raise UsageError(
            "--resume needs the archive the migration was started with: drop --skip-backup/--simple"
        )
    if resume is not None:
        ui.note(f"resuming {resume}: the rules recorded when it started apply, whatever the plan below says")
    with ui.progress() as progress:
        result = migrate_between(
            config,
            site,
            from_env,
            to_env,
            in_place=not complete,
            archive=config.archive_location(work_dir, local=skip_s3)
            if complete and not skip_backup
            else None,
            extra=_pairs(replace),
            force=force,
            dry_run=dry_run,
            keep_old=keep_files,
            resume=resume,
            media=sync_media,
            progress=progress,
            on_plan=ui.plan,
            on_checks=lambda checks: _show_checks(ui, checks, tables=dry_run),
            confirm=(lambda: _confirm(ui, config, to_env, site, yes)) if complete else None,
            tables=_table_filter(config, (), include_tables, exclude_tables, allow_network_tables),
        )
    media = _media_dict(config, result.media, site, from_env, to_env) if result.media is not None else None
    if result.matches is not None:
        ui.matches(result.matches)
        _media_line(ui, media)
        current_state().result = {
            "dry_run": True,
            "site_id": site,
            "from": from_env,
            "to": to_env,
            "source": str(result.source),
            "target": str(result.target),
            "plan": _plan_dict(result.plan),
            "preflight": result.checks.to_dict(),
            "tables": [asdict(c) for c in result.ownership],
            "matches": [m.__dict__ for m in result.matches],
            "media": media,
        }
        if as_json:
            emit_json(current_state().result)
        return 0
    assert result.report is not None
    if not as_json:
        ui.summary(result.report)
    if result.report.interrupt_deferred:
        ui.warn(
            _LATE_INTERRUPT
            + f"; `wfuwp migrate rollback {result.report.migration_id} --env {to_env}` undoes it"
        )
    _media_line(ui, media)
    current_state().result = {**result.report.to_dict(), "media": media}
    if as_json:
        emit_json(current_state().result)
    return 0


def _media_line(ui: Ui, media: dict[str, Any] | None) -> None:
    if media is not None:
        verb = "would copy" if media["dry_run"] else "copied"
        ui.line(
            f"media {media['source']} -> {media['target']}: {verb} {media['copied']} objects "
            f"({media['bytes_copied'] / 1e6:,.1f} MB), {media['skipped']} already there"
        )


def _media_dict(config: Config, copied: CopyResult, site: int, from_env: str, to_env: str) -> dict[str, Any]:
    """What a media sync did, as plain data."""
    src, dst, prefix = media_location(config, site, from_env, to_env)
    return {
        "source": f"s3://{src}/{prefix}",
        "target": f"s3://{dst}/{prefix}",
        "copied": copied.copied,
        "skipped": copied.skipped,
        "bytes_copied": copied.bytes_copied,
        "dry_run": copied.dry_run,
    }


def _refuse_without_terminal(config: Config, env: str, yes: bool) -> None:
    """Refuse at once, before connecting anywhere, when a protected env cannot be confirmed."""
    if config.is_protected(env) and not yes and not sys.stdin.isatty():
        raise UsageError(
            f"{env} is a protected environment and there is no terminal to confirm on: nothing was written; "
            "add --yes to confirm in automation"
        )


def _confirm(ui: Ui, config: Config, env: str, site: int, yes: bool) -> None:
    """Ask a person to type the site id (`network` for the network tables, NETWORK_SITE) before
    anything is written to a protected environment."""
    if not config.is_protected(env) or yes:
        return
    _refuse_without_terminal(config, env, yes)
    word = "network" if site == NETWORK_SITE else str(site)
    what = "the network tables" if site == NETWORK_SITE else f"site {site}'s tables"
    ui.warn(f"{env} is a protected environment: {what} there will be replaced")
    ask = "Type 'network'" if site == NETWORK_SITE else f"Type the site id ({site})"
    typed = click.prompt(f"{ask} to go on", default="", show_default=False, err=True)
    if typed.strip() != word:
        raise WfuwpError(f"you typed {typed.strip()!r}, not {word}: nothing was written")


def _pairs(values: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        search, sep, replacement = value.partition("=")
        if not sep or not search:
            raise UsageError(
                f"--replace {value!r} is not FROM=TO: give it as --replace old.example.edu=new.example.edu"
            )
        pairs.append((search, replacement))
    return pairs


def _plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "from": plan.from_env,
        "to": plan.to_env,
        "source_url": plan.source_url,
        "target_url": plan.target_url,
        "rules": [
            {
                "search": e.rule.search.decode("utf-8", "backslashreplace"),
                "replace": e.rule.replace.decode("utf-8", "backslashreplace"),
                "reason": e.reason,
                "host_start": e.rule.host_start,
                "host_end": e.rule.host_end,
                "subdomain": e.rule.subdomain,
                "exclude_hosts": [h.decode("utf-8", "backslashreplace") for h in e.rule.exclude_hosts],
                "describe": e.describe(),
            }
            for e in plan.entries
        ],
        "notes": list(plan.notes),
        "source_site": _site_dict(plan.source_site),
        "target_site": _site_dict(plan.target_site),
        "warnings": list(plan.warnings),
    }


def _site_dict(site: SiteAddress | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {"domain": site.domain, "path": site.path, "siteurl": site.siteurl, "home": site.home}


@migrate.command("plan", context_settings=CONTEXT)
@_site_argument
@_from_to
@_replace_option
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with code 2 when the plan warns (the site's host in the source is rewritten by no rule).",
)
@_table_options
@json_option
@global_options
def plan_command(
    site_id: str,
    from_env: str,
    to_env: str,
    replace: tuple[str, ...],
    force: bool,
    strict: bool,
    include_tables: tuple[str, ...],
    exclude_tables: tuple[str, ...],
    allow_network_tables: bool,
    as_json: bool,
) -> int:
    """Show the ordered replacement pairs of a migration, where each comes from, and the site's tables.

    The site's own address in each network (its wp_blogs domain and path, its siteurl and home) is
    read from the source's and the target's databases when they are configured, and printed; rules
    move its hosts and URL where the two environments' configuration (site_host, bare_host,
    subdomain_base, media and CDN hosts, extra_pairs) does not already, then come the configuration's
    rules and --replace. A site that is not in the source is an error (exit code 3), and so is a source
    that cannot be reached (exit code 1). When the site's host in the source is rewritten by no rule
    the plan warns; --strict makes that an error (exit code 2).

    With the source's database configured, every table under its prefix is listed, in or out of the
    site, with the rule that decided (the target's tables count for per-site twins when it is reachable),
    then the views, stored routines and events of the source that name the site's tables: they are not
    migrated (create them in the target by hand if the site needs them there).

    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    config = current_state().config()
    lookup = source_for_plan(config, from_env)  # none configured: the plan needs none
    wanted = _table_filter(config, (), include_tables, exclude_tables, allow_network_tables)
    plan = plan_site(
        config,
        site,
        from_env,
        to_env,
        extra=_pairs(replace),
        lookup=lookup,
        require_site=True,
        target_lookup=source_for_plan(config, to_env),
        force=force,
    )
    choices = site_tables(config, site, from_env, to_env, tables=wanted) if lookup is not None else None
    objects = (
        site_objects(config, from_env, [c.name for c in choices if c.owned]) if choices is not None else None
    )
    if as_json:
        tables = [asdict(c) for c in choices] if choices is not None else None
        listed = (
            [{**asdict(o), "tables": list(o.tables), "migrated": False} for o in objects]
            if objects is not None
            else None
        )
        emit_json({"site_id": site, **_plan_dict(plan), "tables": tables, "objects": listed})
    else:
        ui.plan(plan)
        if choices is not None:
            ui.tables(choices)
        if objects:
            ui.objects(objects)
    if strict and plan.warnings:
        raise UsageError(f"--strict: {plan.warnings[0]}")
    return 0


@migrate.command("export", context_settings=CONTEXT)
@_site_argument
@click.option("--env", "env", required=True, metavar="ENV", help="The environment to export the site from.")
@click.option(
    "-o",
    "--output",
    metavar="FILE|s3://...",
    help="Where to write (zstd-compressed SQL; default: ./site<id>-<env>-export-<time>.sql.zst).",
)
@_table_options
@json_option
@global_options
def export_command(
    site_id: str,
    env: str,
    output: str | None,
    include_tables: tuple[str, ...],
    exclude_tables: tuple[str, ...],
    allow_network_tables: bool,
    as_json: bool,
) -> int:
    """Export a site's tables to one zstd-compressed SQL file (or S3 object).

    Reads every table of the site from one consistent snapshot. Load the file with
    `zstd -dc FILE | mariadb DATABASE` (it drops and recreates each table). An s3://bucket/key
    output uses the config's s3 endpoint, region and encryption settings.
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    config = current_state().config()
    db = config.env(env).as_database()
    destination = output or default_export_name(site, env)
    with ui.progress() as progress:
        report = export_site(
            db,
            site,
            destination,
            progress=progress,
            s3=config.s3.options(),
            tables=_table_filter(config, (env,), include_tables, exclude_tables, allow_network_tables),
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        ui.export(report)
    return 0


@migrate.command("transform", context_settings=CONTEXT)
@_site_argument
@_from_to
@_replace_option
@json_option
@global_options
def transform(
    site_id: str, from_env: str, to_env: str, replace: tuple[str, ...], force: bool, as_json: bool
) -> int:
    """Search-replace a site's tables in place in the migration database.

    Applies the plan from --from to --to to the site's tables already sitting in the migration
    database (loaded there with `wfuwp migrate import`), safely for PHP-serialized data; the tables
    are swapped atomically and nothing else is touched. The same as `wfuwp migrate SITE_ID --simple`,
    without archives: the migration database is scratch space.
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    config = current_state().config()
    db = config.migration.as_database()
    plan = plan_site(
        config,
        site,
        from_env,
        to_env,
        extra=_pairs(replace),
        lookup=db,
        target_lookup=source_for_plan(config, to_env),
        force=force,
    )
    ui.plan(plan)
    with ui.progress() as progress:
        report = migrate_site(
            site, source=db, target=db, replacements=plan.rules, archive=None, progress=progress, force=True
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        ui.summary(report)
    return 0


@migrate.command("backup", context_settings=CONTEXT)
@_site_argument
@click.option(
    "--env", "env", required=True, metavar="ENV", help="The environment whose site tables to back up."
)
@click.option(
    "--skip-s3",
    is_flag=True,
    help="Write to a local directory (under --work-dir) even when s3.bucket is set.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="PATH",
    help="Directory for local archives (default: the per-user data directory).",
)
@_table_options
@json_option
@global_options
def backup(
    site_id: str,
    env: str,
    skip_s3: bool,
    work_dir: Path | None,
    include_tables: tuple[str, ...],
    exclude_tables: tuple[str, ...],
    allow_network_tables: bool,
    as_json: bool,
) -> int:
    """Back up a site's tables into the archive, as a backup that `restore` takes.

    The backup's id looks like a migration's from and to the same environment
    (20261125T101500Z-prod-to-prod-3fa2c1); `wfuwp migrate list` shows it.
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    config = current_state().config()
    db = config.env(env).as_database()
    archive = config.archive_location(work_dir, local=skip_s3)
    with ui.progress() as progress:
        report = backup_site(
            db,
            site,
            archive,
            progress=progress,
            tables=_table_filter(config, (env,), include_tables, exclude_tables, allow_network_tables),
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        rows = sum(t.rows for t in report.tables)
        ui.line(
            f"backup {report.backup_id}: {len(report.tables)} tables, {rows:,} rows of site {site} in {env}"
        )
        ui.line(f"archive: {report.archive.get('location')}")
    return 0


def _force_option(what: str) -> Callable[[F], F]:
    def add(f: F) -> F:
        return click.option(
            "--force",
            is_flag=True,
            help=f"{what} even when the archive was made for another network or environment.",
        )(f)

    return add


def _archive_options(f: F) -> F:
    f = click.option(
        "--work-dir",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="PATH",
        help="The local archives are under PATH/archives (default: the per-user data directory).",
    )(f)
    f = click.option("--skip-s3", is_flag=True, help="Use the local archives even when s3.bucket is set.")(f)
    return f


@migrate.command("list", context_settings=CONTEXT)
@click.option(
    "--site",
    "site_id",
    metavar="N|network",
    help="Only site N's migrations and backups (network: the network tables' own, from env-migrate).",
)
@click.option("--env", "env", metavar="ENV", help="Only migrations from or to ENV.")
@click.option(
    "--network",
    metavar="ID|DOMAIN",
    help="Only migrations read from or written to this network: its id (4+ first digits) or main domain.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="At most this many, newest first (0: all).",
)
@_archive_options
@json_option
@global_options
def list_command(
    site_id: str | None,
    env: str | None,
    network: str | None,
    limit: int,
    skip_s3: bool,
    work_dir: Path | None,
    as_json: bool,
) -> int:
    """List the migrations and backups in the archive, newest first.

    The archive is s3://<s3.bucket>/<s3.prefix> when a bucket is configured, else the local one.
    A migration that did not finish (no manifest) shows as incomplete. The network column is the
    one the archive's tables go back into (a migration's target, a backup's own): its main domain
    and id; "unknown" for archives made before networks were recorded. The network tables'
    migrations (from env-migrate) show as site "network".
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_or_network(site_id) if site_id is not None else None
    location = current_state().config().archive_location(work_dir, local=skip_s3)
    found = location.list_migrations(site, env, limit=limit or None, network=network)
    if as_json:
        emit_json([{**info.__dict__, "when": info.when.isoformat()} for info in found])
    else:
        ui.migrations(location.url, found)
    return 0


@migrate.command("status", context_settings=CONTEXT)
@click.argument("migration_id", metavar="MIGRATION_ID")
@_archive_options
@json_option
@global_options
def status(migration_id: str, skip_s3: bool, work_dir: Path | None, as_json: bool) -> int:
    """Show what a migration (or backup) did, from its manifest: status, tables, rows, sizes, errors.

    MIGRATION_ID is what `wfuwp migrate list` shows (20261125T101500Z-prod-to-pprd-3fa2c1), or
    site-<id>/<that> (network/<that>) to skip searching the site folders. Exit code 0 when the
    migration exists, whatever its status.
    """
    ui = Ui(json_mode=as_json)
    location = current_state().config().archive_location(work_dir, local=skip_s3)
    # A run that died before its manifest is told from its state.json: how far its cut-over got.
    manifest = location.migration(migration_id).read_record()
    if as_json:
        emit_json(manifest.to_dict() if manifest else {"id": migration_id, "status": "incomplete"})
    else:
        ui.manifest(migration_id, manifest)
    return 0


@migrate.command("log", context_settings=CONTEXT)
@click.argument("migration_id", metavar="MIGRATION_ID")
@_archive_options
@json_option
@global_options
def log_command(migration_id: str, skip_s3: bool, work_dir: Path | None, as_json: bool) -> int:
    """Print a migration's log: its steps, tables, retries, warnings and error, each with its time.

    The log is log.jsonl beside the manifest, one JSON record a line, written when the migration
    ends (a resumed one adds its own); --json prints the records as one JSON array. A migration
    run with --debug also logged wfuwp's debug records and the MySQL driver's own messages.
    MIGRATION_ID is what `wfuwp migrate list` shows.
    """
    ui = Ui(json_mode=as_json)
    location = current_state().config().archive_location(work_dir, local=skip_s3)
    records = location.migration(migration_id).read_log()
    if records is None:
        raise ArchiveError(
            f"migration {migration_id} has no log: it is still running, was killed before it could "
            "write one, or ran before migrations kept logs; "
            f"`wfuwp migrate status {migration_id}` shows its manifest"
        )
    if as_json:
        emit_json(records)
    else:
        ui.log_records(records)
    return 0


@migrate.command("rollback", context_settings=CONTEXT)
@click.argument("migration_id", metavar="MIGRATION_ID")
@click.option("--env", "env", required=True, metavar="ENV", help="The environment the migration wrote into.")
@_force_option("Roll back")
@_yes_option
@_archive_options
@json_option
@global_options
@notifies("migrate rollback")
def rollback_command(
    migration_id: str, env: str, force: bool, yes: bool, skip_s3: bool, work_dir: Path | None, as_json: bool
) -> int:
    """Undo a completed migration: put back the tables it replaced, remove the ones it created.

    Instant (one RENAME TABLE) when the migration ran with --keep-files and its _wfo_* tables are
    still there; otherwise the archived backup is restored, verified against the manifest's checksums.
    """
    ui = Ui(json_mode=as_json)
    config = current_state().config()
    _refuse_without_terminal(config, env, yes)
    target = config.env(env).as_database()
    location = config.archive_location(work_dir, local=skip_s3)
    manifest = location.migration(migration_id).read_record()
    if manifest is None:
        raise UsageError(
            f"migration {migration_id} recorded nothing (it never started): nothing to roll back"
        )
    if manifest.to_env != env:
        raise UsageError(
            f"{migration_id} migrated into {manifest.to_env}, not {env}: roll it back with --env "
            f"{manifest.to_env} (or use `wfuwp migrate restore` to copy its backup elsewhere)"
        )
    if not force:  # before asking: a refusal needs no confirmation
        check_network(manifest, "backup", target, verb="roll it back")
    _confirm(ui, config, env, manifest.site_id, yes)
    with ui.progress() as progress:
        report = rollback(migration_id, target, archive=location, force=force, progress=progress)
    return _show_load(ui, report, verb="rolled back", as_json=as_json)


@migrate.command("restore", context_settings=CONTEXT)
@click.argument("migration_id", metavar="MIGRATION_ID")
@click.option("--env", "env", required=True, metavar="ENV", help="The environment to restore into.")
@click.option(
    "--migrated",
    is_flag=True,
    help="Restore the migration's migrated tables instead of its backup (redo rather than undo).",
)
@click.option(
    "--skip-backup",
    is_flag=True,
    help="Do not archive the tables the restore replaces first (a loud warning says so).",
)
@_force_option("Restore")
@_yes_option
@_archive_options
@json_option
@global_options
@notifies("migrate restore")
def restore_command(
    migration_id: str,
    env: str,
    migrated: bool,
    skip_backup: bool,
    force: bool,
    yes: bool,
    skip_s3: bool,
    work_dir: Path | None,
    as_json: bool,
) -> int:
    """Put a migration's backup (or a `backup`'s tables) back into ENV, exactly as archived.

    Restoring a migration's backup undoes it: the tables it replaced come back and the tables it
    created are removed. The rows are checked against the checksums in the manifest before one atomic
    swap; the tables being replaced are archived first (a new archive folder). Any failure leaves ENV
    as it was. MIGRATION_ID is what `wfuwp migrate list` shows. An archive made for another
    network or environment than ENV is refused, unless --force.
    """
    ui = Ui(json_mode=as_json)
    config = current_state().config()
    _refuse_without_terminal(config, env, yes)
    target = config.env(env).as_database()
    location = config.archive_location(work_dir, local=skip_s3)
    manifest = location.read_manifest(migration_id)
    site = manifest.site_id
    if manifest.to_env != env and (force or manifest.target_network is None):
        # Refused below unless forced, or made before archives recorded their network.
        ui.warn(
            f"{migration_id} wrote into {manifest.to_env}, not {env}: its tables go into {env} all the same"
        )
    if skip_backup:
        ui.warn(
            f"--skip-backup: the tables of {site_or_network_name(site)} in {env} that this replaces are "
            "NOT archived first"
        )
    if not force:  # before asking: a refusal needs no confirmation
        check_network(manifest, "migrated" if migrated else "backup", target)
    _confirm(ui, config, env, site, yes)
    with ui.progress() as progress:
        report = restore(
            migration_id,
            target,
            archive=location,
            which="migrated" if migrated else "backup",
            backup=not skip_backup,
            force=force,
            progress=progress,
        )
    return _show_load(ui, report, verb="restored", as_json=as_json)


@migrate.command("import", context_settings=CONTEXT)
@click.argument("source", metavar="SQL_FILE|s3://...")
@click.option("--env", "env", metavar="ENV", help="The environment to load the tables into.")
@click.option(
    "--migration-db",
    is_flag=True,
    help="Load into the migration database instead (then `transform` or `migrate --simple`).",
)
@click.option(
    "--site",
    "site_id",
    metavar="N",
    help="Accept only site N's tables (required for a protected environment).",
)
@click.option(
    "--skip-backup",
    is_flag=True,
    help="Do not archive the tables the import replaces first (a loud warning says so).",
)
@_force_option("Import a file of an archive folder")
@_yes_option
@_archive_options
@json_option
@global_options
@notifies("migrate import")
def import_command(
    source: str,
    env: str | None,
    migration_db: bool,
    site_id: str | None,
    skip_backup: bool,
    force: bool,
    yes: bool,
    skip_s3: bool,
    work_dir: Path | None,
    as_json: bool,
) -> int:
    """Load an SQL dump (.sql, .sql.gz or .sql.zst; a file or s3://bucket/key) into ENV.

    Takes this tool's exports and archives, and mysqldump/mariadb-dump output. Every statement is
    vetted (table dumps only: no network tables, no other database, literal values only); the tables
    are loaded into staging tables, then swapped in at once, so a truncated or refused file changes
    nothing. The tables being replaced in ENV are archived first. A file of an archive folder
    (site-<n>/<id>/<source|backup|migrated>/) made for another network or environment is refused,
    unless --force.
    """
    ui = Ui(json_mode=as_json)
    config = current_state().config()
    if (env is None) == (not migration_db):
        raise UsageError("give either --env ENV or --migration-db: where should the tables go?")
    site = validate_site_id(site_id) if site_id is not None else None
    if env is not None:
        _refuse_without_terminal(config, env, yes)
        if config.is_protected(env) and site is None:
            raise UsageError(
                f"{env} is a protected environment: add --site N so that only site N's tables load"
            )
        target = config.env(env).as_database()
        archive = None if skip_backup else config.archive_location(work_dir, local=skip_s3)
        if skip_backup:
            ui.warn(f"--skip-backup: the tables in {env} that this replaces are NOT archived first")
        if not force:  # before asking: a refusal needs no confirmation
            check_file_network(source, target, s3=config.s3.options())
        if site is not None:
            _confirm(ui, config, env, site, yes)
    else:
        target = config.migration.as_database()
        archive = None  # scratch space: nothing there is worth a backup
    with ui.progress() as progress:
        report = import_sql(
            source,
            target,
            archive=archive,
            site_id=site,
            s3=config.s3.options(),
            force=force,
            progress=progress,
        )
    return _show_load(ui, report, verb="imported", as_json=as_json)


@migrate.command("clean", context_settings=CONTEXT)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before dropping (for automation).")
@click.option(
    "--keep-migration-db",
    is_flag=True,
    help="Only drop leftover tables; leave the migration database as it is.",
)
@json_option
@global_options
def clean(yes: bool, keep_migration_db: bool, as_json: bool) -> int:
    """Drop leftover staging/old tables everywhere, and empty the migration database.

    Finds the `_wfs_*` (staging) and `_wfo_*` (old) tables that interrupted migrations or
    --keep-files left in every configured environment, and every table of the migration database;
    shows them, asks, then drops them. Tables of a site a migration is writing right now are left alone.
    """
    ui = Ui(json_mode=as_json)
    plan = plan_clean(current_state().config(), migration=not keep_migration_db)
    ui.clean_plan(plan)
    if plan.tables and not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "clean drops tables and there is no terminal to confirm on: nothing was dropped; "
                "add --yes to confirm in automation"
            )
        if not click.confirm(f"Drop these {plan.tables} tables?", default=False, err=True):
            raise WfuwpError("nothing was dropped")
    if plan.tables:
        run_clean(plan)
        ui.clean_plan(plan, done=True)
    else:
        ui.line("nothing to clean")
    if as_json:
        emit_json(plan.to_dict())
    if plan.errors:
        raise WfuwpError(f"{len(plan.errors)} database(s) could not be cleaned; first: {plan.errors[0]}")
    return 0


@migrate.command("verify", context_settings=CONTEXT)
@_site_argument
@click.option("--env", "env", required=True, metavar="ENV", help="The environment whose site to check.")
@json_option
@global_options
def verify(site_id: str, env: str, as_json: bool) -> int:
    """Check a site's tables: present, readable, row counts, orphaned rows.

    Exit code 0 when every core table is present and every table reads to the end; orphans (postmeta
    rows whose post is gone, ...) are warnings. Reads only.
    """
    ui = Ui(json_mode=as_json)
    site = validate_site_id(site_id)
    check = verify_site(current_state().config().env(env).as_database(), site)
    if as_json:
        emit_json(check.to_dict())
    ui.site_check(check)
    if not check.ok:
        raise WfuwpError(f"site {site} in {env} has {len(check.problems)} problem(s): {check.problems[0]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["cli", "main", "migrate_main"]


# -- the whole environment -----------------------------------------------------------------------------------


def _site_list(value: str | None, option: str) -> list[int] | None:
    if value is None:
        return None
    try:
        return [validate_site_id(part) for part in value.replace(" ", "").split(",") if part]
    except UsageError:
        raise UsageError(f"{option} {value!r} is not a list of site ids: give it as 2,43,430") from None


def _network_options(f: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "--parallel",
                type=click.IntRange(1, 64),
                default=2,
                show_default=True,
                help="Sites migrated at once.",
            ),
            click.option(
                "--max-connections",
                type=click.IntRange(1, 512),
                default=16,
                show_default=True,
                help="Connections per server for all the sites at once (each site gets its share).",
            ),
            click.option("--include-sites", metavar="IDS", help="Only these sites (comma-separated ids)."),
            click.option("--exclude-sites", metavar="IDS", help="Not these sites (comma-separated ids)."),
            click.option(
                "--drop-target-only-sites",
                is_flag=True,
                help="Drop the sites only the target has (their wp_blogs rows, and their tables "
                "after backing them up) instead of keeping them.",
            ),
            click.option(
                "--resume",
                is_flag=True,
                help="Continue the latest unfinished refresh between the same environments: "
                "finished sites are skipped, a site cut short is resumed, the rest start.",
            ),
            click.option(
                "--fail-fast",
                is_flag=True,
                help="Stop at the first failed site (the sites running then are put back).",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Run the pre-flight checks of every site and of the network tables and print "
                "the plan; write nothing.",
            ),
            click.option(
                "--keep-files",
                is_flag=True,
                help="Keep every replaced table as _wfo_<id>_* (instant rollback; "
                "`wfuwp migrate clean` drops them).",
            ),
            click.option(
                "--skip-s3",
                is_flag=True,
                help="Write the archives and the state file to a local directory even when s3.bucket is set.",
            ),
            click.option(
                "--work-dir",
                type=click.Path(file_okay=False, path_type=Path),
                metavar="PATH",
                help="Directory for local archives (default: the per-user data directory).",
            ),
            _yes_option,
            _replace_option,
            json_option,
            global_options,
        ]
    ):
        f = decorator(f)
    return f


def _env_migrate(from_env: str, to_env: str, **kw: Any) -> int:
    """What `wfuwp env-migrate` and `wfuwp migrate network` run."""
    ui = Ui(json_mode=kw["as_json"])
    config = current_state().config()
    dry_run, yes = kw["dry_run"], kw["yes"]
    if not dry_run:
        _refuse_without_terminal(config, to_env, yes)

    def confirm() -> None:
        if not config.is_protected(to_env) or yes:
            return
        ui.warn(
            f"{to_env} is a protected environment: its network tables and every site above will be replaced"
        )
        typed = click.prompt(f"Type the environment's name ({to_env}) to go on", default="",
                             show_default=False, err=True)  # fmt: skip
        if typed.strip() != to_env:
            raise WfuwpError(f"you typed {typed.strip()!r}, not {to_env}: nothing was written")

    with ui.network_progress() as progress:
        report = refresh_between(
            config,
            from_env,
            to_env,
            extra=_pairs(kw["replace"]),
            archive=config.archive_location(kw["work_dir"], local=kw["skip_s3"]),
            parallel=kw["parallel"],
            max_connections=kw["max_connections"],
            include_sites=_site_list(kw["include_sites"], "--include-sites"),
            exclude_sites=_site_list(kw["exclude_sites"], "--exclude-sites") or (),
            drop_target_only_sites=kw["drop_target_only_sites"],
            resume=kw["resume"],
            fail_fast=kw["fail_fast"],
            dry_run=dry_run,
            keep_old=kw["keep_files"],
            progress=progress,
            on_plan=None if kw["as_json"] else ui.network_plan,
            confirm=confirm,
        )
    current_state().result = report.to_dict()
    if kw["as_json"]:
        emit_json(report.to_dict())
    else:
        ui.network_summary(report)
    if report.failed:
        what = "would fail" if dry_run else "failed"
        ui.warn(
            f"{len(report.failed)} of {len(report.sites) + 1} {what}: "
            + ", ".join(o.name for o in report.failed)
            + ("" if dry_run else "; the others finished. Fix the cause, then run again with --resume")
        )
        return EXIT_PREFLIGHT if dry_run else EXIT_FAILED
    return 0


@cli.command("env-migrate", context_settings=CONTEXT)
@click.argument("from_env", metavar="SRC")
@click.argument("to_env", metavar="TGT")
@_network_options
@notifies("env-migrate")
def env_migrate(from_env: str, to_env: str, **kw: Any) -> int:
    """Refresh environment TGT from SRC: the network tables, then every site.

    Each site is its own migration (archives, manifest, lock, report), --parallel at once; the network
    tables (wp_blogs, wp_site, wp_users, ... and the network-wide plugins' tables) go through the same
    staging, verification, backup and swap, with every site's domain and path mapped. Sites only TGT
    has are kept (or dropped with --drop-target-only-sites). A failed site does not stop the others;
    the end prints one table and exits non-zero if any failed. --resume continues a run that stopped.
    """
    return _env_migrate(from_env, to_env, **kw)


@migrate.command("network", context_settings=CONTEXT)
@_from_to
@_network_options
@notifies("migrate network")
def migrate_network_command(from_env: str, to_env: str, **kw: Any) -> int:
    """Refresh a whole environment: `wfuwp env-migrate --from SRC --to TGT` in the migrate group.

    The same command as `wfuwp env-migrate SRC TGT`, with the environments given as --from and --to.
    """
    return _env_migrate(from_env, to_env, **kw)
