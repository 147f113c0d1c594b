"""The command line, in-process (`main([...])`), against real MariaDB databases.

Each test gets a config file in tmp with environments prod (source, www.wfu.edu) and pprd (target,
pprd.wfu.edu) in two databases, and a migration database, all on the shared server; both hold
hand-made WordPress tables (tests/wpsite.py).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.wpsite import (
    SITE,
    Env,
    checksums,
    clean_environment,
    env,
    execute,
    make_network,
    option,
    rows,
    tables,
)
from wfuwp.cli.main import main, migrate_main
from wfuwp.config.settings import Config

__all__ = ["clean_environment", "env"]  # fixtures, shared with the other CLI tests


# -- migrate ------------------------------------------------------------------------------------------------


def test_migrate_end_to_end_json(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    before_430 = checksums(env.server, env.pprd)["wp_430_posts"]
    code, out, err = env.run(
        capsys,
        "migrate",
        str(SITE),
        "--from",
        "prod",
        "--to",
        "pprd",
        "--yes",
        "--json",
        "--work-dir",
        str(env.work),
    )
    assert code == 0, err
    report = orjson.loads(out)  # stdout is one JSON document and nothing else
    assert report["status"] == "completed"
    assert report["site_id"] == SITE
    assert report["totals"]["tables"] == 10
    assert report["totals"]["rows"] == 11
    assert report["totals"]["replacements"] >= 8
    assert ["www.wfu.edu", "pprd.wfu.edu"] in report["pairs"]
    # The target now holds the source's content with the target's hosts; other sites are untouched.
    assert option(env.server, env.pprd, "siteurl") == "https://pprd.wfu.edu/biology"
    assert option(env.server, env.pprd, "blogname") == "Biology"
    assert 's:29:"https://pprd.wfu.edu/biology/";' in option(env.server, env.pprd, "wfu_links")
    content = dict(rows(env.server, env.pprd, "SELECT ID, post_content FROM wp_43_posts"))
    assert content[3] == "write to someone@wfu.edu"
    assert "https:\\/\\/pprd.wfu.edu\\/biology\\/" in content[2]
    assert checksums(env.server, env.pprd)["wp_430_posts"] == before_430
    assert not [t for t in tables(env.server, env.pprd) if t.startswith("_wf")]
    # The archives went under --work-dir, manifest last; the plan and progress went to stderr.
    manifest = Path(report["archive"]["location"]) / "manifest.json"
    assert manifest.is_file() and str(env.work) in str(manifest)
    backups = sorted(p.name for p in manifest.parent.glob("backup/*.sql.zst"))
    assert len(backups) == 10 and "biology-43-pprd-backup-export-wp_43_options.sql.zst" in backups
    assert "Replacement plan" in err


def test_migrate_shows_plan_checks_and_summary(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(capsys, "migrate", str(SITE), "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 0, err
    assert out.index("Replacement plan") < out.index("Pre-flight checks") < out.index("Migration ")
    assert "https://www.wfu.edu/biology/ -> https://pprd.wfu.edu/biology/" in out
    assert "wp_43_posts" in out and "10 tables" in out
    assert "archives: none were written" in out
    assert "NO BACKUP" in err


def test_simple_mode_replaces_in_the_migration_database(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    make_network(env.server, env.migration, "www.wfu.edu")
    prod_before, pprd_before = checksums(env.server, env.prod), checksums(env.server, env.pprd)
    code, out, err = env.run(
        capsys, "migrate", str(SITE), "--from", "prod", "--to", "pprd", "--simple", "--json"
    )
    assert code == 0, err
    report = orjson.loads(out)
    assert report["status"] == "completed" and report["archive"] == {}
    assert option(env.server, env.migration, "siteurl") == "https://pprd.wfu.edu/biology"
    assert not [t for t in tables(env.server, env.migration) if t.startswith("_wf")]
    # Only the migration database was written: no environment, no confirmation needed.
    assert checksums(env.server, env.prod) == prod_before
    assert checksums(env.server, env.pprd) == pprd_before


def test_transform_is_simple_mode(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    make_network(env.server, env.migration, "pprd.wfu.edu")
    code, out, err = env.run(capsys, "migrate", "transform", str(SITE), "--from", "pprd", "--to", "prod")
    assert code == 0, err
    assert option(env.server, env.migration, "home") == "https://www.wfu.edu/biology"
    assert "Migration " in out


def test_dry_run_writes_nothing(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    before = {db: checksums(env.server, db) for db in (env.prod, env.pprd)}
    code, out, err = env.run(
        capsys,
        "migrate",
        str(SITE),
        "--from",
        "prod",
        "--to",
        "pprd",
        "--dry-run",
        "--work-dir",
        str(env.work),
    )
    assert code == 0, err
    assert {db: checksums(env.server, db) for db in (env.prod, env.pprd)} == before
    # Pre-flight writes a test object where the archives would go and removes it: no file is left.
    assert not [p for p in env.work.rglob("*") if p.is_file()]
    assert "Pre-flight checks" in out and "nothing was written" in out
    posts = next(line for line in out.splitlines() if "post_content" in line)
    assert (
        posts.replace("│", " ").split()[-1] == "3"
    )  # two links and a bare host in post 1, a JSON-escaped URL in post 2

    code, out, err = env.run(capsys, "migrate", str(SITE), "--from", "prod", "--to", "prod2", "--dry-run")
    assert code == 2 and "unknown environment 'prod2'" in err


def test_dry_run_json(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(
        capsys, "migrate", str(SITE), "--from", "prod", "--to", "pprd", "--dry-run", "--json"
    )
    assert code == 0, err
    result = orjson.loads(out)
    assert result["dry_run"] is True
    counts = {(m["table"], m["column"]): m["replacements"] for m in result["matches"]}
    assert counts[("wp_43_posts", "post_content")] == 3
    assert counts[("wp_43_options", "option_value")] == 3
    assert result["preflight"]["ok"] is True
    assert result["preflight"]["estimate"]["tables"] == 10


def test_protected_env_refuses_without_yes_on_non_tty(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    before = checksums(env.server, env.prod)
    code, out, err = env.run(
        capsys, "migrate", str(SITE), "--from", "pprd", "--to", "prod", "--work-dir", str(env.work)
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: prod is a protected environment")
    assert "--yes" in err
    assert checksums(env.server, env.prod) == before
    assert not env.work.exists()


def test_protected_env_with_yes(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = env.run(
        capsys, "migrate", str(SITE), "--from", "pprd", "--to", "prod", "--yes", "--skip-backup"
    )
    assert code == 0, err
    assert option(env.server, env.prod, "blogname") == "old pprd copy"


def test_failed_migration_json_and_exit_code(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(
        capsys, "migrate", "999", "--from", "prod", "--to", "pprd", "--json", "--skip-backup"
    )
    # Found by pre-flight, before anything was written, and exits as a missing site does (docs/cli.md).
    assert code == 3
    assert orjson.loads(out)["status"] == "failed"
    assert err.splitlines()[-1].startswith("error: preflight source.site")
    assert "site 999" in err.splitlines()[-1]


# -- plan ---------------------------------------------------------------------------------------------------


def test_plan_output(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(
        capsys,
        "migrate",
        "plan",
        str(SITE),
        "--from",
        "prod",
        "--to",
        "pprd",
        "--replace",
        "Biology Dept=Biology Department",
    )
    assert code == 0, err
    lines = out.split("\nTables ")[0].splitlines()  # the plan, before the site's tables
    assert "prod -> pprd: https://www.wfu.edu/biology/ -> https://pprd.wfu.edu/biology/" in lines[0]
    assert any("'www.wfu.edu' -> 'pprd.wfu.edu'  (site host" in line for line in lines)
    assert "'Biology Dept' -> 'Biology Department'  (--replace; anywhere)" in lines[-1]
    numbered = [line for line in lines if line[:3].strip().rstrip(".").isdigit()]
    assert len(numbered) == 10

    code, out, err = env.run(capsys, "migrate", "plan", str(SITE), "--from", "prod", "--to", "pprd", "--json")
    plan = orjson.loads(out)
    assert plan["rules"][0]["reason"] == "media bucket host"
    assert plan["target_url"] == "https://pprd.wfu.edu/biology/"


def test_bad_replace_pair(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = env.run(
        capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd", "--replace", "=x"
    )
    assert code == 2 and "is not FROM=TO" in err


def test_unknown_env_is_one_line_and_exit_2(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(capsys, "migrate", "plan", "43", "--from", "staging", "--to", "pprd")
    assert code == 2
    assert out == ""
    assert (
        err == "error: unknown environment 'staging': known environments are pprd, prod; "
        "add it with `wfuwp config set env.staging.host HOST`\n"
    )


@pytest.mark.parametrize("site", ["abc", "0", "4.5", "43x"])
def test_bad_site_id(env: Env, capsys: pytest.CaptureFixture[str], site: str) -> None:
    code, _out, err = env.run(capsys, "migrate", site, "--from", "prod", "--to", "pprd")
    assert code == 2, err
    assert err.startswith("error: site id must be a whole number") and err.endswith(f"got '{site}'\n")
    code, _out, err = env.run(capsys, "migrate", "verify", site, "--env", "prod")
    assert code == 2 and err.startswith("error: site id must be")


def test_debug_prints_the_traceback(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = env.run(capsys, "--debug", "migrate", "plan", "43", "--from", "x", "--to", "pprd")
    assert code == 2 and "Traceback (most recent call last)" in err and "ConfigError" in err
    code, _out, err = env.run(capsys, "migrate", "plan", "43", "--from", "x", "--to", "pprd", "--debug")
    assert code == 2 and "Traceback" in err


def test_wfuwp_migrate_is_wfuwp_migrate(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["--help"],
        ["plan", "43", "--from", "prod", "--to", "pprd"],
        ["43", "--help"],
        ["verify", "43", "--env", "prod", "--json"],
    ):
        code_a, out_a, err_a = env.run(capsys, "migrate", *args)
        code_b = migrate_main(["--config", str(env.config), *args])
        out_b, err_b = capsys.readouterr()
        assert (code_a, out_a, err_a) == (code_b, out_b.replace("wfuwp-migrate", "wfuwp migrate"), err_b)


def test_python_m_wfuwp_runs_on_the_c_driver(tmp_path: Path) -> None:
    # Without the test run's LD_PRELOAD, as a user starts it: `python -m wfuwp` must load the MySQL
    # driver's C extension as the console script does (the pure-Python fallback is 4-6x slower).
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    for command in (
        [sys.executable, "-m", "wfuwp", "--version"],
        [str(Path(sys.executable).parent / "wfuwp"), "--version"],
    ):
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("wfuwp 0.") and "MySQL driver c)" in result.stdout, result.stdout


# -- export, backup, verify, clean --------------------------------------------------------------------------


def test_export_loads_with_zstd_and_mariadb(
    env: Env, capsys: pytest.CaptureFixture[str], make_database: Any, tmp_path: Path
) -> None:
    out_file = tmp_path / "site43.sql.zst"
    code, out, err = env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", str(out_file))
    assert code == 0, err
    assert f"file: {out_file}" in out
    fresh = make_database(env.server)
    sql = subprocess.run(["zstd", "-dc", str(out_file)], capture_output=True, check=True).stdout
    server = ["-h", env.server.host, "-P", str(env.server.port), "-u", env.server.user]
    subprocess.run(["mariadb", *server, fresh], input=sql, check=True)
    source = {k: v for k, v in checksums(env.server, env.prod).items() if k.startswith("wp_43_")}
    assert checksums(env.server, fresh) == source


def test_backup_writes_a_backup_folder(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(
        capsys, "migrate", "backup", "43", "--env", "pprd", "--work-dir", str(env.work), "--json"
    )
    assert code == 0, err
    report = orjson.loads(out)
    assert report["backup_id"].split("-")[1:3] == ["pprd", "to"]
    folder = Path(report["archive"]["location"])
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert manifest["kind"] == "backup" and len(manifest["backup_tables"]) == 10
    assert len(list(folder.glob("backup/*-pprd-backup-export-*.sql.zst"))) == 10


def test_verify(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(capsys, "migrate", "verify", "43", "--env", "prod")
    assert code == 0, err
    assert "1 postmeta rows whose post is gone" in out
    code, out, err = env.run(capsys, "migrate", "verify", "43", "--env", "prod", "--json")
    check = orjson.loads(out)
    assert check["ok"] is True
    assert {t["name"]: t["rows"] for t in check["tables"]}["wp_43_posts"] == 3

    execute(env.server, env.pprd, ["DROP TABLE wp_43_terms"])
    code, out, err = env.run(capsys, "migrate", "verify", "43", "--env", "pprd")
    assert code == 1
    assert err == "error: site 43 in pprd has 1 problem(s): core table wp_43_terms is missing\n"

    code, out, err = env.run(capsys, "migrate", "verify", "44", "--env", "pprd")
    assert code == 3 and "site 44 has no tables" in err


def test_clean_removes_leftover_tables(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    execute(
        env.server,
        env.pprd,
        [
            "CREATE TABLE _wfs_abc123_wp_43_posts (id INT)",
            "CREATE TABLE _wfo_abc123_wp_43_options (id INT)",
            "CREATE TABLE _wfs_bogus (id INT)",  # not a name a run makes: left alone
        ],
    )
    execute(env.server, env.migration, ["CREATE TABLE wp_43_posts (id INT)"])
    code, out, err = env.run(capsys, "migrate", "clean")
    assert code == 2 and "add --yes" in err
    assert "_wfs_abc123_wp_43_posts" in tables(env.server, env.pprd)

    code, out, err = env.run(capsys, "migrate", "clean", "--yes", "--json")
    assert code == 0, err
    assert [t for t in tables(env.server, env.pprd) if t.startswith("_wf")] == ["_wfs_bogus"]
    assert tables(env.server, env.migration) == []
    result = orjson.loads(out)
    dropped = {t["label"]: t["dropped"] for t in result["targets"]}
    assert dropped["env pprd"] == ["_wfo_abc123_wp_43_options", "_wfs_abc123_wp_43_posts"]
    assert dropped["migration"] == ["wp_43_posts"]


def test_clean_leaves_a_running_migrations_tables(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    execute(env.server, env.pprd, ["CREATE TABLE _wfs_abc123_wp_43_posts (id INT)"])
    holder = env.server.connect()
    try:
        cur = holder.cursor()
        cur.execute(f"SELECT GET_LOCK('wfuwp:{env.pprd}:43', 0)")
        assert cur.fetchall() == [(1,)]
        code, _out, err = env.run(capsys, "migrate", "clean", "--yes", "--keep-migration-db")
    finally:
        holder.close()
    assert code == 0, err
    assert "_wfs_abc123_wp_43_posts" in tables(env.server, env.pprd)
    assert "a migration is running" in err


def test_clean_refuses_a_migration_database_without_migration_in_its_name(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config.load(env.config)
    config.set("migration.database", env.prod)
    config.save()
    code, _out, err = env.run(capsys, "migrate", "clean", "--yes")
    assert code == 1
    assert "does not have 'migration' in its name" in err
    assert "wp_43_posts" in tables(env.server, env.prod)


def test_ctrl_c_during_the_copy_exits_130_and_leaves_the_target(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wfuwp.cli import ui as _ui

    def interrupt(self: object, event: Any) -> None:
        if event.kind == "rows":
            raise KeyboardInterrupt

    monkeypatch.setattr(_ui._ProgressView, "__call__", interrupt)  # Ctrl-C arrives in the middle of the copy
    before = checksums(env.server, env.pprd)
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")
    assert code == 130
    assert err.splitlines()[-1] == "error: copy: interrupted; the target was left as it was"
    assert checksums(env.server, env.pprd) == before


class Terminal(io.StringIO):
    """Typed answers on a stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_protected_env_asks_for_the_site_id_on_a_terminal(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    before = checksums(env.server, env.prod)
    args = ["--config", str(env.config), "migrate", "43", "--from", "pprd", "--to", "prod", "--skip-backup"]
    sys.stdin = Terminal("4\n")
    try:
        code = main(args)
    finally:
        sys.stdin = sys.__stdin__
    _out, err = capsys.readouterr()
    assert code == 1
    assert "Type the site id (43) to go on" in err
    assert err.endswith("error: you typed '4', not 43: nothing was written\n")  # (a real terminal echoes "4")
    assert checksums(env.server, env.prod) == before

    sys.stdin = Terminal("43\n")
    try:
        code = main(args)
    finally:
        sys.stdin = sys.__stdin__
    _out, err = capsys.readouterr()
    assert code == 0, err
    assert option(env.server, env.prod, "blogname") == "old pprd copy"
