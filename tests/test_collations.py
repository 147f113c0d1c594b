"""MySQL 8's utf8mb4_0900_* collations on a MariaDB target: found by preflight, mapped to the nearest
collation the target has, on staging (migrations) and on import (mysqldump 8.0 files).

There is no MySQL 8 server here, and MariaDB 10.11 cannot hold a table with a 0900 collation, so the
mapping is tested on the statement text (copied from what MySQL 8's SHOW CREATE TABLE and mysqldump
write) against the real target's collation list, and end to end by creating and importing such
statements on the real MariaDB.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.dbutil import fetch, run_sql
from tests.smallsite import db_of
from tests.wpsite import Env, clean_environment, env
from wfuwp.errors import SqlFileError
from wfuwp.mysql.collation import (
    collation_mapping,
    collations_in,
    nearest_collation,
    target_collations,
    to_target_collations,
)
from wfuwp.mysql.schema import describe_tables
from wfuwp.mysql.target import TargetSite
from wfuwp.ops.preflight import collation_findings
from wfuwp.ops.restore import import_sql

__all__ = ["clean_environment", "env"]  # fixtures

# What MySQL 8.0's SHOW CREATE TABLE writes for a plugin table created without a collation, with
# column-level collations of every 0900 kind (no display widths, as MySQL 8 writes integers).
MYSQL8_CREATE = (
    "CREATE TABLE `wp_2_plugin_log` (\n"
    "  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n"
    "  `slug` varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,\n"
    "  `title` varchar(191) COLLATE utf8mb4_0900_as_cs DEFAULT NULL,\n"
    "  `name_sv` varchar(100) COLLATE utf8mb4_sv_0900_ai_ci DEFAULT NULL,\n"
    "  `name_ja` varchar(100) COLLATE utf8mb4_ja_0900_as_cs_ks DEFAULT NULL,\n"
    "  `note` text COLLATE utf8mb4_unicode_520_ci,\n"
    "  `kind` varchar(40) NOT NULL DEFAULT 'COLLATE utf8mb4_0900_ai_ci' COMMENT 'was utf8mb4_0900_ai_ci',\n"
    "  PRIMARY KEY (`id`),\n"
    "  UNIQUE KEY `slug` (`slug`)\n"
    ") ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"
)


@pytest.fixture(scope="module")
def available(mariadb) -> frozenset[str]:
    conn = mariadb.connect()
    try:
        return target_collations(conn)
    finally:
        conn.close()


def test_the_target_lists_its_own_collations_and_lacks_mysql8s(available) -> None:
    assert {"utf8mb4_unicode_520_ci", "utf8mb4_bin", "utf8mb4_general_ci"} <= available
    assert "utf8mb4_0900_ai_ci" not in available  # MariaDB 10.11: why this module exists


def test_collations_in_finds_every_collate_clause_but_none_in_strings() -> None:
    assert collations_in(MYSQL8_CREATE) == [
        "utf8mb4_0900_bin",
        "utf8mb4_0900_as_cs",
        "utf8mb4_sv_0900_ai_ci",
        "utf8mb4_ja_0900_as_cs_ks",
        "utf8mb4_unicode_520_ci",
        "utf8mb4_0900_ai_ci",
    ]
    assert collations_in(b"/*!50003 SET collation_connection  = utf8mb4_0900_ai_ci */") == [
        "utf8mb4_0900_ai_ci"
    ]
    assert collations_in("SET NAMES utf8mb4 COLLATE 'utf8mb4_0900_as_ci'") == ["utf8mb4_0900_as_ci"]
    assert collations_in("/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */") == []


def test_each_0900_collation_maps_to_the_nearest_the_target_has(available) -> None:
    nopad = "utf8mb4_uca1400_nopad_ai_ci" in available  # MariaDB 10.10+; 11.4.5 makes 0900_ai_ci its alias
    expected = {
        "utf8mb4_0900_ai_ci": "utf8mb4_uca1400_nopad_ai_ci" if nopad else "utf8mb4_unicode_520_nopad_ci",
        "utf8mb4_0900_as_cs": "utf8mb4_uca1400_nopad_as_cs" if nopad else "utf8mb4_nopad_bin",
        "utf8mb4_0900_bin": "utf8mb4_nopad_bin",
        "utf8mb4_sv_0900_ai_ci": "utf8mb4_uca1400_swedish_nopad_ai_ci" if nopad else "utf8mb4_swedish_520_ci",
        # No Japanese tailoring in MariaDB: the language-neutral one of the same strength.
        "utf8mb4_ja_0900_as_cs_ks": "utf8mb4_uca1400_nopad_as_cs" if nopad else "utf8mb4_nopad_bin",
    }
    assert collation_mapping(collations_in(MYSQL8_CREATE), available) == expected
    # Older servers, as their lists say: the first of the nearest that is there.
    mariadb_10_3 = {"utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci", "utf8mb4_bin", "utf8mb4_swedish_ci"}
    assert nearest_collation("utf8mb4_0900_ai_ci", mariadb_10_3) == "utf8mb4_unicode_520_ci"
    assert nearest_collation("utf8mb4_sv_0900_ai_ci", mariadb_10_3) == "utf8mb4_swedish_ci"
    assert nearest_collation("utf8mb4_0900_as_cs", mariadb_10_3) == "utf8mb4_bin"
    assert nearest_collation("UTF8MB4_UNICODE_CI", mariadb_10_3) == "utf8mb4_unicode_ci"
    assert nearest_collation("utf8mb4_0900_ai_ci", {"latin1_swedish_ci"}) is None
    assert nearest_collation("utf8mb4_klingon_ci", available) is None
    # And MariaDB's own to a MySQL 8 target.
    mysql8 = {"utf8mb4_0900_ai_ci", "utf8mb4_0900_as_cs", "utf8mb4_unicode_520_ci", "utf8mb4_bin"}
    assert nearest_collation("utf8mb4_uca1400_ai_ci", mysql8) == "utf8mb4_0900_ai_ci"


def test_the_rewrite_changes_collation_names_only(available) -> None:
    rewritten = to_target_collations(MYSQL8_CREATE, available)
    assert "0900" not in rewritten.replace("'COLLATE utf8mb4_0900_ai_ci'", "").replace(
        "'was utf8mb4_0900_ai_ci'", ""
    )
    assert "DEFAULT 'COLLATE utf8mb4_0900_ai_ci' COMMENT 'was utf8mb4_0900_ai_ci'" in rewritten  # data
    assert "`note` text COLLATE utf8mb4_unicode_520_ci," in rewritten  # the target has it: kept
    mapping = collation_mapping(collations_in(MYSQL8_CREATE), available)
    assert rewritten == _replace_all(MYSQL8_CREATE, mapping)
    # Bytes in, bytes out, every other byte as it was (latin-1 round trip of UTF-8 text).
    raw = MYSQL8_CREATE.replace("'was ", "'wäs 😀 ").encode("utf-8")
    assert to_target_collations(raw, available) == _replace_all(
        MYSQL8_CREATE.replace("'was ", "'wäs 😀 "), mapping
    ).encode("utf-8")
    # Nothing to do on the target's own collations.
    same = "CREATE TABLE `t` (`a` int) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci"
    assert to_target_collations(same, available) == same


def _replace_all(sql: str, mapping: dict[str, str | None]) -> str:
    for name, nearest in mapping.items():
        for lead in (" COLLATE ", " COLLATE="):
            sql = sql.replace(f"{lead}{name}\n", f"{lead}{nearest}\n").replace(
                f"{lead}{name} ", f"{lead}{nearest} "
            )
            if sql.endswith(f"{lead}{name}"):
                sql = sql[: -len(name)] + str(nearest)
    return sql


@pytest.fixture
def source_table(mariadb, make_database):
    """A real table's definition, as MySQL 8 would show it (its collations made 0900 ones)."""
    db = make_database(mariadb, "wfuwp_coll")
    run_sql(mariadb, db, MYSQL8_CREATE.replace("0900_", "").replace("utf8mb4_sv_ai_ci", "utf8mb4_swedish_ci")
            .replace("utf8mb4_ja_as_cs_ks", "utf8mb4_bin").replace("utf8mb4_as_cs", "utf8mb4_bin")
            .replace("utf8mb4_ai_ci", "utf8mb4_unicode_ci"))  # fmt: skip
    conn = mariadb.connect(database=db)
    try:
        (table,) = describe_tables(conn, db, ["wp_2_plugin_log"])
    finally:
        conn.close()
    return db, dataclasses.replace(table, create_sql=MYSQL8_CREATE)


