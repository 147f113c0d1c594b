"""Time an environment refresh (`migrate_network`) at several --parallel against dump-and-load.

    python -m benchmarks.bench_env [--sites 12] [--rows-scale 40] [--parallel 1,2,4]   # from the repo root

Generates a network of --sites sites once (kept in `wfuwp_bench_env_src_<sites>x<scale>` for later runs),
then for each --parallel value: (a) loads the whole source database into the target with
`mariadb-dump --single-transaction | mariadb` (which also gives the refresh a target network to
replace), and (b) refreshes that target from the source with `migrate_network` (archives, backups and
verification on) in a child process. Prints seconds, MB/s, the ratio b/a, the tool's CPU seconds per GB
and the MariaDB server's CPU seconds per GB (from /proc, when the server is a local process) for each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_migrate import child_env
from devtools.netgen import generate_network
from devtools.sandbox import MariaDBServer, sql

ROOT = Path(__file__).resolve().parent.parent
SOURCE_HOST, TARGET_HOST = "www.example.edu", "pprd.example.edu"

CHILD = """
import sys, json, time, resource
import wfuwp
args = json.loads(sys.argv[1])
source = wfuwp.Database.from_dsn(args["source"], name="prod")
target = wfuwp.Database.from_dsn(args["target"], name="pprd")
start = time.monotonic()
report = wfuwp.migrate_network(source=source, target=target, replacements=args["pairs"],
                               archive=args["archive"], parallel=args["parallel"])
seconds = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
rows = [o for o in (report.network, *report.sites)]
print(json.dumps({"seconds": seconds, "status": report.status, "failed": [o.name for o in report.failed],
                  "rows": sum(o.rows for o in rows), "bytes": sum(o.bytes for o in rows),
                  "replacements": sum(o.replacements for o in rows), "sites": len(report.sites),
                  "cpu": usage.ru_utime + usage.ru_stime, "driver": wfuwp.DRIVER,
                  "core": wfuwp.IMPLEMENTATION}))
