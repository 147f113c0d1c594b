"""Migrations in child processes that kill themselves at a chosen moment, for the resume tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.smallsite import PAIRS
from wfuwp.archive.location import ArchiveLocation

# A migration in its own process that kills itself once its swap's RENAME is recorded as done.
KILLED_AFTER_THE_RENAME = """
import json, os, signal, sys
import wfuwp
args = json.loads(sys.argv[1])
def progress(event):
    if event.kind == "state" and event.message == args["at"]:
        os.kill(os.getpid(), signal.SIGKILL)
wfuwp.migrate_site(args["site"], source=args["source"], target=args["target"], replacements=args["pairs"],
                   archive=args["archive"], progress=progress)
"""


def kill_migration_at(server: Any, src: str, tgt: str, site: int, archive: Path, state: str) -> str:
    """Run a migration in a child process that SIGKILLs itself at cut-over state `state`; its id."""
    args = {"source": server.dsn(src), "target": server.dsn(tgt), "pairs": PAIRS, "archive": str(archive),
            "site": site, "at": state}  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_RENAME, json.dumps(args)],
        env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    (killed,) = ArchiveLocation.parse(archive).list_migrations()
    return killed.id
