"""What a person meets on the command line beyond the happy path: which config file is read, missing
sites, typos, plain progress without a terminal, narrow terminals, and messages that say what to do.

In-process (`main([...])`) unless the point is what a real process prints without a terminal.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from devtools.sandbox import free_port
from tests.wpsite import Env, clean_environment, env, execute
from wfuwp.cli.main import main
from wfuwp.cli.ui import _Lines
from wfuwp.config.settings import Config
from wfuwp.progress import ProgressEvent

__all__ = ["clean_environment", "env"]  # fixtures


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- which config file ---------------------------------------------------------------------------------


def test_config_flag_before_the_subcommand_wins_over_wfuwp_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    named, given = tmp_path / "named.json", tmp_path / "given.json"
    Config().save(named)
    monkeypatch.setenv("WFUWP_CONFIG", str(named))
    code, out, err = run(capsys, "--config", str(given), "config", "set", "env.prod.host", "db.example.edu")
    assert code == 0, err
    assert out.endswith(f"(saved to {given})\n")
    assert Config.load(given).env("prod").host == "db.example.edu"
    assert Config.load(named).environments == {}
    # Read back through the flag, wherever it is typed; without it, the variable's file.
    assert run(capsys, "--config", str(given), "config", "get", "env.prod.host")[1] == "db.example.edu\n"
    assert run(capsys, "config", "--config", str(given), "get", "env.prod.host")[1] == "db.example.edu\n"
    code, _out, err = run(capsys, "config", "get", "env.prod.host")
    assert code == 2 and "unknown environment 'prod'" in err


def test_a_missing_config_file_named_by_wfuwp_config_is_not_found(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "config.json"
    monkeypatch.setenv("WFUWP_CONFIG", str(missing))
    code, out, err = run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert (code, out) == (2, "")
    assert err == (
        f"error: config file {missing} (from WFUWP_CONFIG) not found: check WFUWP_CONFIG, or create the "
        "file with `wfuwp config wizard`\n"
    )
    code, _out, err = run(capsys, "--config", str(missing), "config", "list")
    assert code == 2 and err.startswith(f"error: config file {missing} not found: check the --config path")
    # The commands that write the file create it where the variable says.
    code, _out, err = run(capsys, "config", "set", "env.prod.host", "db.example.edu")
    assert code == 0, err
    assert Config.load(missing).env("prod").host == "db.example.edu"
    # The default file may be missing: that is an empty configuration, and the message says so.
    monkeypatch.delenv("WFUWP_CONFIG")
    code, _out, err = run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert code == 2 and "none is configured; run `wfuwp config wizard`" in err


# -- a site that does not exist ----------------------------------------------------------------------------


def test_plan_of_a_site_that_does_not_exist_or_an_unreachable_source_fails(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = env.run(capsys, "migrate", "plan", "99", "--from", "prod", "--to", "pprd")
    assert (code, out) == (3, "")  # SiteNotFoundError; no plan with the network's root URL as the site's
    assert err.count("\n") == 1
    assert err.startswith("error: site 99 is not in prod's network (wp_blogs of prod root@")
    assert err.endswith("has no row for it): check the site id and --from\n")

    config = Config.load(env.config)
    config.set("env.prod.port", str(free_port()))  # nothing listens there
    config.save()
    code, out, err = env.run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("error: cannot connect to prod root@")
    assert "check the host and port" in err


# -- typos ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "group", "nearest"),
    [
        (["migrate", "lsit"], "wfuwp migrate", "list"),
        (["migrate", "stauts", "x"], "wfuwp migrate", "status"),
        (["migrat", "list"], "wfuwp", "migrate"),
        (["config", "show"], "wfuwp config", "list"),
        (["config", "env", "prod", "lst"], "wfuwp config env prod", "list"),
        (["config", "s3", "gte", "bucket"], "wfuwp config s3", "get"),
    ],
)
def test_a_mistyped_command_names_the_nearest_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], group: str, nearest: str
) -> None:
    code, out, err = run(capsys, "--config", str(tmp_path / "none.json"), *args)
    typed = args[len(group.split()) - 1]
    expected = f"error: `{group}` has no command {typed!r}: did you mean `{group} {nearest}`?\n"
    assert (code, out, err) == (2, "", expected)


def test_a_word_far_from_every_command_is_still_a_site_id_or_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, err = run(capsys, "migrate", "biology", "--from", "prod", "--to", "pprd")
    assert code == 2 and err.startswith("error: site id must be a whole number")
    code, _out, err = run(capsys, "config", "xyzzy")
    assert code == 2 and err == (
        "error: `wfuwp config` has no command 'xyzzy': its commands are env, get, list, migration, notify, "
        "s3, set, unset, upgrade, wizard (`wfuwp config --help` says what each does)\n"
    )


# -- no terminal: plain progress lines -------------------------------------------------------------------


def test_without_a_terminal_progress_is_plain_lines(env: Env) -> None:
    """A real process with stdin, stdout and stderr not terminals (a pipe, cron) prints progress lines."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "wfuwp", "--config", str(env.config), "migrate", "43", "--from", "prod",
         "--to", "pprd", "--skip-backup"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "WFUWP_PROGRESS_SECONDS": "0"},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    stamped = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    texts = [line[9:] for line in stamped]
    for step in ("connect", "discover", "stage", "copy"):
        assert f"{step}: started" in texts
        assert any(re.fullmatch(rf"{step}: done in \d+\.\d s", t) for t in texts), step
    # Each table: lines with its percent and ETA while it is copied, then one when it is done.
    posts = [t for t in texts if t.startswith("copy wp_43_posts: ")]
    assert re.fullmatch(r"copy wp_43_posts:\s+\d+%, 3/3 rows, [\d.]+/[\d.]+ MB, .*ETA \d+:\d\d", posts[0]), (
        posts
    )
    assert re.fullmatch(r"copy wp_43_posts: 100%, 3/3 rows, [\d.]+/[\d.]+ MB, done in \d+\.\d s", posts[-1])
    assert texts.index("copy: started") < texts.index(posts[-1]) < texts.index("swap: started")
    assert "Migration " in result.stdout  # the summary still goes to stdout


