"""What every CLI command shares: the invocation's State, --config/--debug/--json, JSON on stdout."""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import orjson
from click.core import ParameterSource

from wfuwp.config.settings import CONFIG_ENV_VAR, Config, NotifyConfig, config_path
from wfuwp.errors import ConfigError, UsageError, WfuwpError
from wfuwp.ops.notify import Outcome, notify, now

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class State:
    """What the global options set, shared by every command of one invocation."""

    def __init__(self) -> None:
        self.config_path: Path | None = None
        self.debug = False
        self.json = False
        self.result: dict[str, Any] | None = None  # what the command printed (or would print) with --json
        # Pre-flight's findings were printed: a PreflightError need not repeat them.
        self.findings_shown = False
        self._config: Config | None = None

    def config(self, *, create: bool = False) -> Config:
        """The configuration, loaded once.

        A missing default file is an empty configuration. A file named by --config or WFUWP_CONFIG must
        exist (ConfigError "not found"), unless `create`: the commands that write the file make it.
        """
        if self._config is None:
            path = config_path(self.config_path)
            if not create and not path.exists():
                if self.config_path is not None:
                    raise ConfigError(
                        f"config file {path} not found: check the --config path, or create the file with "
                        f"`wfuwp --config {path} config wizard`"
                    )
                if os.environ.get(CONFIG_ENV_VAR):
                    raise ConfigError(
                        f"config file {path} (from {CONFIG_ENV_VAR}) not found: check {CONFIG_ENV_VAR}, "
                        "or create the file with `wfuwp config wizard`"
                    )
            self._config = Config.load(path)
        return self._config


# Words people type for a command that has another name here.
_SYNONYMS = {
    "show": "list", "ls": "list", "view": "list", "print": "get", "rm": "unset", "remove": "unset",
    "delete": "unset", "del": "unset", "init": "wizard", "setup": "wizard", "info": "status",
    "undo": "rollback", "check": "verify", "dump": "export", "load": "import", "cleanup": "clean",
}  # fmt: skip


def nearest_command(word: str, commands: Iterable[str]) -> str | None:
    """The command a mistyped `word` most likely meant (`lsit` -> `list`, `show` -> `list`), or None."""
    names = sorted(commands)
    alias = _SYNONYMS.get(word.lower())
    if alias in names:
        return alias
    # A typo keeps about the length of the word: `biology` (a site's name) is no typo of `log`.
    similar = [name for name in names if abs(len(name) - len(word)) <= 2]
    close = difflib.get_close_matches(word.lower(), similar, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_command(ctx: click.Context, word: str, commands: Iterable[str]) -> UsageError:
    """One line for a command `ctx`'s group does not have: the nearest one, or the list of them."""
    args = [str(ctx.params[p.name]) for p in ctx.command.params if isinstance(p, click.Argument) and p.name]
    path = " ".join([ctx.command_path, *args])
    shown = word if word.isprintable() else repr(word)
    nearest = nearest_command(word, commands)
    if nearest is not None:
        return UsageError(f"`{path}` has no command {shown!r}: did you mean `{path} {nearest}`?")
    return UsageError(
        f"`{path}` has no command {shown!r}: its commands are {', '.join(sorted(commands))} "
        f"(`{path} --help` says what each does)"
    )


class Group(click.Group):
    """A command group whose unknown command is one line that names the nearest command."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            raise unknown_command(ctx, args[0], self.list_commands(ctx))
        return super().resolve_command(ctx, args)


def current_state() -> State:
    """The State of the running invocation (set up by `wfuwp.cli.main.main`)."""
    obj = click.get_current_context().find_root().obj
    assert isinstance(obj, State)
    return obj


def _set_config_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    # Only a --config typed on the command line is taken here, wherever it is typed. Every group and
    # command also sees WFUWP_CONFIG as this option's value; taking that would let an inner command's
    # environment default override a --config given before it. Config.load reads WFUWP_CONFIG itself.
    if value is not None and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE:
        ctx.find_root().obj.config_path = value


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        root = ctx.find_root()
        root.obj.debug = True
        # A migration's log then keeps wfuwp's debug records and the MySQL driver's own messages. No
        # handler is added, so nothing more is printed; the levels are put back when the command ends.
        for name in ("wfuwp", "mysql.connector"):
            logger = logging.getLogger(name)
            root.call_on_close(functools.partial(logger.setLevel, logger.level))
            logger.setLevel(logging.DEBUG)


def global_options(f: F) -> F:
    """--config and --debug, accepted by every group and command (wherever a person types them)."""
    f = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="On an error, print the traceback too; a migration's log gets debug records.",
    )(f)
    f = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="WFUWP_CONFIG",
        show_envvar=True,
        expose_value=False,
        is_eager=True,
        callback=_set_config_path,
        metavar="PATH",
        help="The config file (default: ~/.config/wfuwp/config.json or the OS's equivalent).",
    )(f)
    return f


def json_option(f: F) -> F:
    """--json: one machine-readable document on stdout; human text goes to stderr."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_set_json,
        help="Print one JSON document on stdout (human-readable text goes to stderr).",
    )(f)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().obj.json = True
    return value


# -- notifications ----------------------------------------------------------------------------------


@dataclass
class _Ending:
    """A command marked with `notifies` that ran: what the notifiers will be told once its exit code is
    known (`send_notifications`)."""

    command: str
    params: dict[str, Any]
    started: str
    error: BaseException | None = None
    result: dict[str, Any] | None = None
    settings: NotifyConfig | None = None


_ENDING: contextvars.ContextVar[_Ending | None] = contextvars.ContextVar("wfuwp_ending", default=None)


def notifies(command: str) -> Callable[[F], F]:
    """Mark a command (`migrate run`, restore, rollback, import) whose end notify.* hears about."""

    def mark(f: F) -> F:
        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            ending = _Ending(command, {k: _plain(v) for k, v in kwargs.items() if k != "as_json"}, now())
            _ENDING.set(ending)
            try:
                return f(*args, **kwargs)
            except BaseException as exc:
                ending.error = exc
                raise
            finally:
                ending.result = current_state().result
                with contextlib.suppress(WfuwpError):  # a config that cannot be read notifies nobody
                    ending.settings = current_state().config().notify

        return cast("F", run)

    return mark


def send_notifications(code: int) -> int:
    """Once a command marked with `notifies` has ended with exit code `code`, run notify.command and post
    to notify.webhook as configured, and return `code`: a notifier that fails is reported on stderr
    (and logged), and never changes the exit code."""
    ending = _ENDING.get()
    _ENDING.set(None)
    if ending is None or ending.settings is None:
        return code
    error = ending.error
    outcome = Outcome(
        command=ending.command,
        status="completed" if code == 0 else "interrupted" if code == 130 else "failed",
        exit_code=code,
        params=ending.params,
        error=(" ".join(str(error).split()) or type(error).__name__) if error is not None else None,
        error_type=type(error).__name__ if error is not None else None,
        report=ending.result,
        started=ending.started,
        ended=now(),
    )
    for problem in notify(ending.settings, outcome):
        click.echo(f"warning: {problem}; the {ending.command} itself is not affected", err=True)
    return code


def _plain(value: object) -> object:
    """A command's argument as JSON takes it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def emit_json(data: object) -> None:
    """Write one JSON document on stdout."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


__all__ = [
    "CONTEXT",
    "Group",
    "State",
    "current_state",
    "emit_json",
    "global_options",
    "json_option",
    "nearest_command",
    "notifies",
    "send_notifications",
    "unknown_command",
]
