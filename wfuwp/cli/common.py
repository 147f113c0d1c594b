"""What every CLI command shares: the invocation's State, --config/--debug/--json, JSON on stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from click.core import ParameterSource

from wfuwp.config.settings import CONFIG_ENV_VAR, Config, config_path
from wfuwp.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class State:
    """What the global options set, shared by every command of one invocation."""

    def __init__(self) -> None:
        self.config_path: Path | None = None
        self.debug = False
        self.json = False
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
        ctx.find_root().obj.debug = True


def global_options(f: F) -> F:
    """--config and --debug, accepted by every group and command (wherever a person types them)."""
    f = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="On an error, print the full traceback too.",
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


def emit_json(data: object) -> None:
    """Write one JSON document on stdout."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


__all__ = ["CONTEXT", "State", "current_state", "emit_json", "global_options", "json_option"]
