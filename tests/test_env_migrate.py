"""A whole environment refreshed: a generated network of 9 sites (site 1 with plugin tables, subdirectory
sites, a subdomain site, a domain-mapped site, 43 and 430, a site only in the source, one only in the
target, one with a row over the target's max_allowed_packet) into a private server, through the library
and through the CLI killed with SIGKILL and resumed."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from devtools.netgen import Network, generate_network
from devtools.netgen_values import serialize
from devtools.sandbox import MariaDBServer
from tests.smallsite import db_of
from wfuwp.archive.location import ArchiveLocation
from wfuwp.cli.main import main
from wfuwp.config.settings import Config
from wfuwp.mysql.identity import network_of
from wfuwp.mysql.lock import SiteLock
from wfuwp.mysql.schema import NETWORK_SITE, network_table_names
from wfuwp.ops.clean import plan_clean

ROOT = Path(__file__).resolve().parent.parent
TARGET = "pprd"
SOURCE_SITES = (1, 2, 5, 9, 12, 43, 430, 600)  # 600: only in the source
TARGET_SITES = (1, 2, 5, 9, 12, 43, 430, 77)  # 77: only in the target
TOO_BIG = 5  # its big option (1.5 MB) is over the target's max_allowed_packet (1 MiB)
SUBDOMAIN, MAPPED = 9, 12
URL_OPTIONS = "('siteurl', 'home')"
ADDRESSES = {  # site -> (source wp_blogs domain, target wp_blogs domain), path "/"
    SUBDOMAIN: ("news.example.edu", "news.pprd.example.edu"),
    MAPPED: ("biology.example.org", "biology-pprd.example.edu"),
}


def _probe_values(host: str) -> list[bytes]:
    """Values naming a subdomain or domain-mapped site's own host (none of netgen's templates do)."""
    url = f"https://{host}"
    return [
        f"{url}/about".encode(),
        f'<a href="//{host}/x">{host}</a>'.encode(),
        serialize({"url": url, "n": 1}),
        json.dumps({"home": f"{url}/"}).encode(),
    ]


@dataclass
class Refresh:
    source: MariaDBServer
    target: MariaDBServer
    network: Network
    source_db: str
    target_db: str
    archive: Path
    before: dict[str, Any]  # the target's checksums of the tables that must not change


def _sql(server: MariaDBServer, database: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        for statement, params in statements:
            cur.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _rows(server: MariaDBServer, database: str, sql: str) -> list[tuple[Any, ...]]:
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [
            tuple(v.decode() if isinstance(v, (bytes, bytearray)) else v for v in r) for r in cur.fetchall()
        ]
    finally:
        conn.close()


def _checksums(server: MariaDBServer, database: str, names: list[str]) -> dict[str, Any]:
    found = _rows(server, database, f"CHECKSUM TABLE {', '.join(f'`{n}`' for n in names)} EXTENDED")
    return {name.split(".", 1)[1]: checksum for name, checksum in found}


def _tables(server: MariaDBServer, database: str, like: str) -> list[str]:
    return [r[0] for r in _rows(server, database, f"SHOW TABLES LIKE '{like}'")]


@pytest.fixture(scope="module")
def refresh(mariadb: MariaDBServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refresh]:
    target = MariaDBServer.start(
        tmp_path_factory.mktemp("mariadb-small-packet"), extra_args=("--max-allowed-packet=1048576",)
    )
    source_db, target_db = f"wfuwp_env_{uuid.uuid4().hex[:8]}", f"wfuwp_env_{uuid.uuid4().hex[:8]}"
    try:
        network = generate_network(mariadb.connect_kwargs(), source_db, sites=SOURCE_SITES, main_site=TOO_BIG,
                                   rows_scale=0.25, big_row_bytes=1_500_000)  # fmt: skip
        generate_network(target.connect_kwargs(), target_db, sites=TARGET_SITES, rows_scale=0.25,
                         source_host=network.target_host(TARGET), seed=1, big_row_bytes=0)  # fmt: skip
        for server, database, side in ((mariadb, source_db, 0), (target, target_db, 1)):
            # A subdomain or domain-mapped site's siteurl and home are its own host, as WordPress keeps them.
            statements = [
                statement
                for site, hosts in ADDRESSES.items()
                for statement in (
                    ("UPDATE wp_blogs SET domain = %s, path = '/' WHERE blog_id = %s", (hosts[side], site)),
                    (f"UPDATE wp_{site}_options SET option_value = %s WHERE option_name IN {URL_OPTIONS}",
                     (f"https://{hosts[side]}",)),
                )
            ]  # fmt: skip
            _sql(server, database, statements)
        probes: list[tuple[str, tuple[Any, ...]]] = []
        for site, (host, _) in ADDRESSES.items():
            probes.append((f"CREATE TABLE wp_{site}_probe (id INT PRIMARY KEY, v LONGTEXT)", ()))
            probes += [
                (f"INSERT INTO wp_{site}_probe VALUES (%s, %s)", (i, v))
                for i, v in enumerate(_probe_values(host))
            ]
        # A network-wide plugin's table (one for all sites): refreshed with the network tables.
        probes.append(("CREATE TABLE wp_stream (ID INT PRIMARY KEY, blog_id INT, summary TEXT)", ()))
        probes.append(
            ("INSERT INTO wp_stream VALUES (1, 43, 'Edited https://www.example.edu/site43/ and "
             "https://news.example.edu/ and https://biology.example.org/')", ())
        )  # fmt: skip
        # A table of several sites that no list names (issue 12): the network step takes it too. And
        # a second network in the same database (wp_second_): none of its tables is this one's.
        probes += [
            ("CREATE TABLE wp_activity (id INT PRIMARY KEY, blog_id INT, url TEXT)", ()),
            ("INSERT INTO wp_activity VALUES (1, 2, 'https://www.example.edu/site2/'), "
             "(2, 43, 'https://www.example.edu/site43/x')", ()),
            ("CREATE TABLE wp_second_blogs (blog_id INT PRIMARY KEY, domain TEXT)", ()),
            ("CREATE TABLE wp_second_sitemeta (meta_id INT PRIMARY KEY, site_id INT)", ()),
            ("INSERT INTO wp_second_sitemeta VALUES (1, 2)", ()),
        ]  # fmt: skip
        _sql(mariadb, source_db, probes)
        keep = _tables(target, target_db, "wp\\_77\\_%") + _tables(target, target_db, f"wp\\_{TOO_BIG}\\_%")
        before = _checksums(target, target_db, keep)
        yield Refresh(
            mariadb, target, network, source_db, target_db, tmp_path_factory.mktemp("archive"), before
        )
    finally:
        for server, database in ((mariadb, source_db), (target, target_db)):
            conn = server.connect()
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
            conn.close()
        target.stop()


@pytest.fixture(scope="module")
def library_run(refresh: Refresh) -> wfuwp.NetworkReport:
    updates: list[wfuwp.NetworkProgress] = []
    report = wfuwp.migrate_network(
        source=db_of(refresh.source, refresh.source_db, "prod"),
        target=db_of(refresh.target, refresh.target_db, TARGET),
        replacements=refresh.network.replacement_pairs(TARGET),
        archive=refresh.archive,
        parallel=3,
        progress=updates.append,
    )
    # Progress covered the whole run: every site ended, bytes and the running sites were reported.
    assert updates[-1].sites_done == updates[-1].sites_total == len(SOURCE_SITES)
    assert updates[-1].bytes_done > 0 and updates[-1].bytes_total > 0
    assert any(len(u.current) > 1 for u in updates)  # sites ran at once
    return report


def test_every_site_but_the_failing_one_finished(library_run: wfuwp.NetworkReport, refresh: Refresh) -> None:
    statuses = {o.name: o.status for o in library_run.rows()}
    errors = {o.name: o.error for o in library_run.rows() if o.error}
    assert statuses == {
        "network": "completed",
        **{str(s): "completed" for s in SOURCE_SITES if s != TOO_BIG},
        str(TOO_BIG): "failed",
        "77": "kept",
    }, errors
    (failed,) = library_run.failed
    assert failed.site_id == TOO_BIG and "max_allowed_packet" in (failed.error or "")
    assert library_run.status == "failed"
    # The failed site and the target-only site are as they were; nothing was left behind.
    keep = list(refresh.before)
    assert _checksums(refresh.target, refresh.target_db, keep) == refresh.before
    assert _tables(refresh.target, refresh.target_db, "\\_wf%") == []
    # Every site is its own migration, with its own archive folder.
    location = ArchiveLocation.parse(refresh.archive)
    for outcome in library_run.sites:
        if outcome.status == "completed":
            assert location.read_manifest(outcome.migration_id or "").site_id == outcome.site_id


def test_every_migrated_value_is_the_expected_one(library_run: wfuwp.NetworkReport, refresh: Refresh) -> None:
    network, kwargs = refresh.network, refresh.target.connect_kwargs()
    # netgen renders every site under one host: its siteurl/home of sites 9 and 12 (which the fixture
    # changed to their own hosts, checked below) are put back in a copy before the comparison.
    copies = []
    for site in ADDRESSES:
        copy = f"wfuwp_env_cmp_{uuid.uuid4().hex[:8]}"
        _sql(refresh.target, refresh.target_db, [
            (f"CREATE DATABASE {copy}", ()),
            (f"CREATE TABLE {copy}.wp_{site}_options LIKE wp_{site}_options", ()),
            (f"INSERT INTO {copy}.wp_{site}_options SELECT * FROM wp_{site}_options", ()),
            (f"UPDATE {copy}.wp_{site}_options SET option_value = %s WHERE option_name IN {URL_OPTIONS}",
             (f"https://pprd.example.edu/site{site}",)),
        ])  # fmt: skip
        copies.append((site, copy))
    try:
        for site, copy in copies:
            assert network.diff_table(kwargs, f"wp_{site}_options", TARGET, database=copy) == []
    finally:
        _sql(refresh.target, refresh.target_db, [(f"DROP DATABASE {copy}", ()) for _, copy in copies])
    problems = {
        table: diff
        for site in SOURCE_SITES
        if site != TOO_BIG
        for table in network.site_tables(site)
        if table not in {f"wp_{s}_options" for s in ADDRESSES}
        if (diff := network.diff_table(kwargs, table, TARGET, database=refresh.target_db))
    }
    assert problems == {}
    # The subdomain and domain-mapped sites' own hosts became their hosts in the target's wp_blogs.
    for site, (_, target_host) in ADDRESSES.items():
        urls = _rows(refresh.target, refresh.target_db, f"SELECT option_value FROM wp_{site}_options "
                     "WHERE option_name IN ('siteurl', 'home')")  # fmt: skip
        assert urls == [(f"https://{target_host}",)] * 2
        got = [
            r[0].encode()
            for r in _rows(refresh.target, refresh.target_db, f"SELECT v FROM wp_{site}_probe ORDER BY id")
        ]
        assert got == _probe_values(target_host)


def test_network_tables_map_every_site(library_run: wfuwp.NetworkReport, refresh: Refresh) -> None:
    blogs = {
        r[0]: (r[1], r[2])
        for r in _rows(refresh.target, refresh.target_db, "SELECT blog_id, domain, path FROM wp_blogs")
    }
    expected = {s: ("pprd.example.edu", "/" if s == 1 else f"/site{s}/") for s in SOURCE_SITES}
    expected |= {site: (hosts[1], "/") for site, hosts in ADDRESSES.items()}
    expected[77] = ("pprd.example.edu", "/site77/")  # only in the target: its row was kept
    assert blogs == expected
    assert _rows(
        refresh.target, refresh.target_db, "SELECT COUNT(*) FROM wp_blog_versions WHERE blog_id = 77"
    ) == [(1,)]
    network, kwargs = refresh.network, refresh.target.connect_kwargs()
    for short in ("site", "sitemeta", "users", "usermeta", "signups", "sitecategories"):
        assert network.diff_table(kwargs, f"wp_{short}", TARGET, database=refresh.target_db) == [], short
    assert _rows(refresh.target, refresh.target_db, "SELECT summary FROM wp_stream") == [
        ("Edited https://pprd.example.edu/site43/ and https://news.pprd.example.edu/ and "
         "https://biology-pprd.example.edu/",)
    ]  # fmt: skip


def test_tables_of_no_single_site_are_the_network_steps(
    library_run: wfuwp.NetworkReport, refresh: Refresh
) -> None:
    conn = refresh.source.connect(database=refresh.source_db)
    try:
        names = network_table_names(conn, refresh.source_db, "wp_")
    finally:
        conn.close()
    assert {"wp_blogs", "wp_sitemeta", "wp_stream", "wp_activity"} <= set(names)
    assert not [n for n in names if n.startswith(("wp_second_", "wp_2_")) or n == "wp_options"]
    assert "wp_activity" in library_run.network.source
    assert _rows(refresh.target, refresh.target_db, "SELECT url FROM wp_activity ORDER BY id") == [
        ("https://pprd.example.edu/site2/",),
        ("https://pprd.example.edu/site43/x",),
    ]
    assert _tables(refresh.target, refresh.target_db, "wp\\_second\\_%") == []


def test_network_tables_have_their_own_archive_folder_lock_and_rollback(
    library_run: wfuwp.NetworkReport, refresh: Refresh, tmp_path: Path, cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    location = ArchiveLocation.parse(refresh.archive)
    network_id = library_run.network.migration_id or ""
    manifest = location.read_manifest(network_id)
    assert (manifest.site_id, manifest.site_name) == (NETWORK_SITE, "network")
    assert (refresh.archive / "network" / network_id / "manifest.json").is_file()
    # `wfuwp migrate list` shows it as the network's, not site 1's.
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "archives").symlink_to(refresh.archive)
    config = _config(refresh, tmp_path / "config.json")
    for only, listed in ((["--site", "1"], False), (["--site", "network"], True), ([], True)):
        code, out, err = _run(config, "migrate", "list", "--json", "--limit", "0", "--work-dir",
                              str(tmp_path / "work"), *only, capsys=capsys)  # fmt: skip
        found = {row["id"]: row["site_id"] for row in json.loads(out)}
        assert code == 0 and (found.get(network_id) == NETWORK_SITE) == listed, (only, err)
    # The manifest names both networks, as a site's does.
    target = db_of(refresh.target, refresh.target_db, TARGET)
    assert manifest.target_network is not None and manifest.target_network.same_as(network_of(target))
    # Site 1's lock does not hold the network tables back; their own lock does.
    only_network = {
        "source": db_of(refresh.source, refresh.source_db, "prod"),
        "target": target,
        "replacements": refresh.network.replacement_pairs(TARGET),
        "archive": tmp_path,
        "include_sites": [],
    }
    with SiteLock(target, NETWORK_SITE):
        held = wfuwp.migrate_network(**only_network)  # type: ignore[arg-type]
    assert held.network.status == "failed" and "writing the network tables" in (held.network.error or "")
    names = sorted(_tables(refresh.target, refresh.target_db, "wp\\_%"))
    names = [n for n in names if n in library_run.network.source.split(", ")]
    before = _checksums(refresh.target, refresh.target_db, names)
    with SiteLock(target, 1):
        report = wfuwp.migrate_network(**only_network)  # type: ignore[arg-type]
    assert report.network.status == "completed", report.network.error
    # Rolling it back is the network's, refused for another network unless forced.
    again = report.network.migration_id or ""
    source = db_of(refresh.source, refresh.source_db, "prod")
    with pytest.raises(wfuwp.NetworkMismatchError):
        wfuwp.rollback(again, source, archive=tmp_path)
    with pytest.raises(wfuwp.NetworkMismatchError):
        wfuwp.restore(again, source, archive=tmp_path, which="migrated")
    wfuwp.rollback(again, target, archive=tmp_path)
    assert _checksums(refresh.target, refresh.target_db, names) == before
    found = {i.id: i for i in ArchiveLocation.parse(tmp_path).list_migrations(NETWORK_SITE)}
    assert found[again].status == "rolled-back"
    assert {i.site_id for i in found.values()} == {NETWORK_SITE} and len(found) == 2  # + the undo's backup


def test_clean_leaves_a_running_network_steps_staging_tables(
    refresh: Refresh, cli_env: dict[str, str]
) -> None:
    target = db_of(refresh.target, refresh.target_db, TARGET)
    staging = "_wfs_0a1b2c_wp_blogs"
    _sql(refresh.target, refresh.target_db, [(f"CREATE TABLE {staging} (id INT)", ())])
    config = Config()
    for key, value in {"host": target.host, "port": str(target.port), "user": "root",
                       "database": refresh.target_db}.items():  # fmt: skip
        config.set(f"env.{TARGET}.{key}", value)
    try:
        with SiteLock(target, NETWORK_SITE):  # the network step holds its own lock, not site 1's
            (found,) = plan_clean(config, migration=False).targets
        assert staging in found.busy and staging not in found.tables
    finally:
        _sql(refresh.target, refresh.target_db, [(f"DROP TABLE {staging}", ())])


def test_fail_fast_stops_at_the_first_failed_site(library_run: wfuwp.NetworkReport, refresh: Refresh) -> None:
    chosen = [2, TOO_BIG, 43, 430]
    names = [n for site in chosen for n in _tables(refresh.target, refresh.target_db, f"wp\\_{site}\\_%")]
    before = _checksums(refresh.target, refresh.target_db, names)
    started: list[int] = []
    report = wfuwp.migrate_network(
        source=db_of(refresh.source, refresh.source_db, "prod"),
        target=db_of(refresh.target, refresh.target_db, TARGET),
        replacements=refresh.network.replacement_pairs(TARGET),
        parallel=1,
        include_sites=chosen,
        fail_fast=True,
        progress=lambda u: started.append(u.site_id) if u.message == "site-start" and u.site_id else None,
    )
    statuses = {o.site_id: o.status for o in report.sites}
    # Largest first: TOO_BIG (every plugin table and a 1.5 MB option) is never the smallest.
    position = started.index(TOO_BIG)
    assert position < len(chosen) - 1 and started == started[: position + 1]
    assert statuses == {s: "completed" for s in started[:position]} | {TOO_BIG: "failed"} | {
        s: "not run" for s in chosen if s not in started
    }
    assert report.network.status == "completed" and report.status == "failed"
    after = _checksums(refresh.target, refresh.target_db, names)
    assert all(after[n] == before[n] for n in names if not n.startswith(tuple(f"wp_{s}_" for s in started)))


def test_parallel_beyond_the_connection_bound_is_refused() -> None:
    with pytest.raises(wfuwp.UsageError, match="--parallel 8 needs at least 24 connections per server"):
        wfuwp.migrate_network(
            source="mysql://root@127.0.0.1:1/a", target="mysql://root@127.0.0.1:1/b", parallel=8
        )


# -- the command line ----------------------------------------------------------------------------------------


def _config(refresh: Refresh, path: Path) -> Path:
    config = Config()
    for env, server, database, host in (
        ("prod", refresh.source, refresh.source_db, "www.example.edu"),
        (TARGET, refresh.target, refresh.target_db, "pprd.example.edu"),
    ):
        for key, value in {"host": server.host, "port": str(server.port), "user": server.user,
                           "database": database, "site_host": host}.items():  # fmt: skip
            config.set(f"env.{env}.{key}", value)
    config.protected_envs = [TARGET]
    config.save(path)
    return path


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("WFUWP_CONFIG", raising=False)
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _verified_tables(location: ArchiveLocation, migration_id: str) -> int:
    """How many tables a running migration has loaded and verified (0 before its state.json)."""
    try:
        state = location.migration(migration_id).read_state()
    except wfuwp.WfuwpError:
        return 0
    return len(state.tables) if state is not None and state.status == "running" else 0


def _run(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    sys.stdin = io.StringIO("")
    try:
        code = main(["--config", str(config), *args])
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_the_plan_and_writes_nothing(
    library_run: wfuwp.NetworkReport, refresh: Refresh, tmp_path: Path, cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = _config(refresh, tmp_path / "config.json")
    names = _tables(refresh.target, refresh.target_db, "wp\\_%")
    before = _checksums(refresh.target, refresh.target_db, names)
    code, out, err = _run(config, "env-migrate", "prod", TARGET, "--dry-run", "--work-dir", str(tmp_path),
                          capsys=capsys)  # fmt: skip
    assert code == 5, err  # the pre-flight of site 5 finds its row over the target's packet limit
    assert f"site {SUBDOMAIN}: news.example.edu/ -> news.pprd.example.edu/" in out
    assert "site 600: www.example.edu/site600/ -> pprd.example.edu/site600/" in out
    assert "site 77: only in pprd (pprd.example.edu/site77/): kept" in out
    assert "would fail" in out and "max_allowed_packet" in out
    assert _checksums(refresh.target, refresh.target_db, names) == before


def test_protected_target_needs_its_name_typed(
    refresh: Refresh, tmp_path: Path, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(refresh, tmp_path / "config.json")
    code, _out, err = _run(config, "migrate", "network", "--from", "prod", "--to", TARGET, capsys=capsys)
    assert code == 2 and "pprd is a protected environment and there is no terminal" in err


class Terminal(io.StringIO):
    """Typed answers on a stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_protected_target_asks_for_its_name_on_a_terminal(
    library_run: wfuwp.NetworkReport, refresh: Refresh, tmp_path: Path, cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = _config(refresh, tmp_path / "config.json")
    names = _tables(refresh.target, refresh.target_db, "wp\\_%")
    before = _checksums(refresh.target, refresh.target_db, names)
    sys.stdin = Terminal("prod\n")
    try:
        code = main(["--config", str(config), "env-migrate", "prod", TARGET, "--work-dir", str(tmp_path)])
    finally:
        sys.stdin = sys.__stdin__
    _out, err = capsys.readouterr()
    assert code == 1
    assert "Type the environment's name (pprd) to go on" in err
    assert err.endswith("error: you typed 'prod', not pprd: nothing was written\n")
    assert _checksums(refresh.target, refresh.target_db, names) == before
    assert not (tmp_path / "archives").exists()  # not even a state file


def test_sigkill_mid_run_then_resume(
    library_run: wfuwp.NetworkReport, refresh: Refresh, tmp_path: Path, cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = _config(refresh, tmp_path / "config.json")
    work = tmp_path / "work"
    args = ["env-migrate", "prod", TARGET, "--parallel", "1", "--yes", "--work-dir", str(work)]
    child = subprocess.Popen([sys.executable, "-m", "wfuwp", "--config", str(config), *args], env=cli_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    states = work / "archives" / "environments"
    location = ArchiveLocation.parse(work / "archives")
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 120
    # Kill it once two sites have finished and the one running has verified a table or more: the
    # resume then skips the two and resumes the third through its own state.json.
    while time.monotonic() < deadline and child.poll() is None:
        for path in states.glob("*/state.json") if states.exists() else []:
            try:
                seen = json.loads(path.read_text())
            except ValueError:
                continue  # caught mid-write
        rows = seen.get("rows", {})
        finished = [n for n, r in rows.items() if r["status"] == "completed" and n != "network"]
        running = {n: r["migration_id"] for n, r in rows.items() if r["status"] == "running"}
        if len(finished) >= 2 and running and all(_verified_tables(location, m) for m in running.values()):
            break
        time.sleep(0.05)
    child.kill()
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    done_before = {n for n, r in seen["rows"].items() if r["status"] == "completed"}
    running = {n: r["migration_id"] for n, r in seen["rows"].items() if r["status"] == "running"}
    assert "network" in done_before and running
    assert all(_verified_tables(location, m) for m in running.values())

    code, out, err = _run(config, *args, "--resume", capsys=capsys)
    assert code == 1, err  # site 5 fails again; every other site finished
    assert f"failed: {TOO_BIG}; the others finished" in err
    # Progress on stderr: sites done of total, MB, the ETA and the sites running.
    assert re.search(r"site \d+ started; sites \d/8, [\d.,]+/[\d.,]+ MB, ETA [\d:?]+, running: \d+", err), err
    state = json.loads(next(states.glob("*/state.json")).read_text())
    assert state["run_id"] == seen["run_id"]
    statuses = {n: r["status"] for n, r in state["rows"].items()}
    for name in done_before:
        assert statuses[name] == "done earlier", name  # not migrated again
    for name, migration_id in running.items():
        assert statuses[name] == "completed" and state["rows"][name]["migration_id"] == migration_id
    assert {n for n, s in statuses.items() if s == "failed"} == {str(TOO_BIG)}
    assert all(s in ("completed", "done earlier") for n, s in statuses.items() if n != str(TOO_BIG))
    # The summary table names every site with its figures.
    for site in SOURCE_SITES:
        assert re.search(rf"\b{site}\b.*\b(completed|done earlier|failed)\b", out), site
    assert _tables(refresh.target, refresh.target_db, "\\_wf%") == []
    siteurls = {
        site: _rows(refresh.target, refresh.target_db, "SELECT option_value FROM "
                    f"wp_{'' if site == 1 else f'{site}_'}options WHERE option_name = 'siteurl'")
        for site in SOURCE_SITES if site != TOO_BIG
    }  # fmt: skip
    own = {site: f"https://{hosts[1]}" for site, hosts in ADDRESSES.items()}
    assert siteurls == {
        s: [(own.get(s, f"https://pprd.example.edu{'' if s == 1 else f'/site{s}'}"),)] for s in siteurls
    }


def test_drop_target_only_sites_backs_them_up_first(
    library_run: wfuwp.NetworkReport, refresh: Refresh, tmp_path: Path
) -> None:
    # Last in the module: site 77 is gone afterwards.
    tables = _tables(refresh.target, refresh.target_db, "wp\\_77\\_%")
    assert tables
    run = {
        "source": db_of(refresh.source, refresh.source_db, "prod"),
        "target": db_of(refresh.target, refresh.target_db, TARGET),
        "replacements": refresh.network.replacement_pairs(TARGET),
        "archive": tmp_path,
        "include_sites": [2],
    }

    def stop_after_the_network_swap(update: wfuwp.NetworkProgress) -> None:
        if update.message == "site-end" and update.site_id == NETWORK_SITE:
            raise KeyboardInterrupt  # as a kill there would: 77's wp_blogs rows are gone, its tables not

    with pytest.raises(wfuwp.MigrationError, match="interrupted"):
        wfuwp.migrate_network(**run, drop_target_only_sites=True, progress=stop_after_the_network_swap)  # type: ignore[arg-type]
    assert _tables(refresh.target, refresh.target_db, "wp\\_77\\_%") == tables
    assert _rows(refresh.target, refresh.target_db, "SELECT COUNT(*) FROM wp_blogs WHERE blog_id = 77") == [
        (0,)
    ]
    # The resumed run drops them: the state file recorded them before the swap.
    report = wfuwp.migrate_network(**run, resume=True)  # type: ignore[arg-type]
    (gone,) = report.target_only
    assert (gone.site_id, gone.status, report.status) == (77, "dropped", "completed")
    assert _tables(refresh.target, refresh.target_db, "wp\\_77\\_%") == []
    for short in ("blogs", "blogmeta", "blog_versions", "registration_log"):
        assert _rows(
            refresh.target, refresh.target_db, f"SELECT COUNT(*) FROM wp_{short} WHERE blog_id = 77"
        ) == [(0,)]
    backup = ArchiveLocation.parse(tmp_path).read_manifest(gone.migration_id or "")
    assert backup.kind == "backup" and backup.site_id == 77
    assert sorted(o.table for o in backup.objects_of("backup")) == sorted(tables)