def test_staging_a_mysql8_table_on_mariadb_uses_the_nearest_collations(mariadb, source_table) -> None:
    db, table = source_table
    site = TargetSite(db_of(mariadb, db, "pprd"), "abc123", [table.name], [table.name])
    conn = mariadb.connect(database=db)
    try:
        site.create_staging(conn, table)  # before: error 1273, Unknown collation 'utf8mb4_0900_ai_ci'
    finally:
        conn.close()
    staged = site.staging[table.name]
    rows = fetch(
        mariadb,
        db,
        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{staged}' AND COLLATION_NAME IS NOT NULL",
    )
    got = {name.decode(): coll.decode() for name, coll in rows}
    conn = mariadb.connect()
    try:
        mapping = collation_mapping(collations_in(MYSQL8_CREATE), target_collations(conn))
    finally:
        conn.close()
    assert got == {
        "slug": mapping["utf8mb4_0900_bin"],
        "title": mapping["utf8mb4_0900_as_cs"],
        "name_sv": mapping["utf8mb4_sv_0900_ai_ci"],
        "name_ja": mapping["utf8mb4_ja_0900_as_cs_ks"],
        "note": "utf8mb4_unicode_520_ci",
        "kind": mapping["utf8mb4_0900_ai_ci"],
    }


def test_preflight_names_the_tables_and_the_mapping(mariadb, source_table, available) -> None:
    _db, table = source_table
    plain = dataclasses.replace(table, name="wp_2_options", create_sql=table.create_sql.split("\n")[0])
    findings = collation_findings([table, plain], available, "pprd")
    nearest = collation_mapping(["utf8mb4_0900_ai_ci"], available)["utf8mb4_0900_ai_ci"]
    assert [f.level for f in findings] == ["warning"]
    (finding,) = findings
    assert finding.check == "collation"
    assert "wp_2_plugin_log" in finding.message and "wp_2_options" not in finding.message
    assert f"utf8mb4_0900_ai_ci -> {nearest}" in finding.message
    assert "utf8mb4_sv_0900_ai_ci -> " in finding.message
    # A collation with nothing near on the target is fatal, by name, before anything is written.
    alien = dataclasses.replace(table, create_sql=table.create_sql + " COLLATE utf8mb4_klingon_ci")
    fatal = [f for f in collation_findings([alien], available, "pprd") if f.level == "fatal"]
    assert len(fatal) == 1 and "utf8mb4_klingon_ci (used by wp_2_plugin_log)" in fatal[0].message