"""


def server_cpu(pid: int | None = None) -> float | None:
    """CPU seconds mariadbd has used so far: process `pid`, else every local mariadbd (None: none to read)."""
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    procs = [Path(f"/proc/{pid}")] if pid is not None else list(Path("/proc").iterdir())
    for proc in procs:
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in ("mariadbd", "mysqld"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        found = True
    return total if found else None


def ensure_source(server: MariaDBServer, sites: int, scale: float) -> str:
    database = f"wfuwp_bench_env_src_{sites}x{int(scale)}"
    done = sql(server, f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}'"
               " AND TABLE_NAME = 'wfuwp_bench_done'")[0][0]  # fmt: skip
    if not done:
        print(f"generating {sites} sites in {database} (once) ...", flush=True)
        started = time.monotonic()
        sql(server, f"DROP DATABASE IF EXISTS `{database}`")
        ids = (1, 43, 430, *range(2, 2 + max(0, sites - 3)))[:sites]
        generate_network(server.connect_kwargs(), database, sites=ids, rows_scale=scale, big_row_bytes=0)
        sql(server, f"CREATE TABLE `{database}`.wfuwp_bench_done (x INT)")
        print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
    return database


def _pid(server: MariaDBServer) -> int | None:
    process = getattr(server, "process", None)
    return process.pid if process is not None else None


def baseline(server: MariaDBServer, source: str, target: str) -> tuple[float, float | None]:
    """Load the whole source database into a fresh `target`; return (seconds, server CPU seconds)."""
    sql(server, f"DROP DATABASE IF EXISTS `{target}`", f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4")
    conn = [f"-u{server.user}", f"-h{server.host}", f"-P{server.port}"]
    cpu, started = server_cpu(_pid(server)), time.monotonic()
    dump = subprocess.Popen(
        [
            "mariadb-dump",
            *conn,
            "--single-transaction",
            source,
            "--ignore-table",
            f"{source}.wfuwp_bench_done",
        ],
        stdout=subprocess.PIPE,
    )
    subprocess.run(["mariadb", *conn, target], stdin=dump.stdout, check=True)
    if dump.wait() != 0:
        raise SystemExit("mariadb-dump failed")
    seconds, after = time.monotonic() - started, server_cpu(_pid(server))
    return seconds, (after - cpu) if cpu is not None and after is not None else None


def refresh(
    server: MariaDBServer, source: str, target: str, parallel: int, archive: str
) -> dict[str, object]:
    args = {
        "source": server.dsn(source), "target": server.dsn(target), "archive": archive, "parallel": parallel,
        "pairs": [(f"https://{SOURCE_HOST}", f"https://{TARGET_HOST}"),
                  (f"http://{SOURCE_HOST}", f"http://{TARGET_HOST}"), (SOURCE_HOST, TARGET_HOST)],
    }  # fmt: skip
    env = child_env()
    cpu = server_cpu(_pid(server))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env
    )
    after = server_cpu(_pid(server))
    if out.returncode != 0:
        raise SystemExit(f"wfuwp run failed:\n{out.stderr[-3000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = (after - cpu) if cpu is not None and after is not None else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=12, help="sites in the generated network (>= 3)")
    parser.add_argument("--rows-scale", type=float, default=40, help="netgen rows_scale of every site")
    parser.add_argument("--parallel", default="1,2,4", help="comma-separated --parallel values to time")
    parser.add_argument("--drop-source", action="store_true", help="drop the generated source at the end")
    parser.add_argument(
        "--private-server",
        action="store_true",
        help="run on a private mariadbd, so that its CPU is this benchmark's alone (else the server at "
        "127.0.0.1:3306, and the server CPU column counts every local mariadbd)",
    )
    args = parser.parse_args(argv)
    server = MariaDBServer()
    private = args.private_server or not server.answers()
    datadir = Path(tempfile.mkdtemp(prefix="wfuwp-bench-env-")) if private else None
    if datadir is not None:
        server = MariaDBServer.start(datadir)
    source = ensure_source(server, max(3, args.sites), args.rows_scale)
    target = "wfuwp_bench_env_target"
    lines = []
    try:
        for parallel in [int(p) for p in args.parallel.split(",")]:
            base_s, base_cpu = baseline(server, source, target)
            archive = tempfile.mkdtemp(prefix="wfuwp-bench-env-archive-")
            try:
                ours = refresh(server, source, target, parallel, archive)
            finally:
                shutil.rmtree(archive, ignore_errors=True)
            lines.append((parallel, base_s, base_cpu, ours))
            print(
                f"--parallel {parallel}: dump|load {base_s:.1f} s, refresh {ours['seconds']:.1f} s",
                flush=True,
            )
    finally:
        sql(server, f"DROP DATABASE IF EXISTS `{target}`")
        if args.drop_source:
            sql(server, f"DROP DATABASE IF EXISTS `{source}`")
        version = sql(server, "SELECT VERSION()")[0][0]
        if datadir is not None:
            server.stop()
            shutil.rmtree(datadir, ignore_errors=True)  # the generated network goes with the server
    first = lines[0][3]
    gb = float(first["bytes"]) / 1e9  # type: ignore[arg-type]
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with other "
        f"work); MariaDB {version}{' (private)' if private else ''}; core {first['core']}, "
        f"driver {first['driver']}"
    )
    print(
        f"network: {first['sites']} sites + the network tables, {first['rows']:,} rows, "
        f"{gb * 1000:.0f} MB of values, {first['replacements']:,} replacements"
    )
    print(f"{'run':<34}{'seconds':>9}{'MB/s':>8}{'ratio':>8}{'tool CPU s/GB':>15}{'server CPU s/GB':>17}")

    def cpu(value: object) -> str:
        return f"{float(value) / gb:>17.0f}" if isinstance(value, (int, float)) else f"{'-':>17}"

    for parallel, base_s, base_cpu, ours in lines:
        seconds = float(ours["seconds"])  # type: ignore[arg-type]
        print(
            f"{'(a) mariadb-dump | mariadb':<34}{base_s:>9.1f}{gb * 1000 / base_s:>8.1f}{'1.00':>8}"
            f"{'-':>15}{cpu(base_cpu)}"
        )
        failed = f" FAILED {ours['failed']}" if ours["failed"] else ""
        print(
            f"{f'(b) migrate_network --parallel {parallel}':<34}{seconds:>9.1f}{gb * 1000 / seconds:>8.1f}"
            f"{seconds / base_s:>8.2f}{float(ours['cpu']) / gb:>15.0f}{cpu(ours['server_cpu'])}{failed}"
        )  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
