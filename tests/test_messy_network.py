"""A network as messy as real ones (issue 10), through every operation that writes a site.

`devtools/messy.py` builds prod and pprd twice over: a subdirectory network holding WooCommerce's and
BetterLinks' foreign keys on site 1 and site 2, a trigger on each download log, a second network
under `wp_second_` in the same database, Cavalcade's and Stream's tables with rows of every site and a
domain-mapped site 3; and a subdomain network. Four sites (site 1, the subdirectory site, the
domain-mapped site, the subdomain site) move prod -> pprd with `migrate_site(replacements=None)`,
then come back by `restore` of the backup, by `rollback`, go into a fresh copy of pprd by `import` of
the migrated archive, and are killed with SIGKILL mid-run and resumed. After each, the same
invariants (`assert_migrated`, `assert_as_before`): the site holds exactly prod's rows on pprd's
hosts, every foreign key has the source's name and points at the same site's live tables, nothing
references a dropped table, every trigger is there under its live name, every other table (the
second network, Cavalcade's and Stream's rows of other sites, the target-only users) is byte for
byte as it was. Last, the CLI migrates the domain-mapped site with a configuration, and Debian's
WordPress serves it at its pprd URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from devtools.messy import TARGET_ONLY_USERS, MessyNetwork, generate_messy
from devtools.sandbox import MariaDBServer, drop_database
from tests.dbutil import checksums, fetch, table_names
from tests.smallsite import db_of
from tests.wordpress import Network, read_site, wordpress_available
from tests.wpsite import Env, clean_environment, write_config
from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import NetworkMismatchError
from wfuwp.ops.restore import import_sql

__all__ = ["clean_environment"]


# What the invariants compare: the checksum of every table, the foreign keys, the triggers.
Snapshot = tuple[dict[str, int], set[tuple[str, str, str]], set[tuple[str, str]]]


@dataclass(frozen=True)
class Case:
    """One site: its id and which pair of networks it moves between."""

    site_id: int
    kind: str  # "subdirectory" or "subdomain"
    kill_at: str  # where the killed run dies: "copy" (after its first table) or "swap" (after the RENAME)
    keep_old: bool  # rolled back by one RENAME from the kept old tables, or from the archived backup


CASES = {
    "site 1": Case(1, "subdirectory", "swap", keep_old=True),
    "subdirectory site": Case(2, "subdirectory", "copy", keep_old=False),
    "domain-mapped site": Case(3, "subdirectory", "swap", keep_old=False),
    "subdomain site": Case(2, "subdomain", "copy", keep_old=True),
}


@dataclass
class Pair:
    """prod and pprd of one kind, and `want`: prod's sites generated with pprd's hosts."""

    prod: MessyNetwork
    pprd: MessyNetwork
    want: MessyNetwork


@dataclass
class World:
    """The server, the networks of each kind, every database made (dropped at the end), and what each
    pprd held when it was made."""

    server: MariaDBServer
    pairs: dict[str, Pair]
    made: list[str]
    pristine: dict[str, Snapshot] = field(default_factory=dict)

    def database(self, stem: str) -> str:
        name = f"wfuwp_messy_{stem}_{uuid.uuid4().hex[:8]}"
        self.made.append(name)
        return name

    def generate(
        self, stem: str, env: str, kind: str, *, stale: bool = False, database: str | None = None
    ) -> MessyNetwork:
        conn = self.server.connect()
        try:
            return generate_messy(conn, database or self.database(stem), env, kind=kind, stale=stale)
        finally:
            conn.close()

    def reset(self) -> None:
        """Make each pprd again if a test left it changed, so that one failure does not cascade."""
        for kind, pair in self.pairs.items():
            if snapshot(self.server, pair.pprd.database) != self.pristine[kind]:
                drop_database(self.server, pair.pprd.database)
                self.generate("", "pprd", kind, stale=True, database=pair.pprd.database)


@pytest.fixture(scope="module")
def world(mariadb: MariaDBServer) -> Iterator[World]:
    made: list[str] = []
    world = World(mariadb, {}, made)
    try:
        for kind in ("subdirectory", "subdomain"):
            world.pairs[kind] = Pair(
                prod=world.generate(f"{kind[:3]}_prod", "prod", kind),
                pprd=world.generate(f"{kind[:3]}_pprd", "pprd", kind, stale=True),
                want=world.generate(f"{kind[:3]}_want", "pprd", kind),
            )
            world.pristine[kind] = snapshot(mariadb, world.pairs[kind].pprd.database)
        yield world
    finally:
        for name in made:
            drop_database(mariadb, name)


@pytest.fixture(autouse=True)
def pristine_targets(world: World) -> Iterator[None]:
    yield
    world.reset()


# -- what the target holds ------------------------------------------------------------------------------


def foreign_keys(server: MariaDBServer, database: str) -> set[tuple[str, str, str]]:
    """(table, constraint, parent table) of every foreign key in `database`."""
    rows = fetch(
        server,
        database,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME"
        f" FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{database}'",
    )
    return {(t.decode(), n.decode(), p.decode()) for t, n, p in rows}


def triggers(server: MariaDBServer, database: str) -> set[tuple[str, str]]:
    """(trigger, table) of every trigger in `database`."""
    rows = fetch(
        server,
        database,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS"
        f" WHERE TRIGGER_SCHEMA = '{database}'",
    )
    return {(n.decode(), t.decode()) for n, t in rows}


def snapshot(server: MariaDBServer, database: str) -> Snapshot:
    """Everything the invariants compare: checksums of every table, foreign keys, triggers."""
    return checksums(server, database), foreign_keys(server, database), triggers(server, database)


def option(server: MariaDBServer, database: str, prefix: str, name: str) -> str:
    rows = fetch(server, database, f"SELECT option_value FROM {prefix}options WHERE option_name = '{name}'")
    return bytes(rows[0][0]).decode()


def assert_sound(server: MariaDBServer, database: str, net: MessyNetwork) -> None:
    """No work tables or triggers left; every foreign key is the network's own, between live tables."""
    names = set(table_names(server, database))
    assert not [n for n in names if n.startswith("_wf")]
    assert foreign_keys(server, database) == net.foreign_keys
    for table, _name, parent in foreign_keys(server, database):
        assert table in names and parent in names, "a foreign key references a table that is gone"
    # Triggers under their live names, none under a work name.
    assert triggers(server, database) == net.triggers


