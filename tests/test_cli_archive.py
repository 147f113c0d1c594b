"""The CLI with archives: S3 (moto's real HTTP server), list and status, backups, media sync, export to S3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from tests.wpsite import Env, checksums, clean_environment, env, execute, option, tables
from wfuwp.config.settings import Config

__all__ = ["clean_environment", "env"]  # fixtures


def use_s3(env: Env, endpoint: str, bucket: str, **more: str) -> None:
    config = Config.load(env.config)
    for key, value in {"bucket": bucket, "prefix": "wp/sql", "endpoint_url": endpoint, **more}.items():
        config.set(f"s3.{key}", value)
    config.save()


def test_migrate_archives_to_s3_then_list_and_status(
    env: Env, capsys: pytest.CaptureFixture[str], s3_server: Any, s3_bucket: str, s3_client: Any
) -> None:
    use_s3(env, s3_server.endpoint_url, s3_bucket, sse="AES256")
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--yes", "--json")
    assert code == 0, err
    report = orjson.loads(out)
    migration_id = report["migration_id"]
    assert report["archive"]["location"] == f"s3://{s3_bucket}/wp/sql/site-43/{migration_id}"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert f"wp/sql/site-43/{migration_id}/manifest.json" in keys
    assert len([k for k in keys if "/backup/" in k]) == 10
    head = s3_client.head_object(Bucket=s3_bucket, Key=next(k for k in keys if "/migrated/" in k))
    assert head["ServerSideEncryption"] == "AES256"

    code, out, err = env.run(capsys, "migrate", "list", "--json")
    assert code == 0, err
    [listed] = orjson.loads(out)
    assert (listed["id"], listed["status"], listed["from_env"], listed["to_env"]) == (
        migration_id,
        "completed",
        "prod",
        "pprd",
    )
    code, out, err = env.run(capsys, "migrate", "list", "--site", "43")
    assert code == 0 and migration_id in out and "prod -> pprd" in out
    code, out, err = env.run(capsys, "migrate", "list", "--env", "uat", "--json")
    assert orjson.loads(out) == []

    code, out, err = env.run(capsys, "migrate", "status", migration_id)
    assert code == 0, err
    assert out.startswith(f"{migration_id}: completed")
    assert "wp_43_posts" in out and "30 objects" in out
    code, out, err = env.run(capsys, "migrate", "status", migration_id, "--json")
    assert orjson.loads(out)["site"] == {"id": 43, "name": "biology"}

    code, _out, err = env.run(capsys, "migrate", "status", "20200101T000000Z-prod-to-pprd-abcdef")
    assert code == 1 and "no migration 20200101T000000Z-prod-to-pprd-abcdef" in err
    code, _out, err = env.run(capsys, "migrate", "status", "yesterday")
    assert code == 2 and "is not a migration id" in err


def test_local_archives_backup_list_status(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--work-dir", str(env.work)]
    assert env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup")[0] == 0
    code, out, err = env.run(capsys, "migrate", "backup", "43", "--env", "pprd", *work, "--json")
    assert code == 0, err
    backup_id = orjson.loads(out)["backup_id"]
    assert "-pprd-to-pprd-" in backup_id
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", *work, "--json")
    assert code == 0, err
    migration_id = orjson.loads(out)["migration_id"]

    code, out, err = env.run(capsys, "migrate", "list", *work, "--json")
    assert [m["id"] for m in orjson.loads(out)] == [migration_id, backup_id]  # newest first
    code, out, err = env.run(capsys, "migrate", "status", backup_id, *work, "--json")
    manifest = orjson.loads(out)
    assert manifest["kind"] == "backup" and manifest["status"] == "completed"
    assert len(manifest["objects"]) == 10

    # An unfinished migration (a folder without manifest) lists as incomplete.
    folder = env.work / "archives" / "site-43" / "20200101T000000Z-prod-to-pprd-abcdef" / "source"
    folder.mkdir(parents=True)
    (folder / "x.sql.zst").write_bytes(b"")
    code, out, err = env.run(capsys, "migrate", "list", *work, "--limit", "0", "--json")
    assert orjson.loads(out)[-1]["status"] == "incomplete"
    code, out, err = env.run(capsys, "migrate", "status", "20200101T000000Z-prod-to-pprd-abcdef", *work)
    assert code == 0 and "did not finish" in out


def test_sync_media(
    env: Env, capsys: pytest.CaptureFixture[str], s3_server: Any, s3_client: Any, s3_bucket: str
) -> None:
    media = {name: f"{s3_bucket}-{name}-media" for name in ("prod", "pprd")}
    config = Config.load(env.config)
    config.set("s3.endpoint_url", s3_server.endpoint_url)
    for name, bucket in media.items():
        s3_client.create_bucket(Bucket=bucket)
        config.set(f"env.{name}.media_bucket", bucket)
    config.save()
    for key in ("sites/43/2024/01/a.jpg", "sites/43/2024/01/b.pdf", "sites/430/other.jpg"):
        s3_client.put_object(Bucket=media["prod"], Key=key, Body=b"x" * 10)

    before = checksums(env.server, env.pprd)
    args = ["migrate", "43", "--from", "prod", "--to", "pprd"]
    code, out, err = env.run(capsys, *args, "--dry-run", "--sync-media")
    assert code == 0, err
    assert "would copy 2 objects" in out
    assert "Contents" not in s3_client.list_objects_v2(Bucket=media["pprd"])
    assert checksums(env.server, env.pprd) == before

    code, out, err = env.run(
        capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--skip-backup", "--sync-media", "--json"
    )
    assert code == 0, err
    assert orjson.loads(out)["media"]["copied"] == 2
    copied = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=media["pprd"])["Contents"])
    assert copied == ["sites/43/2024/01/a.jpg", "sites/43/2024/01/b.pdf"]
    assert option(env.server, env.pprd, "siteurl") == "https://pprd.wfu.edu/biology"

    config.set("env.prod.media_bucket", "")
    config.save()
    code, _out, err = env.run(capsys, *args, "--yes", "--sync-media")
    assert code == 2 and "env.prod.media_bucket is not set" in err


def test_export_to_s3(
    env: Env,
    capsys: pytest.CaptureFixture[str],
    s3_server: Any,
    s3_client: Any,
    s3_bucket: str,
    make_database: Any,
    tmp_path: Path,
) -> None:
    use_s3(env, s3_server.endpoint_url, "unused-archive-bucket")
    url = f"s3://{s3_bucket}/exports/site43.sql.zst"
    code, out, err = env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", url, "--json")
    assert code == 0, err
    assert orjson.loads(out)["destination"] == url
    body = s3_client.get_object(Bucket=s3_bucket, Key="exports/site43.sql.zst")["Body"].read()
    sql = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    fresh = make_database(env.server)
    server = ["-h", env.server.host, "-P", str(env.server.port), "-u", env.server.user]
    subprocess.run(["mariadb", *server, fresh], input=sql, check=True)
    source = {k: v for k, v in checksums(env.server, env.prod).items() if k.startswith("wp_43_")}
    assert checksums(env.server, fresh) == source

    code, _out, err = env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", f"s3://{s3_bucket}")
    assert code == 2 and "names no object" in err
    code, _out, err = env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", str(tmp_path))
    assert code == 2 and "is a directory" in err


# -- restore and import -------------------------------------------------------------------------------------


def test_restore_undoes_a_migration(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--work-dir", str(env.work)]
    before = checksums(env.server, env.pprd)
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", *work, "--json")
    assert code == 0, err
    migration_id = orjson.loads(out)["migration_id"]
    assert option(env.server, env.pprd, "blogname") == "Biology"

    code, out, err = env.run(capsys, "migrate", "restore", migration_id, "--env", "pprd", *work, "--json")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["status"] == "completed" and report["verified_checksums"] is True
    assert report["tables"]["wp_43_options"] == 4
    assert checksums(env.server, env.pprd) == before
    # What the restore replaced was archived first: it can be undone too.
    code, out, err = env.run(capsys, "migrate", "restore", report["backup"]["id"], "--env", "pprd", *work)
    assert code == 0, err
    assert option(env.server, env.pprd, "blogname") == "Biology"
    assert "rows verified against the manifest's checksums" in out

    code, out, err = env.run(
        capsys, "migrate", "restore", migration_id, "--env", "pprd", *work, "--migrated", "--skip-backup"
    )
    assert code == 0, err
    assert "NOT archived first" in err


def test_restore_a_backup_and_protected_refusal(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(capsys, "migrate", "backup", "43", "--env", "prod", *work, "--json")
    assert code == 0, err
    backup_id = orjson.loads(out)["backup_id"]
    before = checksums(env.server, env.prod)

    execute(
        env.server, env.prod, ["UPDATE wp_43_options SET option_value = 'broken' WHERE option_name = 'home'"]
    )
    changed = checksums(env.server, env.prod)
    code, out, err = env.run(capsys, "migrate", "restore", backup_id, "--env", "prod", *work)
    assert code == 2 and "prod is a protected environment" in err
    assert checksums(env.server, env.prod) == changed
    code, out, err = env.run(capsys, "migrate", "restore", backup_id, "--env", "prod", *work, "--yes")
    assert code == 0, err
    assert checksums(env.server, env.prod) == before

    code, _out, err = env.run(
        capsys, "migrate", "restore", "20200101T000000Z-prod-to-prod-abcdef", "--env", "prod", *work, "--yes"
    )
    assert code == 1 and "no migration 20200101T000000Z-prod-to-prod-abcdef" in err


def test_import_an_export_into_the_migration_database_then_transform(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dump = tmp_path / "site43.sql.zst"
    assert env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", str(dump))[0] == 0
    code, out, err = env.run(
        capsys, "migrate", "import", str(dump), "--migration-db", "--site", "43", "--json"
    )
    assert code == 0, err
    assert orjson.loads(out)["tables"]["wp_43_posts"] == 3
    assert option(env.server, env.migration, "home") == "https://www.wfu.edu/biology"
    assert env.run(capsys, "migrate", "transform", "43", "--from", "prod", "--to", "pprd")[0] == 0
    assert option(env.server, env.migration, "home") == "https://pprd.wfu.edu/biology"


def test_import_into_an_environment(env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dump = tmp_path / "site43.sql.zst"
    assert env.run(capsys, "migrate", "export", "43", "--env", "prod", "-o", str(dump))[0] == 0
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(capsys, "migrate", "import", str(dump), "--env", "pprd", "--site", "43", *work)
    assert code == 0, err
    assert "replaced tables archived as" in out
    source = {k: v for k, v in checksums(env.server, env.prod).items() if k.startswith("wp_43_")}
    assert {k: v for k, v in checksums(env.server, env.pprd).items() if k.startswith("wp_43_")} == source

    code, _out, err = env.run(capsys, "migrate", "import", str(dump), "--env", "pprd", "--site", "44", *work)
    assert code == 2 and "touches table 'wp_43_" in err
    code, _out, err = env.run(capsys, "migrate", "import", str(dump), "--env", "prod", "--yes", *work)
    assert code == 2 and "add --site N" in err
    code, _out, err = env.run(capsys, "migrate", "import", str(dump), *work)
    assert code == 2 and "give either --env ENV or --migration-db" in err


def test_import_refuses_network_tables_and_changes_nothing(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sql = tmp_path / "evil.sql"
    sql.write_text(
        "CREATE TABLE `wp_43_posts` (`ID` int PRIMARY KEY);\n"
        "INSERT INTO `wp_43_posts` VALUES (1);\n"
        "CREATE TABLE `wp_users` (`ID` int);\n"
    )
    before = checksums(env.server, env.pprd)
    code, _out, err = env.run(capsys, "migrate", "import", str(sql), "--env", "pprd", "--skip-backup")
    assert code == 2
    assert err.splitlines()[-1].startswith("error: statement") and "'wp_users'" in err
    assert checksums(env.server, env.pprd) == before
    assert not [t for t in tables(env.server, env.pprd) if t.startswith("_wf")]


def test_rollback_instantly_with_keep_files_or_from_the_backup(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    work = ["--work-dir", str(env.work)]
    before = checksums(env.server, env.pprd)
    for keep in (["--keep-files"], []):
        code, out, err = env.run(
            capsys, "migrate", "43", "--from", "prod", "--to", "pprd", *work, *keep, "--json"
        )
        assert code == 0, err
        report = orjson.loads(out)
        assert bool(report["old_tables_kept"]) == bool(keep)
        code, out, err = env.run(
            capsys, "migrate", "rollback", report["migration_id"], "--env", "pprd", *work, "--json"
        )
        assert code == 0, err
        rolled = orjson.loads(out)
        assert rolled["status"] == "completed"
        assert rolled["source"].startswith("old tables of") == bool(keep)  # instant, or from the backup
        assert checksums(env.server, env.pprd) == before

    code, _out, err = env.run(
        capsys, "migrate", "rollback", report["migration_id"], "--env", "prod", *work, "--yes"
    )
    assert code == 2 and "migrated into pprd, not prod" in err


# A `wfuwp migrate` process that SIGKILLs itself once three tables are copied.
KILLED_CLI = """
import os, signal, sys
from wfuwp.cli import ui as _ui
from wfuwp.cli.main import main
done = []
def progress(self, event):
    if event.kind == "table-end" and event.step == "copy":
        done.append(event.table)
        if len(done) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
