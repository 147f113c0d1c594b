"""Tell someone how a migration, an environment refresh (import) or a restore ended: the plan's
`notifyFailure`, by a command and a webhook.

    Outcome (what ran, how it ended, its report) -> notify(config.notify, outcome)
        notify.command: run through the shell, the outcome as JSON on stdin, WFUWP_STATUS set
        notify.webhook: a Slack-compatible POST, {"text": "<one line>"}

Both run when the outcome is not "completed", or every time with `notify.on` = "always". A notifier
that fails, or takes longer than `notify.timeout` seconds, is logged and reported back to the
caller: it never raises, so the outcome of what ran (and its exit code) stands.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import signal
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from wfuwp import runlog
from wfuwp._version import __version__
from wfuwp.config.settings import NotifyConfig
from wfuwp.errors import WfuwpError

__all__ = ["Outcome", "notify"]

_log = logging.getLogger(__name__)
# The child's environment never holds wfuwp's secrets: a notifier needs none of them.
_SECRET_VARS = ("WFUWP_NOTIFY_WEBHOOK", "WFUWP_MIGRATION_PASSWORD")


@dataclass
class Outcome:
    """How one command ended, as the notifiers get it (`to_dict()` is the JSON on stdin).

    `status` is "completed", "failed" or "interrupted"; `params` the command's arguments (never a
    password: none is ever an argument); `report` what the command printed with --json, when it got
    that far.
    """

    command: str
    status: str
    exit_code: int
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    report: dict[str, Any] | None = None
    started: str = ""
    ended: str = ""
    host: str = field(default_factory=socket.gethostname)
    user: str = field(default_factory=lambda: _user())
    tool: str = f"wfuwp {__version__}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a chat channel: what ran, on what, how it ended, and the error or the figures."""
        p = self.params
        what = f"wfuwp {self.command}"
        if p.get("site_id"):
            what += f" of site {p['site_id']}"
        elif p.get("migration_id"):
            what += f" of {p['migration_id']}"
        if p.get("from_env") and p.get("to_env"):
            what += f" from {p['from_env']} to {p['to_env']}"
        elif p.get("env"):
            what += f" into {p['env']}"
        line = f"{what} {self.status.upper()} (exit code {self.exit_code}) on {self.host} by {self.user}"
        if self.error:
            return f"{line}: {self.error}"
        report = self.report or {}
        ident = report.get("migration_id") or report.get("backup_id")
        totals = report.get("totals") or {}
        if ident:
            line += f": {ident}"
        if totals:
            line += f", {totals.get('tables', 0)} tables, {totals.get('rows', 0):,} rows"
        return line


def notify(settings: NotifyConfig, outcome: Outcome) -> list[str]:
    """Run the command and post to the webhook that `settings` configure, if `outcome` calls for it.

    Return what went wrong, one line each (empty when all went well or nothing was configured); each
    is logged as a warning too. Never raises.
    """
    if settings.on != "always" and outcome.status == "completed":
        return []
    problems = []
    if settings.command:
        problems += _run_command(settings.command, outcome, settings.timeout)
    try:
        webhook = settings.effective_webhook()
    except WfuwpError as exc:  # a stored URL that no longer decrypts
        webhook, problems = None, [*problems, f"notify.webhook: {exc}"]
    if webhook:
        problems += _post(webhook, outcome, settings.timeout)
    for problem in problems:
        runlog.event(_log, logging.WARNING, "notify", problem, command=outcome.command, status=outcome.status)
    return problems


def _run_command(command: str, outcome: Outcome, timeout: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARS and not _is_password_var(k)} | {
        "WFUWP_STATUS": outcome.status,
        "WFUWP_COMMAND": outcome.command,
        "WFUWP_EXIT_CODE": str(outcome.exit_code),
        "WFUWP_MIGRATION_ID": str(
            (outcome.report or {}).get("migration_id") or outcome.params.get("migration_id") or ""
        ),
    }
    try:
        # A session of its own, so that a notifier that hangs is stopped with whatever it started.
        child = subprocess.Popen(  # noqa: S602 - the user's own configuration, like a cron line
            command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return [f"notify.command could not start: {exc.strerror}"]
    try:
        _out, err = child.communicate(
            orjson.dumps(outcome.to_dict(), option=orjson.OPT_INDENT_2), timeout=timeout
        )
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return [f"notify.command did not finish within {timeout} s (notify.timeout) and was stopped"]
    if child.returncode != 0:
        last = next(
            (line for line in reversed(err.decode("utf-8", "replace").splitlines()) if line.strip()), ""
        )
        return [f"notify.command exited with {child.returncode}" + (f": {last.strip()}" if last else "")]
    return []


def _post(url: str, outcome: Outcome, timeout: int) -> list[str]:
    import urllib.error  # here: urllib.request loads ssl, which only a webhook needs
    import urllib.parse
    import urllib.request

    # The URL is a credential: messages name its host only.
    host = urllib.parse.urlsplit(url).netloc or "?"
    if not url.startswith(("https://", "http://")):
        return ["notify.webhook is not an http(s) URL: set it again with `wfuwp config set notify.webhook`"]
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url,
        data=orjson.dumps({"text": outcome.summary()}),
        headers={"Content-Type": "application/json", "User-Agent": f"wfuwp/{__version__}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            response.read()
    except urllib.error.HTTPError as exc:
        return [f"notify.webhook ({host}) answered HTTP {exc.code} {exc.reason}"]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [f"notify.webhook ({host}) could not be reached: {reason}"]
    return []


def _is_password_var(name: str) -> bool:
    return name.startswith("WFUWP_") and name.endswith("_PASSWORD")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment nor the password database
        return "?"


def now() -> str:
    """The current UTC time as the outcome records it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
