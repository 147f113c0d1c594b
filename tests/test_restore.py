"""Archives in a real S3 server: migrate, list, restore byte for byte, import, and upload failures."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from tests.dbutil import checksums, fetch, run_sql, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import MigrationError, SqlFileError
from wfuwp.ops.restore import import_sql, restore


@pytest.fixture
def network(mariadb, make_database) -> tuple[Any, str, str]:
    """Source and target networks as two databases on the shared server."""
    src_db = make_database(mariadb, "wfuwp_src")
    tgt_db = make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src_db)
    target_network(mariadb, tgt_db)
    return mariadb, src_db, tgt_db


def s3_location(s3_server, bucket: str, **options: Any) -> ArchiveLocation:
    return ArchiveLocation.parse(
        f"s3://{bucket}/wordpress/sql", endpoint_url=s3_server.endpoint_url, **options
    )


def site_tables(server, db: str) -> dict[str, int]:
    return {k: v for k, v in checksums(server, db).items() if k.startswith("wp_43_")}


def test_migration_archives_to_s3_and_restore_brings_the_target_back_exactly(
    network, s3_server, s3_bucket, s3_client, make_database
) -> None:
    server, src_db, tgt_db = network
    before = checksums(server, tgt_db)
    location = s3_location(s3_server, s3_bucket)
    report = wfuwp.migrate_site(
        43, source=db_of(server, src_db, "prod"), target=db_of(server, tgt_db, "pprd"), replacements=PAIRS,
        archive=location,
    )  # fmt: skip
    migrated = site_tables(server, tgt_db)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    folder = f"wordpress/sql/site-43/{report.migration_id}/"
    assert f"{folder}manifest.json" in keys
    assert f"{folder}backup/bio-43-pprd-backup-export-wp_43_options.sql.zst" in keys
    assert f"{folder}source/bio-43-prod-initial-export-wp_43_shapes.sql.zst" in keys
    assert f"{folder}migrated/bio-43-pprd-migrated-export-wp_43_shapes.sql.zst" in keys

    listed = location.list_migrations(site_id=43)
    assert [m.id for m in listed] == [report.migration_id]
    status = location.read_manifest(report.migration_id)
    assert (
        status.status == "completed" and status.audit is not None and status.audit.tool.startswith("wfuwp ")
    )
    assert {t.name for t in status.tables} == {t.name for t in report.tables}

    back = restore(report.migration_id, db_of(server, tgt_db, "pprd"), archive=location, which="backup")
    assert back.verified_checksums and back.status == "completed"
    # Byte for byte: every table as before the migration; tables the migration created are gone.
    assert checksums(server, tgt_db) == before
    assert sorted(back.removed_tables) == sorted(t.name for t in report.tables if t.action == "created")
    assert back.backup["id"]  # what the restore replaced was archived first

    other = make_database(server, "wfuwp_other")
    run_sql(server, other, "CREATE TABLE wp_43_options (x INT)")
    # Another network (its own database, called uat) takes the migrated tables only when forced.
    forward = restore(
        report.migration_id, db_of(server, other, "uat"), archive=location, which="migrated", force=True
    )
    assert forward.verified_checksums
    assert site_tables(server, other) == {k: v for k, v in migrated.items() if k != "wp_43_only_here"}


def test_list_and_status_of_several_migrations(network, s3_server, s3_bucket) -> None:
    server, src_db, tgt_db = network
    location = s3_location(s3_server, s3_bucket)
    ids = []
    for _ in range(3):
        report = wfuwp.migrate_site(
            43, source=db_of(server, src_db, "prod"), target=db_of(server, tgt_db, "pprd"),
            replacements=PAIRS, archive=location,
        )  # fmt: skip
        ids.append(report.migration_id)
    listed = location.list_migrations()
    assert [m.id for m in listed] == sorted(ids, reverse=True)
    assert all(m.status == "completed" and m.site_id == 43 for m in listed)
    assert location.list_migrations(env="uat") == []
    assert location.read_manifest(ids[1]).tables


def test_s3_cut_mid_upload_fails_cleanly_without_objects(network, s3_proxy, s3_bucket, s3_client) -> None:
    server, src_db, tgt_db = network
    run_sql(
        server,
        src_db,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        # Random text does not compress: the upload needs several 5 MiB parts.
        "INSERT INTO wp_43_postmeta (meta_value) SELECT CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512),"
        " SHA2(seq + 2, 512), 'https://www.example.edu/') FROM seq_1_to_80000",
    )
    before = checksums(server, tgt_db)
    location = ArchiveLocation.parse(
        f"s3://{s3_bucket}/x", endpoint_url=s3_proxy.endpoint_url, part_size=5 << 20, max_attempts=2
    )
    cut = threading.Event()

    def cut_midway(event: wfuwp.ProgressEvent) -> None:
        if (
            event.kind == "rows"
            and event.table == "wp_43_postmeta"
            and event.rows_done > 30000
            and not cut.is_set()
        ):
            cut.set()
            s3_proxy.cut()

    with pytest.raises(MigrationError):
        wfuwp.migrate_site(
            43, source=db_of(server, src_db, "prod"), target=db_of(server, tgt_db, "pprd"),
            replacements=PAIRS, archive=location, progress=cut_midway,
        )  # fmt: skip
    assert cut.is_set()
    assert checksums(server, tgt_db) == before
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    s3_proxy.restore()
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert not [k for k in keys if "postmeta" in k]  # no partial object became visible
    # An upload whose abort could not reach S3 stays pending and invisible; the bucket's lifecycle rule
    # for incomplete multipart uploads removes it (docs/archives.md).


def test_import_of_a_stock_mariadb_dump(network, tmp_path: Path) -> None:
    server, src_db, tgt_db = network
    dump = tmp_path / "site.sql"
    names = [n for n in table_names(server, src_db) if n.startswith("wp_43_")]
    with dump.open("wb") as out:
        subprocess.run(
            ["mariadb-dump", "-uroot", f"-h{server.host}", f"-P{server.port}", "--skip-triggers",
             src_db, *names],
            stdout=out, check=True,
        )  # fmt: skip
    report = import_sql(dump, db_of(server, tgt_db, "pprd"), site_id=43, archive=tmp_path / "archive")
    assert report.status == "completed"
    assert site_tables(server, tgt_db) == {
        **site_tables(server, src_db),
        "wp_43_only_here": checksums(server, tgt_db)["wp_43_only_here"],
    }
    assert report.backup["id"]


def test_import_refuses_truncated_and_hostile_files(network, tmp_path: Path) -> None:
    server, _src_db, tgt_db = network
    before = checksums(server, tgt_db)
    truncated = tmp_path / "cut.sql"
    truncated.write_bytes(b"CREATE TABLE wp_43_x (a TEXT);\nINSERT INTO wp_43_x VALUES ('unterminated")
    with pytest.raises(SqlFileError, match="truncated"):
        import_sql(truncated, db_of(server, tgt_db, "pprd"), site_id=43)
    hostile = tmp_path / "evil.sql"
    hostile.write_bytes(b"CREATE TABLE wp_43_x (a TEXT);\nDROP DATABASE mysql;\n")
    with pytest.raises(SqlFileError):
        import_sql(hostile, db_of(server, tgt_db, "pprd"), site_id=43)
    other_site = tmp_path / "other.sql"
    other_site.write_bytes(b"CREATE TABLE wp_430_posts (a TEXT);\n")
    with pytest.raises(SqlFileError, match="wp_430_posts"):
        import_sql(other_site, db_of(server, tgt_db, "pprd"), site_id=43)
    assert checksums(server, tgt_db) == before
    assert fetch(server, tgt_db, "SELECT COUNT(*) FROM wp_43_options") == [(b"2",)]
