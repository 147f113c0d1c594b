"""Which network an archive belongs to (issue 10, point 4): the identity read from the database, recorded
in every manifest; restore/import/rollback refuse another network's or environment's archive unless
forced; `list` tells networks apart. Real MariaDB, real S3 (moto's server)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

import wfuwp
from devtools.sandbox import drop_database
from tests.dbutil import checksums, run_sql
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.archive.manifest import Manifest, MigrationState
from wfuwp.errors import NetworkMismatchError
from wfuwp.mysql.identity import NetworkIdentity, network_id, network_of
from wfuwp.ops.backup import backup_site
from wfuwp.ops.export import export_site
from wfuwp.ops.restore import import_sql, restore, rollback
from wfuwp.storage.objects import S3Options

PROD = NetworkIdentity(
    id=network_id("wfu_prod", "wp_", "www.wfu.edu", "/"),
    database="wfu_prod",
    prefix="wp_",
    domain="www.wfu.edu",
    env="prod",
)


def network_tables(server: Any, db: str, prefix: str, host: str) -> None:
    """A network's wp_site and wp_blogs (sites 1 and 43) at `prefix`, and site 1's options."""
    run_sql(
        server,
        db,
        f"CREATE TABLE {prefix}site (id BIGINT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
        f"INSERT INTO {prefix}site VALUES (1, '{host}', '/')",
        f"CREATE TABLE {prefix}blogs (blog_id BIGINT PRIMARY KEY, site_id BIGINT, domain VARCHAR(200),"
        " path VARCHAR(100))",
        f"INSERT INTO {prefix}blogs VALUES (1, 1, '{host}', '/'), (43, 1, '{host}', '/bio/')",
        f"CREATE TABLE {prefix}options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
        " option_value LONGTEXT, autoload VARCHAR(20))",
        f"INSERT INTO {prefix}options VALUES (1, 'siteurl', 'https://{host}', 'yes'),"
        f" (2, 'blogname', 'Main of {host}', 'yes')",
    )


@pytest.fixture(scope="module")
def networks(mariadb: Any) -> Any:
    """prod (www.example.edu, with a second network `wp_second_` in the same database), pprd
    (pprd.example.edu, an older copy of site 43), and a single-site install. Module-wide: tests
    that change a database put it back or use their own."""
    names = {k: f"wfuwp_ident_{k}_{uuid.uuid4().hex[:10]}" for k in ("prod", "pprd", "single")}
    for name in names.values():
        run_sql(mariadb, None, f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    build_site(mariadb, names["prod"])
    run_sql(
        mariadb,
        names["prod"],
        "CREATE TABLE wp_site (id BIGINT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
        "INSERT INTO wp_site VALUES (1, 'www.example.edu', '/')",
        "CREATE TABLE wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
        " option_value LONGTEXT, autoload VARCHAR(20))",
        "INSERT INTO wp_options VALUES (1, 'siteurl', 'https://www.example.edu', 'yes')",
    )
    network_tables(mariadb, names["prod"], "wp_second_", "second.example.org")
    target_network(mariadb, names["pprd"])
    run_sql(
        mariadb,
        names["single"],
        "CREATE TABLE wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
        " option_value LONGTEXT)",
        "INSERT INTO wp_options VALUES (1, 'siteurl', 'https://Blog.Example.net/news/')",
    )
    yield mariadb, names
    for name in names.values():
        drop_database(mariadb, name)


def s3_location(s3_server: Any, bucket: str) -> ArchiveLocation:
    return ArchiveLocation.parse(f"s3://{bucket}/wordpress/sql", endpoint_url=s3_server.endpoint_url)


def test_identity_is_stable_and_tells_networks_and_environments_apart(networks: Any) -> None:
    server, names = networks
    prod = network_of(db_of(server, names["prod"], "prod"))
    assert (prod.database, prod.prefix, prod.domain, prod.path, prod.multisite, prod.env) == (
        names["prod"], "wp_", "www.example.edu", "/", True, "prod",
    )  # fmt: skip
    assert network_of(db_of(server, names["prod"], "prod")) == prod  # the same every run
    # The id is the network's, not the name a caller gives it.
    assert network_of(db_of(server, names["prod"], "")).id == prod.id
    second = network_of(
        wfuwp.Database(server.host, names["prod"], port=server.port, table_prefix="wp_second_")
    )
    assert second.domain == "second.example.org" and second.id != prod.id
    pprd = network_of(db_of(server, names["pprd"], "pprd"))
    assert pprd.domain == "pprd.example.edu" and pprd.id != prod.id
    assert not prod.same_as(pprd) and not prod.same_as(second)
    # Same network, another environment's name: not the same either.
    assert not prod.same_as(network_of(db_of(server, names["prod"], "uat")))
    single = network_of(db_of(server, names["single"], "dev"))
    assert (single.multisite, single.domain, single.path) == (False, "blog.example.net", "/news/")
    assert single.describe() == f"dev (wp_ on {names['single']}, blog.example.net/news/)"


def test_manifest_records_networks_and_reads_old_ones_as_unknown() -> None:
    pprd = NetworkIdentity("0123456789ab", "wfu_pprd", "wp_", "pprd.wfu.edu", "/", True, "pprd")
    manifest = Manifest(
        id="20261125T101500Z-prod-to-pprd-3fa2c1", kind="migration", status="completed", site_id=1,
        site_name="www", from_env="prod", to_env="pprd", created="2026-11-25T10:15:00Z",
        source_network=PROD, target_network=pprd,
    )  # fmt: skip
    data = orjson.loads(manifest.to_json())
    assert data["source_network"]["domain"] == "www.wfu.edu" and data["target_network"]["env"] == "pprd"
    back = Manifest.from_json(manifest.to_json(), "manifest.json")
    assert (back.source_network, back.target_network) == (PROD, pprd)
    assert back.network_of("source") == PROD and back.network_of("backup") == pprd
    assert "source_network" not in back.details
    # A manifest of an earlier version: no networks, and it still loads.
    del data["source_network"], data["target_network"]
    old = Manifest.from_json(orjson.dumps(data), "manifest.json")
    assert old.source_network is None and old.target_network is None and old.site_id == 1


def test_restore_refuses_another_networks_archive_unless_forced(
    networks: Any, make_database: Any, s3_server: Any, s3_bucket: str
) -> None:
    server, names = networks
    location = s3_location(s3_server, s3_bucket)
    report = wfuwp.migrate_site(
        43, source=db_of(server, names["prod"], "prod"), target=db_of(server, names["pprd"], "pprd"),
        replacements=PAIRS, archive=location,
    )  # fmt: skip
    manifest = location.read_manifest(report.migration_id)
    assert manifest.source_network is not None and manifest.source_network.domain == "www.example.edu"
    assert manifest.target_network is not None and manifest.target_network.domain == "pprd.example.edu"

    # Another network that calls itself pprd too: its own database and main domain.
    other = make_database(server, "wfuwp_ident_other")
    target_network(server, other)
    run_sql(server, other, "UPDATE wp_blogs SET domain = 'pprd.other.org'")
    before = checksums(server, other)
    with pytest.raises(NetworkMismatchError) as refused:
        restore(report.migration_id, db_of(server, other, "pprd"), archive=location)
    message = str(refused.value)
    assert "\n" not in message
    assert f"pprd (wp_ on {names['pprd']}, pprd.example.edu)" in message
    assert f"pprd (wp_ on {other}, pprd.other.org)" in message and "--force" in message
    assert checksums(server, other) == before  # nothing written
    assert len(location.list_migrations()) == 1  # not even a backup of what it would replace
    with pytest.raises(NetworkMismatchError):
        restore(report.migration_id, db_of(server, other, "pprd"), archive=location, which="migrated")
    with pytest.raises(NetworkMismatchError):
        rollback(report.migration_id, db_of(server, other, "pprd"), archive=location)
    # One object of it, imported from S3: its manifest is found beside it, and it is refused too.
    folder = location.migration(report.migration_id)
    [obj] = folder.objects_of("backup", "wp_43_options")
    url = f"s3://{s3_bucket}/wordpress/sql/{folder.folder}/{obj.name}"
    s3 = S3Options(endpoint_url=s3_server.endpoint_url)
    with pytest.raises(NetworkMismatchError, match=r"import it to its own network"):
        import_sql(url, db_of(server, other, "pprd"), site_id=43, s3=s3)
    assert checksums(server, other) == before
    # Its source/ objects are prod's: refused in pprd, the migration's own target, as well.
    [source_obj] = folder.objects_of("source", "wp_43_options")
    source_url = f"s3://{s3_bucket}/wordpress/sql/{folder.folder}/{source_obj.name}"
    pprd_before = checksums(server, names["pprd"])
    with pytest.raises(
        NetworkMismatchError, match=rf"\(source\) was made for network prod \(wp_ on {names['prod']}"
    ):
        import_sql(source_url, db_of(server, names["pprd"], "pprd"), site_id=43, s3=s3)
    assert checksums(server, names["pprd"]) == pprd_before

    forced = restore(report.migration_id, db_of(server, other, "pprd"), archive=location, force=True)
    assert forced.status == "completed" and forced.verified_checksums
    # Into its own network a rollback still works: the target is as before the migration.
    back = rollback(report.migration_id, db_of(server, names["pprd"], "pprd"), archive=location)
    assert back.status == "completed"
    assert location.read_manifest(report.migration_id).status == "rolled-back"


def test_a_pprd_backup_is_refused_in_prod(networks: Any, tmp_path: Any) -> None:
    server, names = networks
    archive = tmp_path / "archives"
    backup = backup_site(db_of(server, names["pprd"], "pprd"), 43, archive)
    recorded = ArchiveLocation.parse(archive).read_manifest(backup.backup_id)
    assert (
        recorded.source_network == recorded.target_network == network_of(db_of(server, names["pprd"], "pprd"))
    )
    prod_before = checksums(server, names["prod"])
    with pytest.raises(NetworkMismatchError, match=r"made for network pprd .* but the target is prod"):
        restore(backup.backup_id, db_of(server, names["prod"], "prod"), archive=archive)
    # The pprd database itself, called prod: the environment differs, refused as well.
    pprd_before = checksums(server, names["pprd"])
    with pytest.raises(NetworkMismatchError, match=r"made for network pprd .* but the target is prod"):
        restore(backup.backup_id, db_of(server, names["pprd"], "prod"), archive=archive)
    assert checksums(server, names["prod"]) == prod_before
    assert checksums(server, names["pprd"]) == pprd_before
    # Its own network takes it back, named or not.
    assert restore(backup.backup_id, db_of(server, names["pprd"], ""), archive=archive).status == "completed"


def test_import_of_an_archive_object_checks_its_network(networks: Any, tmp_path: Any) -> None:
    server, names = networks
    archive = tmp_path / "archives"
    backup = backup_site(db_of(server, names["pprd"], "pprd"), 43, archive)
    folder = ArchiveLocation.parse(archive).migration(backup.backup_id)
    [obj] = folder.objects_of("backup", "wp_43_options")
    path = archive / folder.folder / obj.name
    prod_before = checksums(server, names["prod"])
    with pytest.raises(NetworkMismatchError, match=r"import it to its own network"):
        import_sql(path, db_of(server, names["prod"], "prod"), site_id=43)
    assert checksums(server, names["prod"]) == prod_before
    assert import_sql(path, db_of(server, names["pprd"], "pprd"), site_id=43).status == "completed"
    # A dump made elsewhere (here an export) says nothing about its network: loaded as before.
    dump = tmp_path / "site43.sql.zst"
    export_site(db_of(server, names["pprd"], "pprd"), 43, dump)
    assert import_sql(dump, db_of(server, names["pprd"], "pprd"), site_id=43).status == "completed"


def test_list_tells_two_networks_site_1_apart(networks: Any, tmp_path: Any) -> None:
    server, names = networks
    location = ArchiveLocation.parse(tmp_path / "archives")
    first = backup_site(db_of(server, names["prod"], "prod"), 1, location)
    second_db = wfuwp.Database(
        server.host, names["prod"], port=server.port, table_prefix="wp_second_", name="prod"
    )
    second = backup_site(second_db, 1, location)
    listed = {info.id: info for info in location.list_migrations(site_id=1)}
    assert set(listed) == {first.backup_id, second.backup_id}
    first_net, second_net = listed[first.backup_id].target_network, listed[second.backup_id].target_network
    assert first_net is not None and second_net is not None
    assert (first_net.domain, second_net.domain) == ("www.example.edu", "second.example.org")
    assert first_net.id != second_net.id
    assert [i.id for i in location.list_migrations(network="second.example.org")] == [second.backup_id]
    assert [i.id for i in location.list_migrations(network=first_net.id[:6])] == [first.backup_id]
    assert wfuwp.list_migrations(location, network="nowhere.example") == []
    # Each goes back only into its own network.
    with pytest.raises(NetworkMismatchError):
        restore(second.backup_id, db_of(server, names["prod"], "prod"), archive=location)
    assert restore(second.backup_id, second_db, archive=location).status == "completed"


def test_an_archive_made_before_networks_were_recorded_still_restores(networks: Any, tmp_path: Any) -> None:
    server, names = networks
    location = ArchiveLocation.parse(tmp_path / "archives")
    backup = backup_site(db_of(server, names["pprd"], "pprd"), 43, location)
    # Rewrite its manifest as an earlier version wrote it: no networks.
    manifest_path = tmp_path / "archives" / "site-43" / backup.backup_id / "manifest.json"
    data = orjson.loads(manifest_path.read_bytes())
    del data["source_network"], data["target_network"]
    manifest_path.write_bytes(orjson.dumps(data))
    [info] = location.list_migrations()
    assert info.target_network is None  # listed, network unknown
    assert location.list_migrations(network=network_of(db_of(server, names["pprd"], "pprd")).id) == []
    before = checksums(server, names["pprd"])
    run_sql(server, names["pprd"], "UPDATE wp_43_options SET option_value = 'changed' WHERE option_id = 1")
    report = restore(backup.backup_id, db_of(server, names["pprd"], "pprd"), archive=location)
    assert report.status == "completed" and report.verified_checksums
    assert checksums(server, names["pprd"]) == before


def test_a_run_killed_before_its_manifest_keeps_its_networks_in_state_json(tmp_path: Any) -> None:
    pprd = NetworkIdentity("0123456789ab", "wfu_pprd", "wp_", "pprd.wfu.edu", "/", True, "pprd")
    location = ArchiveLocation.parse(tmp_path / "archives")
    folder = location.new_migration(site_id=43, site_name="bio", from_env="prod", to_env="pprd")
    folder.write_state(MigrationState(43, source_network=PROD, target_network=pprd))
    record = location.migration(folder.id).read_record()
    assert record is not None and record.status == "running"
    # What rollback checks for a run that never wrote its manifest.
    assert (record.source_network, record.target_network) == (PROD, pprd)
