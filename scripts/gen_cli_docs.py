"""Write docs/cli.md, the command-line reference, from the commands' own --help texts.

    python -m scripts.gen_cli_docs          # rewrite docs/cli.md (from the repository root)
    python -m scripts.gen_cli_docs --check  # exit 1 when docs/cli.md is stale

tests/test_cli_docs.py fails when the file is stale or a command or option has no help text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from wfuwp.cli.common import State
from wfuwp.cli.main import cli
from wfuwp.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "cli.md"
# A fixed width, so the file does not depend on the terminal it was generated in.
WIDTH = 100

HEADER = (
    """\
# Command-line reference

Generated from the commands' `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.
What each step does and why: [workflow.md](workflow.md). Errors and their fixes:
[troubleshooting.md](troubleshooting.md). The config keys: [configuration.md](configuration.md).

Three ways in, all the same program:

- `wfuwp ...`
- `wfuwp-migrate ...` is exactly `wfuwp migrate ...` (for the predecessor's muscle memory)
- `python -m wfuwp ...`

`--config PATH` (or `WFUWP_CONFIG`) and `--debug` are accepted by every command, before or after its
arguments.

| exit code | meaning |
|---|---|
"""
    + "".join(f"| {code} | {meaning} |\n" for code, meaning in EXIT_CODES.items())
    + "\n"
)


def walk(
    command: click.Command, ctx: click.Context, depth: int = 0
) -> Iterator[tuple[int, click.Context, click.Command]]:
    """Yield (depth, context, command) for `command` and every subcommand, depth first, in name order."""
    yield depth, ctx, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands, key=lambda n: (n != "run", n)):
            sub = command.commands[name]
            if sub.hidden:
                continue
            sub_ctx = click.Context(
                sub, info_name=name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH
            )
            yield from walk(sub, sub_ctx, depth + 1)


def render() -> str:
    """The whole of docs/cli.md."""
    root = click.Context(cli, info_name="wfuwp", obj=State(), **_settings(cli))
    toc, sections = [], []
    for depth, ctx, command in walk(cli, root):
        path = ctx.command_path
        toc.append(f"{'  ' * depth}- [`{path}`](#{_anchor(path)})")
        sections.append(f"## `{path}`\n\n```text\n{command.get_help(ctx).rstrip()}\n```\n")
    return HEADER + "\n".join(toc) + "\n\n" + "\n".join(sections)


def _settings(command: click.Command) -> dict[str, Any]:
    return {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}


def _anchor(title: str) -> str:
    # GitHub's heading anchors: lower case, spaces to '-', punctuation other than '-' and '_' dropped.
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python -m scripts.gen_cli_docs", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
