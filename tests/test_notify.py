"""Notification when a migration, an import, a restore or a rollback ends: notify.command (the outcome
as JSON on stdin, WFUWP_STATUS set) and notify.webhook (a Slack-compatible POST to a real HTTP server
on 127.0.0.1), on failure or always; a notifier that fails never changes the outcome."""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.wpsite import Env, clean_environment, env
from wfuwp.config.settings import Config

__all__ = ["clean_environment", "env"]  # fixtures

# A notifier: writes what it got (environment and stdin) to the file named by its argument.
NOTIFIER = """
import json, os, sys
json.dump({"env": dict(os.environ), "stdin": json.load(sys.stdin)}, open(sys.argv[1], "w"))
sys.exit(int(os.environ.get("NOTIFIER_EXIT", "0")))
"""


class Webhook:
    """A real HTTP server on 127.0.0.1 that keeps every POST (path, headers, JSON body)."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = status
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(
                    {"path": self.path, "type": self.headers["Content-Type"], "body": orjson.loads(body)}
                )
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


def configure(env: Env, tmp_path: Path, *, on: str | None = None, webhook: str | None = None) -> Path:
    """Set notify.command (the NOTIFIER script writing to a file) and notify.webhook; return the file."""
    script = tmp_path / "notifier.py"
    script.write_text(NOTIFIER)
    received = tmp_path / "received.json"
    config = Config.load(env.config)
    config.set("notify.command", f"{sys.executable} {script} {received}")
    if on:
        config.set("notify.on", on)
    if webhook:
        config.set("notify.webhook", webhook)
    config.save()
    return received


def test_a_failed_migration_runs_the_command_and_posts_to_the_webhook(
    env: Env,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    webhook: Webhook,
) -> None:
    received = configure(env, tmp_path, webhook=webhook.url)
    monkeypatch.setenv("WFUWP_ENV_PROD_PASSWORD", "")  # set, empty: the server's root has none
    monkeypatch.setenv("WFUWP_MIGRATION_PASSWORD", "not-for-the-notifier")
    code, _out, err = env.run(capsys, "migrate", "999", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code not in (0, 1), err  # a pre-flight failure: nothing was written
    got = orjson.loads(received.read_bytes())
    assert got["env"]["WFUWP_STATUS"] == "failed"
    assert got["env"]["WFUWP_COMMAND"] == "migrate run"
    assert got["env"]["WFUWP_EXIT_CODE"] == str(code)
    assert not [k for k in got["env"] if k.endswith("_PASSWORD") or k == "WFUWP_NOTIFY_WEBHOOK"]
    outcome = got["stdin"]
    assert (outcome["command"], outcome["status"], outcome["exit_code"]) == ("migrate run", "failed", code)
    assert outcome["params"]["site_id"] == "999" and outcome["params"]["to_env"] == "pprd"
    assert "site 999" in outcome["error"] and outcome["error_type"] == "PreflightError"
    assert outcome["report"] is None and outcome["host"] and outcome["started"] <= outcome["ended"]
    [post] = webhook.posts
    assert post["path"] == "/services/T000/B000/secret-token" and post["type"] == "application/json"
    assert set(post["body"]) == {"text"}
    text = post["body"]["text"]
    assert text.startswith("wfuwp migrate run of site 999 from prod to pprd FAILED (exit code ")
    assert "site 999" in text.split(": ", 1)[1]


def test_on_failure_a_success_is_quiet_and_on_always_it_is_told_with_its_report(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path, webhook: Webhook
) -> None:
    received = configure(env, tmp_path, webhook=webhook.url)
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    assert not received.exists() and webhook.posts == []  # notify.on is "failure" by default

    configure(env, tmp_path, on="always", webhook=webhook.url)
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    got = orjson.loads(received.read_bytes())
    assert got["env"]["WFUWP_STATUS"] == "completed"
    report = got["stdin"]["report"]
    assert report["status"] == "completed" and report["totals"]["tables"] == 10
    assert got["env"]["WFUWP_MIGRATION_ID"] == report["migration_id"]
    [post] = webhook.posts
    assert post["body"]["text"].startswith(
        "wfuwp migrate run of site 43 from prod to pprd COMPLETED (exit code 0)"
    )
    assert f": {report['migration_id']}, 10 tables, 11 rows" in post["body"]["text"]


def test_a_notifier_that_fails_never_changes_the_outcome(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Webhook(status=500) as broken:
        configure(env, tmp_path, on="always", webhook=broken.url)
        monkeypatch.setenv("NOTIFIER_EXIT", "3")
        code, out, err = env.run(
            capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup", "--json"
        )
    assert code == 0, err
    assert orjson.loads(out)["status"] == "completed"  # stdout is still the one JSON document
    assert "warning: notify.command exited with 3; the migrate run itself is not affected" in err
    assert "warning: notify.webhook (127.0.0.1:" in err and "answered HTTP 500" in err
    assert "secret-token" not in err  # the webhook URL is a credential

    # A notifier that hangs is stopped after notify.timeout, and one that cannot be reached is reported.
    config = Config.load(env.config)
    config.set("notify.command", "sleep 30")
    config.set("notify.timeout", "1")
    config.set("notify.webhook", "http://127.0.0.1:9/hooks/x")
    config.save()
    started = time.monotonic()
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    assert time.monotonic() - started < 10
    assert "notify.command did not finish within 1 s (notify.timeout) and was stopped" in err
    assert "notify.webhook (127.0.0.1:9) could not be reached" in err


def test_an_import_that_is_refused_is_notified(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path, webhook: Webhook
) -> None:
    received = configure(env, tmp_path, webhook=webhook.url)
    dump = tmp_path / "users.sql"
    dump.write_text("DROP TABLE IF EXISTS `wp_users`;\nCREATE TABLE `wp_users` (ID BIGINT);\n")
    code, _out, err = env.run(capsys, "migrate", "import", str(dump), "--env", "pprd", "--site", "43")
    assert code == 2, err
    outcome = orjson.loads(received.read_bytes())["stdin"]
    assert (outcome["command"], outcome["status"], outcome["params"]["env"]) == (
        "migrate import",
        "failed",
        "pprd",
    )
    assert webhook.posts[0]["body"]["text"].startswith("wfuwp migrate import of site 43 into pprd FAILED")


def test_notify_settings_are_set_shown_masked_and_checked(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    code, _out, err = env.run(capsys, "config", "set", "notify.webhook", url)
    assert code == 2 and "not taken as arguments" in err and url not in err
    code, out, err = env.run(capsys, "config", "notify", "set", "webhook", stdin=url + "\n")
    assert code == 0, err
    assert out.startswith("notify.webhook = ********")
    code, out, _err = env.run(capsys, "config", "list")
    assert "notify.webhook = ********" in out and "notify.on = failure" in out and url not in out
    assert url not in env.config.read_text()  # encrypted at rest, like the passwords
    code, _out, err = env.run(capsys, "config", "set", "notify.on", "sometimes")
    assert (
        code == 2
        and err == "error: notify.on must be failure (notify only when it fails) or always, got 'sometimes'\n"
    )
    code, _out, err = env.run(capsys, "config", "notify", "set", "webhook", stdin="ftp://x\n")
    assert code == 2 and "must be an https:// URL" in err
    assert Config.load(env.config).notify.effective_webhook() == url
    monkeypatch.setenv("WFUWP_NOTIFY_WEBHOOK", "https://chat.example.edu/hooks/other")
    assert Config.load(env.config).notify.effective_webhook() == "https://chat.example.edu/hooks/other"
    assert "notify.webhook = ******** (from $WFUWP_NOTIFY_WEBHOOK)" in env.run(capsys, "config", "list")[1]


def test_a_rollback_and_a_restore_are_notified_too(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path, webhook: Webhook
) -> None:
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(
        capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--keep-files", *work, "--json"
    )
    assert code == 0, err
    migration_id = orjson.loads(out)["migration_id"]
    received = configure(env, tmp_path, on="always", webhook=webhook.url)
    for command in ("rollback", "restore"):
        code, _out, err = env.run(capsys, "migrate", command, migration_id, "--env", "pprd", *work)
        assert code == 0, err
        got = orjson.loads(received.read_bytes())
        assert (got["env"]["WFUWP_COMMAND"], got["env"]["WFUWP_STATUS"]) == (
            f"migrate {command}",
            "completed",
        )
        assert got["env"]["WFUWP_MIGRATION_ID"] == migration_id
        assert got["stdin"]["report"]["target"]
    assert [p["body"]["text"].split(" COMPLETED")[0] for p in webhook.posts] == [
        f"wfuwp migrate rollback of {migration_id} into pprd",
        f"wfuwp migrate restore of {migration_id} into pprd",
    ]
