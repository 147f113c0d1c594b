"""The command line: parsing, prompts and rendering over the operations in `wfuwp.ops`."""

from wfuwp.cli.main import cli, main, migrate_main

__all__ = ["cli", "main", "migrate_main"]
