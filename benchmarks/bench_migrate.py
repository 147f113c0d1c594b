"""Time a whole-site migration against the dump-and-load baseline, in the same run.

    python -m benchmarks.bench_migrate --size 1GB [--s3] [--workers 2]   # from the repository root

Generates site 43 of about --size bytes once (kept in database `wfuwp_bench_src_<size>` for later runs),
then times (a) `mariadb-dump --single-transaction <site tables> | mariadb target` and (b) `migrate_site`
with archive and verification on, in a child process whose peak RSS is measured. With --s3 it also
runs (b) against a local S3-compatible server (moto) and prints its ratio to the local-archive run.
Prints the times, the ratio b/a, MB/s and the peak RSS. Targets: ratio <= 1.0, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devtools.netgen import generate_network, parse_size
from devtools.sandbox import MariaDBServer

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys, json, time, resource
import wfuwp
from wfuwp.archive.location import ArchiveLocation
args = json.loads(sys.argv[1])
archive = args["archive"]
if archive.startswith("s3://"):
    archive = ArchiveLocation.parse(archive, endpoint_url=args["endpoint_url"])
start = time.monotonic()
report = wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                            archive=archive, workers=args["workers"])
seconds = time.monotonic() - start
print(json.dumps({"seconds": seconds, "rows": report.rows, "bytes": report.bytes_read,
                  "replacements": report.replacements, "driver": wfuwp.DRIVER, "core": wfuwp.IMPLEMENTATION,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def sql(server: MariaDBServer, *statements: str) -> list[tuple[object, ...]]:
    conn = server.connect()
    try:
        cur = conn.cursor()
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur.execute(statement)
            if cur.with_rows:
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


def ensure_source(server: MariaDBServer, size: int) -> tuple[str, list[str], list[tuple[str, str]]]:
    """The generated source database (made once per size), its site-43 tables and the pairs to apply."""
    database = f"wfuwp_bench_src_{size >> 20}mb"
    exists = sql(server, f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}'"
                 " AND TABLE_NAME = 'wfuwp_bench_done'")[0][0]  # fmt: skip
    network_kwargs = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
    }
    if not exists:
        print(f"generating {size >> 20} MB site in {database} (once) ...", flush=True)
        started = time.monotonic()
        sql(server, f"DROP DATABASE IF EXISTS `{database}`")
        generate_network(network_kwargs, database, sites=(1, 43), size_bytes=size, big_row_bytes=2 << 20)
        sql(server, f"CREATE TABLE `{database}`.wfuwp_bench_done (x INT)")
        print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
    tables = [
        str(r[0])
        for r in sql(
            server,
            f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}' "
            "AND TABLE_NAME LIKE 'wp\\_43\\_%'",
        )
    ]
    pairs = [("https://www.example.edu", "https://pprd.example.edu"), ("http://www.example.edu", "http://pprd.example.edu"),
             ("www.example.edu", "pprd.example.edu")]  # fmt: skip
    return database, tables, pairs


def fresh_database(server: MariaDBServer, name: str) -> str:
    sql(server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def baseline(server: MariaDBServer, source: str, tables: list[str]) -> float:
    target = fresh_database(server, "wfuwp_bench_baseline")
    conn = ["-uroot", f"-h{server.host}", f"-P{server.port}"]
    started = time.monotonic()
    dump = subprocess.Popen(
        ["mariadb-dump", *conn, "--single-transaction", source, *tables], stdout=subprocess.PIPE
    )
    subprocess.run(["mariadb", *conn, target], stdin=dump.stdout, check=True)
    if dump.wait() != 0:
        raise SystemExit("mariadb-dump failed")
    seconds = time.monotonic() - started
    sql(server, f"DROP DATABASE `{target}`")
    return seconds


def run_wfuwp(server: MariaDBServer, source: str, pairs: list[tuple[str, str]], archive: str,
              endpoint_url: str | None, workers: int) -> dict[str, float]:  # fmt: skip
    import json

    target = fresh_database(server, "wfuwp_bench_target")
    args = {
        "source": server.dsn(source), "target": server.dsn(target), "pairs": pairs, "archive": archive,
        "endpoint_url": endpoint_url, "workers": workers,
    }  # fmt: skip
    env = dict(os.environ)
    preload = subprocess.run([sys.executable, str(ROOT / "scripts" / "driver_preload.py")],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(f"wfuwp run failed:\n{out.stderr[-3000:]}")
    sql(server, f"DROP DATABASE `{target}`")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1GB", help="site size to generate (e.g. 200MB, 1GB, 10GB)")
    parser.add_argument("--s3", action="store_true", help="also archive to a local S3-compatible server")
    parser.add_argument("--workers", type=int, default=2, help="tables read at once")
    parser.add_argument(
        "--drop-source", action="store_true", help="drop the generated source database at the end"
    )
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    server = MariaDBServer()
    if not server.answers():
        base = Path(tempfile.mkdtemp(prefix="wfuwp-bench-"))
        server = MariaDBServer.start(base)
    source, tables, pairs = ensure_source(server, size)
    archive_dir = tempfile.mkdtemp(prefix="wfuwp-bench-archive-")
    try:
        base_s = baseline(server, source, tables)
        ours = run_wfuwp(server, source, pairs, archive_dir, None, args.workers)
        print()
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"MariaDB {sql(server, 'SELECT VERSION()')[0][0]}; "
              f"core {ours['core']}, driver {ours['driver']}")  # fmt: skip
        mb = ours["bytes"] / 1e6
        print(f"site: {len(tables)} tables, {int(ours['rows'])} rows, {mb:.0f} MB of values, "
              f"{int(ours['replacements'])} replacements")  # fmt: skip
        print(f"{'run':<44}{'seconds':>9}{'MB/s':>9}{'ratio':>8}{'peak RSS':>11}")
        print(f"{'(a) mariadb-dump | mariadb':<44}{base_s:>9.1f}{mb / base_s:>9.1f}{'1.00':>8}{'':>11}")
        print(f"{'(b) migrate_site, local archive, verified':<44}{ours['seconds']:>9.1f}"
              f"{mb / ours['seconds']:>9.1f}{ours['seconds'] / base_s:>8.2f}"
              f"{ours['rss_mb']:>8.0f} MB")  # fmt: skip
        if args.s3:
            from devtools.s3server import S3Server

            for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                                ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
                os.environ.setdefault(name, value)
            s3 = S3Server()
            s3.start()
            try:
                s3.client().create_bucket(Bucket="bench")
                on_s3 = run_wfuwp(server, source, pairs, "s3://bench/wp", s3.endpoint_url, args.workers)
            finally:
                s3.stop()
            print(f"{'(c) migrate_site, S3 archive, verified':<44}{on_s3['seconds']:>9.1f}"
                  f"{mb / on_s3['seconds']:>9.1f}{on_s3['seconds'] / base_s:>8.2f}"
                  f"{on_s3['rss_mb']:>8.0f} MB")  # fmt: skip
            print(f"S3 archive vs local archive: {on_s3['seconds'] / ours['seconds']:.2f}x")
    finally:
        shutil.rmtree(archive_dir, ignore_errors=True)
        if args.drop_source:
            sql(server, f"DROP DATABASE `{source}`")
        else:
            print(f"(the generated source stays in {source} for the next run; --drop-source drops it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
