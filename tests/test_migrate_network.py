"""A realistic generated network (every table shape and every case family of the field notes) migrated
between two servers, every value checked against the value the generator says it must become."""

from __future__ import annotations

import subprocess

import pytest

import wfuwp
from devtools.netgen import generate_network
from tests.smallsite import db_of

TARGET = "pprd"


@pytest.fixture(scope="module")
def generated(mariadb, second_mariadb, tmp_path_factory):
    import uuid

    source_db = f"wfuwp_net_{uuid.uuid4().hex[:8]}"
    target_db = f"wfuwp_net_{uuid.uuid4().hex[:8]}"
    kwargs = mariadb.connect_kwargs()
    network = generate_network(kwargs, source_db, sites=(1, 2, 43, 430))
    target = generate_network(second_mariadb.connect_kwargs(), target_db, sites=(1, 43),
                              source_host=network.target_host(TARGET), seed=1)  # fmt: skip
    other_before = network.checksum_of_other_tables(kwargs, 43)
    target_other_before = target.checksum_of_other_tables(second_mariadb.connect_kwargs(), 43)
    archive = tmp_path_factory.mktemp("archive")
    report = wfuwp.migrate_site(
        43,
        source=db_of(mariadb, source_db, "prod"),
        target=db_of(second_mariadb, target_db, TARGET),
        replacements=network.replacement_pairs(TARGET),
        archive=archive,
    )
    yield network, target, report, source_db, target_db, other_before, target_other_before
    for server, db in ((mariadb, source_db), (second_mariadb, target_db)):
        conn = server.connect()
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
        conn.close()


def test_every_migrated_value_is_the_expected_one(generated, second_mariadb) -> None:
    network, _target, report, _src, target_db, _o, _t = generated
    assert sorted(t.name for t in report.tables) == sorted(network.site_tables(43))
    assert not any(t.startswith("wp_430_") for t in network.site_tables(43))
    problems = {
        table: diff
        for table in network.site_tables(43)
        if (diff := network.diff_table(second_mariadb.connect_kwargs(), table, TARGET, database=target_db))
    }
    assert problems == {}


def test_other_sites_and_network_tables_are_untouched(generated, mariadb, second_mariadb) -> None:
    network, target, _report, _src, _tgt, other_before, target_other_before = generated
    assert network.checksum_of_other_tables(mariadb.connect_kwargs(), 43) == other_before
    assert target.checksum_of_other_tables(second_mariadb.connect_kwargs(), 43) == target_other_before


def test_the_migrated_archive_loads_with_the_stock_client(generated, second_mariadb, make_database) -> None:
    network, _target, report, _src, _tgt, _o, _t = generated
    from pathlib import Path

    folder = Path(report.archive["location"])
    database = make_database(second_mariadb, "wfuwp_net_load")
    for file in sorted((folder / "migrated").glob("*.sql.zst")):
        sql = subprocess.run(["zstd", "-dc", str(file)], check=True, capture_output=True).stdout
        subprocess.run(["mariadb", "-uroot", f"-h{second_mariadb.host}", f"-P{second_mariadb.port}",
                        database], input=sql, check=True)  # fmt: skip
    problems = {
        table: diff
        for table in network.site_tables(43)
        if (diff := network.diff_table(second_mariadb.connect_kwargs(), table, TARGET, database=database))
    }
    assert problems == {}