def assert_migrated(world: World, case: Case, database: str, before: Snapshot) -> None:
    """`database` holds prod's site on pprd's hosts, and everything else as it was (`before`)."""
    pair, server = world.pairs[case.kind], world.server
    site, target_site = pair.prod.site(case.site_id), pair.want.site(case.site_id)
    own = pair.prod.site_tables[case.site_id]
    after = checksums(server, database)
    want = checksums(server, pair.want.database)
    # The site: prod's rows, each URL on the target's host (the expected rows come from the generator
    # run with pprd's hosts, not from the replacer).
    assert {t: after.get(t) for t in own} == {t: want[t] for t in own}
    assert option(server, database, site.prefix, "siteurl") == target_site.url
    assert option(server, database, site.prefix, "home") == target_site.url
    assert "pprd.pprd" not in option(server, database, site.prefix, "wfuwp_links")
    # Everything else, byte for byte: the network tables and their target-only users, the second
    # network, Cavalcade's and Stream's rows of every site, the other sites, the target-only tables.
    assert {t: v for t, v in after.items() if t not in own} == {
        t: v for t, v in before[0].items() if t not in own
    }
    if case.kind == "subdirectory":
        for table, login in TARGET_ONLY_USERS.items():
            assert fetch(server, database, f"SELECT user_login FROM {table} WHERE ID = 2") == [
                (login.encode(),)
            ]
        jobs = fetch(server, database, "SELECT site FROM wp_cavalcade_jobs ORDER BY site")
        assert [int(s) for (s,) in jobs] == [1, 2, 3, 4]
    assert_sound(server, database, pair.pprd)


