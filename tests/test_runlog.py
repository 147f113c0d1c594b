"""The log of every migration: log.jsonl beside its manifest (locally and in S3), `wfuwp migrate log`,
--debug, the error with its context, and no password anywhere; Python logging for host programs."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.users import users_on
from tests.wpsite import Env, clean_environment, env
from wfuwp.config.settings import Config

__all__ = ["clean_environment", "env"]  # fixtures

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = 'Pa"ss-xyzzy-42'  # a quote: its JSON-escaped form must not show either
STEPS = ("connect", "discover", "stage", "copy", "swap")


def wfuwp(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m wfuwp --config <env's> args...` as a real process: no terminal anywhere."""
    return subprocess.run(
        [sys.executable, "-m", "wfuwp", "--config", str(env.config), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


def test_a_migration_writes_its_log_beside_its_manifest_and_migrate_log_prints_it(env: Env) -> None:
    with users_on(env.server) as users:
        privileges = "SELECT, INSERT, CREATE, DROP, ALTER, LOCK TABLES"
        user = users.create(
            f"GRANT {privileges} ON `{env.prod}`.* TO {{user}}",
            f"GRANT {privileges} ON `{env.pprd}`.* TO {{user}}",
            "GRANT RELOAD ON *.* TO {user}",
            password=PASSWORD,
        )
        config = Config.load(env.config)
        for name in ("prod", "pprd"):
            config.set(f"env.{name}.user", user)
            config.set(f"env.{name}.password", PASSWORD)
        config.save()
        work = ["--work-dir", str(env.work)]
        migrated = wfuwp(env, "--debug", "migrate", "43", "--from", "prod", "--to", "pprd", *work, "--json")
        again = wfuwp(env, "migrate", "43", "--from", "prod", "--to", "pprd", *work, "--json")  # no --debug
    assert migrated.returncode == 0, migrated.stderr
    report = orjson.loads(migrated.stdout)
    folder = Path(report["archive"]["location"])
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "log.jsonl",
        "manifest.json",
        "state.json",
    ]
    log = (folder / "log.jsonl").read_bytes()
    records = [orjson.loads(line) for line in log.splitlines()]

    # Every record: when, how bad, which step (and table), what happened.
    for record in records:
        assert {"time", "level", "logger", "event", "step", "table", "message"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    events = [(r["event"], r["step"]) for r in records if r["event"] in ("step-start", "step-end")]
    assert events == [(e, s) for s in STEPS for e in ("step-start", "step-end")] + [
        ("step-start", "backup"),
        ("step-end", "backup"),
    ] or {s for _, s in events} == {*STEPS, "backup"}
    copied = {r["table"]: r for r in records if r["event"] == "table-end" and r["step"] == "copy"}
    assert len(copied) == 10 and copied["wp_43_posts"]["rows"] == 3
    assert copied["wp_43_posts"]["replacements"] == 5
    backed_up = {r["table"] for r in records if r["event"] == "table-end" and r["step"] == "backup"}
    assert len(backed_up) == 10
    assert records[0]["event"] == "start" and records[0]["site_id"] == 43
    end = records[-1]
    assert (end["event"], end["status"], end["migration_id"]) == ("end", "completed", report["migration_id"])
    assert end["retries"] == 0 and end["warnings"] == [] and end["totals"]["rows"] == 11
    # --debug adds the debug records (each connection opened, without its password).
    assert any(r["level"] == "debug" and r["event"] == "connect" for r in records)

    # No password, plain or JSON-escaped, in the log, the archive's JSON, the output.
    escaped = orjson.dumps(PASSWORD).decode()[1:-1]
    for text in (log.decode(), (folder / "manifest.json").read_text(), (folder / "state.json").read_text(),
                 migrated.stdout, migrated.stderr):  # fmt: skip
        assert PASSWORD not in text and escaped not in text

    shown = wfuwp(env, "migrate", "log", report["migration_id"], *work)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == len(records)
    assert re.fullmatch(r"\S+Z info  copy wp_43_posts: copied and verified 3 rows, 5 replacements", lines[
        next(i for i, r in enumerate(records) if r["event"] == "table-end" and r["table"] == "wp_43_posts"
             and r["step"] == "copy")
    ])  # fmt: skip
    assert lines[-1].endswith(
        f"migration {report['migration_id']} completed: 10 tables, 11 rows, 10 replacements"
    )
    as_json = wfuwp(env, "migrate", "log", report["migration_id"], *work, "--json")
    assert orjson.loads(as_json.stdout) == records
    # Without --debug, no debug records.
    assert again.returncode == 0, again.stderr
    second = Path(orjson.loads(again.stdout)["archive"]["location"]) / "log.jsonl"
    assert not [line for line in second.read_bytes().splitlines() if orjson.loads(line)["level"] == "debug"]


def test_a_failed_migration_logs_its_error_with_the_step_and_table(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wfuwp.cli import ui as _ui

    def interrupt(self: object, event: Any) -> None:
        if event.kind == "rows" and event.table == "wp_43_posts":
            raise KeyboardInterrupt

    monkeypatch.setattr(_ui._ProgressView, "__call__", interrupt)  # Ctrl-C in the middle of the copy
    code, _out, err = env.run(
        capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--work-dir", str(env.work)
    )
    assert code == 130, err
    [folder] = (env.work / "archives" / "site-43").iterdir()
    records = [orjson.loads(line) for line in (folder / "log.jsonl").read_bytes().splitlines()]
    [error] = [r for r in records if r["event"] == "error"]
    assert error["level"] == "error" and error["step"] == "copy"
    assert error["error"]["type"] == "MigrationError"
    assert error["error"]["message"].startswith("copy")
    assert error["error"]["causes"][0]["type"] == "KeyboardInterrupt"
    assert any("KeyboardInterrupt" in frame for frame in error["error"]["traceback"])
    assert records[-1]["event"] == "end" and records[-1]["status"] == "interrupted"

    code, out, err = env.run(capsys, "migrate", "log", folder.name, "--work-dir", str(env.work))
    assert code == 0, err
    assert " ERROR copy: " in out and "    MigrationError: copy" in out


def test_the_log_goes_to_s3_beside_the_manifest(
    env: Env, capsys: pytest.CaptureFixture[str], s3_server: Any, s3_bucket: str, s3_client: Any
) -> None:
    config = Config.load(env.config)
    for key, value in {
        "bucket": s3_bucket,
        "prefix": "wp/sql",
        "endpoint_url": s3_server.endpoint_url,
    }.items():
        config.set(f"s3.{key}", value)
    config.save()
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--json")
    assert code == 0, err
    migration_id = orjson.loads(out)["migration_id"]
    key = f"wp/sql/site-43/{migration_id}/log.jsonl"
    body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert orjson.loads(body.splitlines()[-1])["status"] == "completed"
    code, out, err = env.run(capsys, "migrate", "log", migration_id, "--json")
    assert code == 0, err
    assert orjson.loads(out)[-1]["migration_id"] == migration_id
    # --skip-s3 reads the local archives, where this migration is not.
    code, _out, err = env.run(
        capsys, "migrate", "log", migration_id, "--skip-s3", "--work-dir", str(env.work)
    )
    assert code == 1 and f"no migration {migration_id}" in err


def test_migrate_log_of_a_migration_without_a_log(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    folder = env.work / "archives" / "site-43" / "20200101T000000Z-prod-to-pprd-abcdef" / "source"
    folder.mkdir(parents=True)
    (folder / "x.sql.zst").write_bytes(b"")
    code, out, err = env.run(
        capsys, "migrate", "log", "20200101T000000Z-prod-to-pprd-abcdef", "--work-dir", str(env.work)
    )
    assert (code, out) == (1, "")
    assert err.startswith(
        "error: migration 20200101T000000Z-prod-to-pprd-abcdef has no log: it is still running"
    )


def test_library_records_reach_the_host_only_at_the_levels_it_sets(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # By default (root at WARNING) the host's handlers get none of a migration's INFO records ...
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    assert not [r for r in caplog.records if r.name.startswith("wfuwp")]
    # ... and when it asks for them, they come through named loggers with their fields.
    caplog.set_level(logging.INFO, logger="wfuwp")
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    ends = [r for r in caplog.records if getattr(r, "event", None) == "table-end"]
    assert {r.name for r in ends} == {"wfuwp.ops.copy"}
    assert {getattr(r, "table", None) for r in ends} >= {"wp_43_posts", "wp_43_options"}
    assert any(r.name == "wfuwp.ops.migrate" and getattr(r, "step", None) == "swap" for r in caplog.records)
    assert logging.getLogger("wfuwp").handlers[0].__class__ is logging.NullHandler