# A site's tables as MySQL 8.0's mysqldump writes them (header, versioned SETs, 0900 collations at
# table and column level, LOCK/ALTER ... DISABLE KEYS, the trigger section's collation_connection).
MYSQLDUMP_80 = """-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: db.example.test    Database: wordpress
-- ------------------------------------------------------
-- Server version\t8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `wp_5_options`
--

DROP TABLE IF EXISTS `wp_5_options`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `wp_5_options` (
  `option_id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `option_name` varchar(191) COLLATE utf8mb4_unicode_520_ci NOT NULL DEFAULT '',
  `option_value` longtext COLLATE utf8mb4_unicode_520_ci NOT NULL,
  `autoload` varchar(20) COLLATE utf8mb4_unicode_520_ci NOT NULL DEFAULT 'yes',
  PRIMARY KEY (`option_id`),
  UNIQUE KEY `option_name` (`option_name`),
  KEY `autoload` (`autoload`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `wp_5_options`
--

LOCK TABLES `wp_5_options` WRITE;
/*!40000 ALTER TABLE `wp_5_options` DISABLE KEYS */;
INSERT INTO `wp_5_options` VALUES (1,'siteurl','https://example.test/five','yes'),\
(2,'note','COLLATE utf8mb4_0900_ai_ci stays as written','no');
/*!40000 ALTER TABLE `wp_5_options` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `wp_5_plugin_log`
--

DROP TABLE IF EXISTS `wp_5_plugin_log`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `wp_5_plugin_log` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `slug` varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  `title` varchar(191) COLLATE utf8mb4_0900_as_cs DEFAULT NULL,
  `created` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `slug` (`slug`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `wp_5_plugin_log`
--

LOCK TABLES `wp_5_plugin_log` WRITE;
/*!40000 ALTER TABLE `wp_5_plugin_log` DISABLE KEYS */;
INSERT INTO `wp_5_plugin_log` VALUES (1,'a','Ärger','2024-02-18 21:57:14'),\
(2,'a ','trailing space','2024-02-18 21:57:15');
/*!40000 ALTER TABLE `wp_5_plugin_log` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET collation_connection  = utf8mb4_0900_ai_ci */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2024-02-18 21:57:16
"""