def assert_as_before(world: World, database: str, before: Snapshot) -> None:
    """Every table, foreign key and trigger of `database` is what `before` saw."""
    now = snapshot(world.server, database)
    assert now[0] == before[0]
    assert now[1] == before[1]
    assert now[2] == before[2]


def move(world: World, case: Case, archive: Path, **kwargs: Any) -> wfuwp.MigrationReport:
    """`migrate_site(replacements=None)` of the case's site from prod to pprd."""
    pair = world.pairs[case.kind]
    return wfuwp.migrate_site(
        case.site_id,
        source=db_of(world.server, pair.prod.database, "prod"),
        target=db_of(world.server, pair.pprd.database, "pprd"),
        replacements=None,
        archive=archive,
        **kwargs,
    )


# -- migrate, import, restore ----------------------------------------------------------------------------


class DanglingForeignKey(AssertionError):
    """A live table's foreign key names a table that does not exist."""


def assert_no_dangling_keys(server: MariaDBServer, database: str) -> None:
    names = set(table_names(server, database))
    dangling = sorted(k for k in foreign_keys(server, database) if k[2] not in names)
    if dangling:
        raise DanglingForeignKey(f"foreign keys on tables that do not exist: {dangling}")


@pytest.mark.parametrize("name", list(CASES))
def test_migrate_then_restore_the_backup_then_import_into_a_fresh_copy(
    world: World, name: str, tmp_path: Path
) -> None:
    case, server = CASES[name], world.server
    pair = world.pairs[case.kind]
    target = db_of(server, pair.pprd.database, "pprd")
    before = snapshot(server, pair.pprd.database)
    report = move(world, case, tmp_path)
    assert report.status == "completed"
    assert sorted(t.name for t in report.tables) == sorted(pair.prod.site_tables[case.site_id])
    assert_migrated(world, case, pair.pprd.database, before)

    # The backup puts pprd back exactly as it was, keys and triggers included.
    restored = wfuwp.restore(report.migration_id, target, archive=tmp_path, which="backup")
    assert restored.status == "completed"
    assert_as_before(world, pair.pprd.database, before)

    # The migrated archive, object by object, into a fresh copy of pprd: another database is another
    # network, so only with force; then the copy holds what the migration wrote into pprd.
    fresh = world.generate("fresh", "pprd", case.kind, stale=True)
    fresh_before = snapshot(server, fresh.database)
    folder = ArchiveLocation.parse(tmp_path).migration(report.migration_id)
    objects = folder.objects_of("migrated")
    assert sorted(o.table for o in objects) == sorted(pair.prod.site_tables[case.site_id])
    with pytest.raises(NetworkMismatchError):
        import_sql(tmp_path / folder.folder / objects[0].name, db_of(server, fresh.database, "pprd"))
    assert_as_before(world, fresh.database, fresh_before)
    for obj in objects:
        loaded = import_sql(
            tmp_path / folder.folder / obj.name,
            db_of(server, fresh.database, "pprd"),
            site_id=case.site_id,
            force=True,
        )
        assert loaded.status == "completed"
    assert_no_dangling_keys(server, fresh.database)
    assert_migrated(world, case, fresh.database, fresh_before)


# -- rollback --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_migrate_then_rollback(world: World, name: str, tmp_path: Path) -> None:
    case, server = CASES[name], world.server
    keep_old = case.keep_old
    pair = world.pairs[case.kind]
    before = snapshot(server, pair.pprd.database)
    report = move(world, case, tmp_path, keep_old=keep_old)
    assert report.status == "completed"
    if not keep_old:
        assert_migrated(world, case, pair.pprd.database, before)
    back = wfuwp.rollback(report.migration_id, db_of(server, pair.pprd.database, "pprd"), archive=tmp_path)
    assert back.status == "completed"
    assert_as_before(world, pair.pprd.database, before)


# -- killed with SIGKILL, then resumed -------------------------------------------------------------------