def test_plain_progress_lines_keep_a_steady_pace() -> None:
    out = io.StringIO()
    now = [0.0]
    lines = _Lines(Console(file=out, width=200), interval=5.0, clock=lambda: now[0])
    lines(ProgressEvent("step-start", "copy"))
    lines(ProgressEvent("table-start", "copy", table="wp_43_posts", rows_total=1000, bytes_total=10_000_000))
    for tick in range(1, 41):  # a rows event every 0.5 s for 20 s
        now[0] = tick * 0.5
        lines(ProgressEvent("rows", "copy", table="wp_43_posts", rows_done=tick * 25, rows_total=1000,
                            bytes_done=tick * 250_000, bytes_total=10_000_000))  # fmt: skip
    lines(ProgressEvent("table-end", "copy", table="wp_43_posts", rows_done=1000, rows_total=1000,
                        bytes_done=10_000_000, bytes_total=10_000_000))  # fmt: skip
    lines(ProgressEvent("step-end", "copy"))
    texts = [line[9:] for line in out.getvalue().splitlines()]
    assert texts[0] == "copy: started" and texts[-1] == "copy: done in 20.0 s"
    progress = texts[1:-2]
    assert len(progress) == 4  # at 5, 10, 15 and 20 s
    assert progress[0] == "copy wp_43_posts:  25%, 250/1,000 rows, 2.5/10.0 MB, 0.5 MB/s, ETA 0:15"
    assert texts[-2] == "copy wp_43_posts: 100%, 1,000/1,000 rows, 10.0/10.0 MB, done in 20.0 s"


# -- narrow terminals ----------------------------------------------------------------------------------------