_ui._ProgressView.__call__ = progress
sys.exit(main(sys.argv[1:]))
"""


def test_resume_a_killed_migration(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--work-dir", str(env.work)]
    args = ["--config", str(env.config), "migrate", "43", "--from", "prod", "--to", "pprd", *work]
    before = checksums(env.server, env.pprd)
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert {k: v for k, v in checksums(env.server, env.pprd).items() if not k.startswith("_wf")} == before
    code, out, err = env.run(capsys, "migrate", "list", *work, "--json")
    [killed] = orjson.loads(out)
    assert killed["status"] == "incomplete"

    code, out, err = env.run(capsys, *args[2:], "--resume", killed["id"], "--json")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["migration_id"] == killed["id"] and report["status"] == "completed"
    assert f"resuming {killed['id']}" in err
    assert option(env.server, env.pprd, "siteurl") == "https://pprd.wfu.edu/biology"
    assert not [t for t in tables(env.server, env.pprd) if t.startswith("_wf")]

    code, _out, err = env.run(capsys, *args[2:], "--resume", killed["id"])
    assert code == 2 and "cannot be resumed" in err
    code, _out, err = env.run(capsys, *args[2:], "--resume", killed["id"], "--skip-backup")
    assert code == 2 and "--resume needs the archive" in err
