"""Time only the target server's ingest of one table: INSERTs against LOAD DATA, indexes before or after.

    python -m benchmarks.bench_ingest --size 100MB --table wp_43_postmeta [--rounds 3]   # from the repo root

Reads the table of the source bench_migrate generated (`wfuwp_bench_src_<size>`; run bench_migrate
first), renders its rows once in memory (both formats, the replacement applied), then loads them into a
fresh staging-like table through `wfuwp.mysql.loader.Loader`, as a migration does, in four ways, the
ways alternating over `--rounds`: multi-row INSERTs or LOAD DATA LOCAL, with the table's plain secondary
indexes created before the load or added after it (one ALTER TABLE). Prints the median seconds of each
way (rendering excluded: this is the server's part). Keep the machine otherwise quiet if you can; on a
shared one, compare the ways within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from devtools.netgen import parse_size
from devtools.sandbox import MariaDBServer
from wfuwp.mysql.connection import Database, closing, execute, prepare_copy_session
from wfuwp.mysql.loader import Loader
from wfuwp.mysql.schema import describe_tables
from wfuwp.mysql.source import stream_rows
from wfuwp.mysql.sql import create_table_as, insert_prefix
from wfuwp.replace import Replacer, Rule


def defer_secondary_keys(create_sql: str) -> tuple[str, list[str]]:
    """`create_sql` (SHOW CREATE TABLE's layout) without its plain `KEY` lines, and those lines."""
    lines = create_sql.split("\n")
    close = next((i for i, line in enumerate(lines) if i and line.startswith(")")), None)
    if close is None or "FOREIGN KEY" in create_sql:
        return create_sql, []
    body = [line.rstrip(",") for line in lines[1:close]]
    keys = [line.strip() for line in body if line.startswith("  KEY `")]
    if not keys:
        return create_sql, []
    kept = [line for line in body if not line.startswith("  KEY `")]
    return "\n".join([lines[0], ",\n".join(kept), *lines[close:]]), keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="100MB")
    parser.add_argument("--table", default="wp_43_postmeta")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server = MariaDBServer()
    source = Database.from_dsn(server.dsn(f"wfuwp_bench_src_{parse_size(args.size) >> 20}mb"))
    target_name = f"wfuwp_bench_ingest_{os.getpid()}"
    with closing(server.connect()) as conn:
        execute(conn, f"DROP DATABASE IF EXISTS {target_name}")
        execute(conn, f"CREATE DATABASE {target_name}")
    target = Database.from_dsn(server.dsn(target_name))
    replacer = Replacer([Rule(b"www.example.edu", b"pprd.example.edu")])
    with closing(source.connect()) as conn:
        prepare_copy_session(conn, reading=True)
        (table,) = describe_tables(conn, source.database, [args.table])
        inserts: list[bytes] = []
        loads: list[bytes] = []
        for batch in stream_rows(conn, source.database, table):
            chunks, _o, _c, _s, rows = replacer.render_rows_and_load(batch, table.kinds)
            inserts += [insert_prefix("t", table.column_names) + c for c in chunks]
            loads += rows
    megabytes = sum(len(x) for x in loads) / 1e6
    create = create_table_as(table.create_sql, "t")
    without_keys, keys = defer_secondary_keys(create)
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for way in ("INSERT, indexes first", "LOAD DATA, indexes first", "INSERT, indexes after",
                    "LOAD DATA, indexes after"):  # fmt: skip
            after = way.endswith("after") and bool(keys)
            with closing(target.connect()) as conn:
                execute(conn, "DROP TABLE IF EXISTS t")
                execute(conn, without_keys if after else create)
            started = time.monotonic()
            with Loader(target, 1, load_data=way.startswith("LOAD")) as loader:
                statement = loader.load_statement("t", table.column_names)
                for insert, rows in zip(inserts, loads, strict=True):
                    if way.startswith("LOAD"):
                        loader.send_load(statement, rows, insert)
                    else:
                        loader.send(insert)
                loader.flush()
                if loader.load_refused and way.startswith("LOAD"):
                    raise SystemExit(f"LOAD DATA refused: {loader.load_refused}")
            if after:
                with closing(target.connect()) as conn:
                    execute(conn, "ALTER TABLE t " + ", ".join(f"ADD {k}" for k in keys))
            times.setdefault(way, []).append(time.monotonic() - started)
    print(f"{args.table}: {table.rows_estimate} rows (estimate), {megabytes:.0f} MB as LOAD DATA, "
          f"{len(keys)} plain secondary indexes; median of {args.rounds} rounds (all rounds)")  # fmt: skip
    base = statistics.median(times["INSERT, indexes first"])
    for way, seconds in times.items():
        median = statistics.median(seconds)
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"  {way:<28}{median:>7.2f} s  {median / base:>5.2f}x   ({runs})")
    with closing(server.connect()) as conn:
        execute(conn, f"DROP DATABASE {target_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
