"""Every command and option is documented, and docs/cli.md is what scripts/gen_cli_docs.py writes."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest
from rich.console import Console

from wfuwp.cli.main import cli
from wfuwp.cli.ui import _ProgressView
from wfuwp.progress import ProgressEvent

ROOT = Path(__file__).resolve().parent.parent


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "wfuwp")
    return found


@pytest.mark.parametrize(("path", "command"), all_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_command_and_options_have_help(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


def test_docs_name_every_command_and_option() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for path, command in all_commands():
        shown = path.replace("config env ", "config env ENV ") if path.count(" ") > 2 else path
        assert f"## `{shown}`" in text, f"{path} is missing from docs/cli.md"
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts + param.secondary_opts:
                    assert opt in text, f"{path} {opt} is missing from docs/cli.md"


def test_docs_are_not_stale() -> None:
    generator = load_generator()
    assert (ROOT / "docs" / "cli.md").read_text() == generator.render(), (
        "docs/cli.md is stale: run python -m scripts.gen_cli_docs"
    )


def test_workflow_and_troubleshooting_exist() -> None:
    for name in ("workflow.md", "troubleshooting.md"):
        assert (ROOT / "docs" / name).stat().st_size > 1000


def test_progress_view_draws_steps_and_tables_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with _ProgressView(console, mode="bars") as view:
        assert view.bars is not None
        view(ProgressEvent("step-start", "copy"))
        view(ProgressEvent("table-start", "copy", table="wp_43_posts", rows_total=10, bytes_total=2_000_000))
        view(
            ProgressEvent(
                "rows",
                "copy",
                table="wp_43_posts",
                rows_done=5,
                rows_total=10,
                bytes_done=1_000_000,
                bytes_total=2_000_000,
            )
        )
        view.bars.refresh()
        drawing = out.getvalue()
        view(ProgressEvent("log", "copy", message="retrying"))
        view(
            ProgressEvent(
                "table-end",
                "copy",
                table="wp_43_posts",
                rows_done=10,
                rows_total=10,
                bytes_done=2_000_000,
                bytes_total=2_000_000,
            )
        )
        view(ProgressEvent("step-end", "copy"))
        # A finished table leaves the display (the summary lists it); its step stays, complete.
        assert [(t.fields["table"], t.visible, t.finished) for t in view.bars.tasks] == [
            ("", True, True),
            ("wp_43_posts", False, True),
        ]
    assert "copy wp_43_posts" in drawing and "5/10 rows" in drawing and "1.0/2.0 MB" in drawing
    assert "copy: retrying" in out.getvalue()


def test_progress_view_quiet_prints_only_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    # --json on a terminal: no bars (they would mix with the document), the engine's log lines only.
    out = io.StringIO()
    with _ProgressView(Console(file=out, force_terminal=False), mode="quiet") as view:
        view(ProgressEvent("table-start", "copy", table="wp_43_posts", rows_total=10, bytes_total=100))
        view(ProgressEvent("rows", "copy", table="wp_43_posts", rows_done=10, rows_total=10, bytes_done=100))
        assert out.getvalue() == ""
        view(ProgressEvent("log", "copy", message="retrying"))
    assert out.getvalue() == "copy: retrying\n"
    assert sys.stdout is not None