# A migration in its own process that kills itself: after its first table is copied, or once its
# swap's RENAME is recorded as done.
KILLED = """
import json, os, signal, sys
import wfuwp
args = json.loads(sys.argv[1])
def progress(event):
    copied = event.kind == "table-end" and event.step == "copy"
    swapped = event.kind == "state" and event.message == "swapped"
    if (args["at"] == "copy" and copied) or (args["at"] == "swap" and swapped):
        os.kill(os.getpid(), signal.SIGKILL)
wfuwp.migrate_site(args["site"], source=args["source"], target=args["target"], replacements=None,
                   archive=args["archive"], progress=progress)
"""


@pytest.mark.parametrize("name", list(CASES))
def test_killed_mid_run_then_resumed(world: World, name: str, tmp_path: Path) -> None:
    case, server = CASES[name], world.server
    pair = world.pairs[case.kind]
    before = snapshot(server, pair.pprd.database)
    args = {
        "site": case.site_id,
        "source": server.dsn(pair.prod.database),
        "target": server.dsn(pair.pprd.database),
        "archive": str(tmp_path),
        "at": case.kill_at,
    }
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", KILLED, json.dumps(args)],
        env=dict(os.environ, PYTHONPATH=str(root)),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    (killed,) = ArchiveLocation.parse(tmp_path).list_migrations()
    report = move(world, case, tmp_path, resume=killed.id)
    assert report.status == "completed"
    assert_migrated(world, case, pair.pprd.database, before)
    wfuwp.rollback(report.migration_id, db_of(server, pair.pprd.database, "pprd"), archive=tmp_path)
    assert_as_before(world, pair.pprd.database, before)


# -- the CLI's plan, and WordPress reading the result ----------------------------------------------------


@pytest.mark.skipif(not wordpress_available(), reason="Debian's wordpress and php are not installed")
def test_cli_migrates_the_domain_mapped_site_and_wordpress_serves_it(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, server = CASES["domain-mapped site"], world.server
    pair = world.pairs[case.kind]
    before = snapshot(server, pair.pprd.database)
    source_url, target_url = pair.prod.site(3).url, pair.want.site(3).url

    config = tmp_path / "cfg" / "config.json"
    write_config(config, server, {"prod": pair.prod.database, "pprd": pair.pprd.database}, None)
    env = Env(server, pair.prod.database, pair.pprd.database, "", config, tmp_path / "work")
    # The plan of site 1 says which tables it takes and why it leaves the rest.
    code, out, err = env.run(capsys, "migrate", "plan", "1", "--from", "prod", "--to", "pprd")
    assert code == 0, err
    for line in (
        "in  wp_wc_download_log: has a per-site twin (wp_2_wc_download_log)",
        "in  wp_betterlinks_password: has a per-site twin (wp_2_betterlinks_password)",
        "out wp_cavalcade_jobs: network-wide plugin table (Cavalcade)",
        "out wp_stream: network-wide plugin table (Stream)",
        "out wp_second_users: another network or site's table (prefix wp_second_)",
        "out wp_users: network table: shared by every site",
    ):
        assert line in [text.strip() for text in out.splitlines()], line
    code, out, err = env.run(capsys, "migrate", "3", "--from", "prod", "--to", "pprd", "--yes",
                             "--work-dir", str(env.work))  # fmt: skip
    assert code == 0, err
    assert f"prod -> pprd: {source_url}/ -> {target_url}/" in out
    assert_migrated(world, case, pair.pprd.database, before)

    # WordPress, asked for the pprd URL, finds site 3 there and everything it says is on pprd's host.
    # (Booted last: WordPress writes options of its own, cron and widgets, into the site it serves.)
    after = read_site(Network(server, pair.pprd.database, pair.pprd.domain), target_url + "/")
    assert after["blog_id"] == 3
    assert after["siteurl"] == after["home"] == target_url
    assert after["broken_options"] == []
    assert {"wfuwp_links", "widget_text"} <= set(after["serialized_options"])
    assert after["wfuwp_links"] == {"home": target_url + "/", "about": target_url + "/about/", "n": 3}
    assert after["permalinks"] == {"1": f"{target_url}/2024/03/news/", "2": f"{target_url}/about/"}