def test_import_of_a_mysqldump_80_file_maps_its_collations(mariadb, make_database, tmp_path: Path) -> None:
    db = make_database(mariadb, "wfuwp_coll")
    dump = tmp_path / "mysql8.sql"
    dump.write_text(MYSQLDUMP_80, encoding="utf-8")
    report = import_sql(dump, db_of(mariadb, db, "pprd"), site_id=5)  # before: Unknown collation
    assert report.status == "completed"
    assert report.tables == {"wp_5_options": 2, "wp_5_plugin_log": 2}
    conn = mariadb.connect()
    try:
        mapping = collation_mapping(["utf8mb4_0900_ai_ci", "utf8mb4_0900_bin", "utf8mb4_0900_as_cs"],
                                    target_collations(conn))  # fmt: skip
    finally:
        conn.close()
    assert report.collations == mapping
    assert report.collation_tables == ["wp_5_plugin_log"]
    columns = fetch(
        mariadb,
        db,
        "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db}' AND COLLATION_NAME IS NOT NULL ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    assert [(t.decode(), c.decode(), k.decode()) for t, c, k in columns] == [
        ("wp_5_options", "option_name", "utf8mb4_unicode_520_ci"),
        ("wp_5_options", "option_value", "utf8mb4_unicode_520_ci"),
        ("wp_5_options", "autoload", "utf8mb4_unicode_520_ci"),
        ("wp_5_plugin_log", "slug", mapping["utf8mb4_0900_bin"]),
        ("wp_5_plugin_log", "title", mapping["utf8mb4_0900_as_cs"]),
    ]
    (table_collation,) = fetch(
        mariadb,
        db,
        "SELECT TABLE_COLLATION FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'wp_5_plugin_log'",
    )
    assert table_collation[0].decode() == mapping["utf8mb4_0900_ai_ci"]
    # The values are data: the one that reads like a COLLATE clause is as the file wrote it, and
    # 'a' and 'a ' stay two keys of the NO PAD unique index, as on MySQL 8.
    assert fetch(mariadb, db, "SELECT option_value FROM wp_5_options WHERE option_id = 2") == [
        (b"COLLATE utf8mb4_0900_ai_ci stays as written",)
    ]
    assert fetch(mariadb, db, "SELECT slug, title FROM wp_5_plugin_log ORDER BY id") == [
        (b"a", "Ärger".encode()),
        (b"a ", b"trailing space"),
    ]


def test_import_refuses_a_collation_with_nothing_near_and_changes_nothing(
    mariadb, make_database, tmp_path: Path
) -> None:
    db = make_database(mariadb, "wfuwp_coll")
    dump = tmp_path / "alien.sql"
    dump.write_text(MYSQLDUMP_80.replace("utf8mb4_0900_as_cs", "utf8mb4_klingon_ci"), encoding="utf-8")
    with pytest.raises(SqlFileError, match=r"utf8mb4_klingon_ci.*nothing was changed"):
        import_sql(dump, db_of(mariadb, db, "pprd"), site_id=5)
    assert fetch(mariadb, db, "SHOW TABLES") == []


def test_the_import_command_says_which_collations_it_used(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dump = tmp_path / "site43-mysql8.sql"
    dump.write_text(MYSQLDUMP_80.replace("wp_5_", "wp_43_"), encoding="utf-8")
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(capsys, "migrate", "import", str(dump), "--env", "pprd", "--site", "43", *work)
    assert code == 0, err
    conn = env.server.connect()
    try:
        nearest = collation_mapping(["utf8mb4_0900_ai_ci"], target_collations(conn))["utf8mb4_0900_ai_ci"]
    finally:
        conn.close()
    said = " ".join(out.split())  # the line may be wrapped to the terminal's width
    assert f"utf8mb4_0900_ai_ci -> {nearest}" in said
    assert "(in wp_43_plugin_log)" in said