def test_at_80_columns_the_summary_keeps_every_table_name_whole(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [
        "wp_43_wc_product_attributes_lookup",
        "wp_43_wc_product_download_directories",
        "wp_43_wc_product_meta_lookup",
        "wp_43_commentmeta",
    ]
    execute(env.server, env.prod, [f"CREATE TABLE {n}_x (id INT PRIMARY KEY)" for n in names[:1]])
    execute(env.server, env.prod, [f"CREATE TABLE {n} (id INT PRIMARY KEY)" for n in names[1:3]])
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    assert "…" not in out
    table_lines = [line for line in out.splitlines() if line.startswith("│")]
    assert max(len(line) for line in table_lines) <= 80, out
    shown = {line.split("│")[1].strip() for line in table_lines}
    assert {names[0] + "_x", *names[1:]} <= shown
    assert "not shown at this width: SQL, read" in out


# -- messages that say what they mean and what to do ---------------------------------------------------


def test_a_custom_serialized_value_is_explained(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    payload = "https://www.wfu.edu/biology/"
    value = f'C:11:"ArrayObject":{len(payload)}:{{{payload}}}'
    execute(
        env.server,
        env.prod,
        [
            f"INSERT INTO wp_43_options VALUES (9, 'plugin_state', '{value}', 'no')",
            f"INSERT INTO wp_43_postmeta (post_id, meta_key, meta_value) VALUES (1, '_state', '{value}'),"
            f" (2, '_state', '{value}')",
        ],
    )
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    # One warning for the three values in two tables.
    assert err.count("hold PHP objects") == 1
    assert (
        "WARNING: wp_43_options, wp_43_postmeta: 3 value(s) hold PHP objects in a format of their own "
        "(C:, custom serialization) and were copied unchanged: a source URL inside one stays as it is; "
        "WordPress itself writes none, so this matters only if the plugin that stored them uses such a URL"
        in " ".join(err.split())
    )


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and no AWS config of the machine: requests are signed, and go nowhere real."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_an_s3_endpoint_that_is_down_says_so_and_fails_fast(
    env: Env, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    config = Config.load(env.config)
    config.set("s3.bucket", "wfuwp-archive")
    config.set("s3.endpoint_url", f"http://127.0.0.1:{free_port()}")  # a local server that is gone
    config.save()
    for args in (["migrate", "list"], ["migrate", "43", "--from", "prod", "--to", "pprd", "--dry-run"]):
        started = time.monotonic()
        code, out, err = env.run(capsys, *args)
        assert time.monotonic() - started < 5, args  # not half a minute of retries
        assert code in (1, 5), err
        # The error line of `list`; for the dry run, pre-flight's FAIL line (the error line sums it up).
        (said,) = [line for line in (out + err).splitlines() if "cannot reach the S3 endpoint" in line]
        assert "nothing answered there: check that the S3 endpoint (s3.endpoint_url, or AWS) is up" in said
        assert "bucket name" not in said and "credentials" not in said


def test_an_s3_bucket_that_does_not_exist_is_named(
    env: Env, capsys: pytest.CaptureFixture[str], s3_server: Any
) -> None:
    config = Config.load(env.config)
    config.set("s3.bucket", "no-such-bucket-here")
    config.set("s3.endpoint_url", s3_server.endpoint_url)
    config.save()
    code, _out, err = env.run(capsys, "migrate", "list")
    assert code == 1
    assert err.startswith("error: listing s3://no-such-bucket-here") and "NoSuchBucket" in err
    assert err.endswith("check the bucket name (s3.bucket, or the URL given)\n")


# -- the demo's ending -------------------------------------------------------------------------------------


def test_the_demo_ends_saying_how_to_keep_using_its_sandbox(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mariadb: Any
) -> None:
    from scripts.demo import finish

    path = tmp_path / ".demo" / "config.json"
    config = Config()
    config.set("env.prod.host", mariadb.host)
    for key, value in {"bucket": "wfuwp-demo", "prefix": "wordpress/sql", "region": "us-east-1",
                       "endpoint_url": f"http://127.0.0.1:{free_port()}"}.items():  # fmt: skip
        config.set(f"s3.{key}", value)
    config.save(path)
    text = finish(path, mariadb)
    assert f"    export WFUWP_CONFIG={path}\n" in text
    assert "wfuwp migrate 43 --from pprd --to prod --dry-run" in text
    assert "Its S3 server (moto, in memory) stopped with this script" in text
    # The sandbox keeps working: its archives are local now, not on the server that is gone.
    assert Config.load(path).s3.archive_url() is None
    monkeypatch.setenv("WFUWP_CONFIG", str(path))
    code, out, err = run(capsys, "migrate", "list")
    assert code == 0, err
    assert "no migrations found" in out


# -- the WFU example's media buckets ---------------------------------------------------------------------


def test_sync_media_with_the_wfu_example_copies_sites_id_of_the_real_buckets(
    env: Env, capsys: pytest.CaptureFixture[str], s3_server: Any, s3_client: Any
) -> None:
    example = Config.load(Path(__file__).resolve().parent.parent / "docs" / "examples" / "wfu-config.json")
    buckets = {name: example.env(name).media_bucket for name in ("prod", "pprd")}
    assert buckets == {"prod": "wfu-cer-wordpress-prod-us-east-1", "pprd": "wfu-cer-wordpress-pprd-us-east-1"}
    config = Config.load(env.config)  # the test environments carry WFU's named values, as the example
    assert {name: config.env(name).media_bucket for name in buckets} == buckets
    config.set("s3.endpoint_url", s3_server.endpoint_url)
    config.save()
    for bucket in buckets.values():
        s3_client.create_bucket(Bucket=bucket)
    mine = f"sites/43/{uuid.uuid4().hex}/"
    keys = [f"{mine}a.jpg", f"{mine}b.pdf", f"sites/430/{uuid.uuid4().hex}.jpg"]
    for key in keys:
        s3_client.put_object(Bucket=buckets["prod"], Key=key, Body=b"x" * 10)
    try:
        code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--sync-media")
        assert code == 0, err
        assert (
            "media s3://wfu-cer-wordpress-prod-us-east-1/sites/43/ -> "
            "s3://wfu-cer-wordpress-pprd-us-east-1/sites/43/: copied 2 objects" in out
        )
        copied = s3_client.list_objects_v2(Bucket=buckets["pprd"], Prefix="sites/")
        assert sorted(o["Key"] for o in copied["Contents"]) == sorted(keys[:2])  # site 430's stay
    finally:
        for bucket in buckets.values():
            for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []):
                s3_client.delete_object(Bucket=bucket, Key=item["Key"])
