"""Time a whole-site migration against the tools a user would pick instead, all in the same run.

    python -m benchmarks.bench_migrate --size 250MB [--slow-link 10] [--s3]   # from the repository root

Generates site 43 of about --size bytes once with netgen's realistic mix (long HTML posts, serialized
options, blobs, a latin1 table, big rows, many small tables; kept in `wfuwp_bench_src_<size>` for later
runs), then times, one after the other on the same server:

1. `INSERT INTO t SELECT * FROM src.t`, two tables at a time: the server copying the tables itself,
   the bound of what the server can ingest (no client, no network, no replacement);
2. `mydumper -t 2` + `myloader -t 2` (files on disk, no replacement);
3. `mariadb-dump --single-transaction | mariadb` (no replacement);
4. `mariadb-dump | <replacer> | mariadb`: go-search-replace when it is on PATH, else a Python stream
   replacer of this benchmark's own (`bytes.replace` per dump line; it does NOT fix serialized lengths,
   so it costs less than a correct tool would);
5. `wfuwp.migrate_site` without an archive (verification always runs);
6. `wfuwp.migrate_site` complete: target backup + source and migrated archives (zstd) + verification.

Prints the table, the two ratios the goal is stated in (6 against 2, 6 against 1) and the peak RSS of
each contender's processes (for wfuwp, the process that runs the migration). `--slow-link MS` then puts
a TCP proxy of the benchmark's own between the tools and the SOURCE server, adding MS ms to every round
trip (MS/2 each way), and times 3 and 6 through it. `--s3` also runs 6 against a local S3-compatible
server (moto). mydumper comes from Debian (`scripts/ensure-system-deps` installs it); without it, row 2
says so and the first ratio is not printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devtools.netgen import generate_network, parse_size
from devtools.sandbox import MariaDBServer, sql

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys, json, time, resource
import wfuwp
from wfuwp.archive.location import ArchiveLocation
args = json.loads(sys.argv[1])
archive = args["archive"]
if archive and archive.startswith("s3://"):
    archive = ArchiveLocation.parse(archive, endpoint_url=args["endpoint_url"])
start = time.monotonic()
report = wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                            archive=archive, workers=args["workers"], load_data=args["load_data"])
seconds = time.monotonic() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": report.rows, "bytes": report.bytes_read,
                  "replacements": report.replacements, "driver": wfuwp.DRIVER, "core": wfuwp.IMPLEMENTATION,
                  "notes": report.skipped, "rss_mb": rss_mb}))
"""

# The Python stream replacer of contender 4 (used when go-search-replace is not installed).
REPLACER = """
import sys
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    for search, replace in pairs:
        if search in line:
            line = line.replace(search, replace)
    out.write(line)
"""


def child_env() -> dict[str, str]:
    """The environment for a timed child process: the driver's C extension preloaded, as `make test` does."""
    env = dict(os.environ)
    preload = subprocess.run([sys.executable, str(ROOT / "scripts" / "driver_preload.py")],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    if preload:
        env["LD_PRELOAD"] = preload
    return env


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
    rows = sql(
        server,
        f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}' "
        "AND TABLE_NAME LIKE 'wp\\_43\\_%' ORDER BY DATA_LENGTH DESC",
    )
    tables = [str(r[0]) for r in rows]
    pairs = [("https://www.example.edu", "https://pprd.example.edu"), ("http://www.example.edu", "http://pprd.example.edu"),
             ("www.example.edu", "pprd.example.edu")]  # fmt: skip
    return database, tables, pairs


def fresh_database(server: MariaDBServer, name: str) -> str:
    sql(server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def login(server: MariaDBServer, port: int | None = None) -> list[str]:
    """Client arguments for the server (root with an empty password: nothing secret in them)."""
    return [f"--user={server.user}", f"--host={server.host}", f"--port={port or server.port}"]


def run_pipeline(commands: list[list[str]]) -> float:
    """Run `commands` as a shell-less pipeline; return the peak RSS in MB of its largest process."""
    procs: list[subprocess.Popen[bytes]] = []
    previous = None
    for index, command in enumerate(commands):
        last = index == len(commands) - 1
        proc = subprocess.Popen(command, stdin=previous, stdout=None if last else subprocess.PIPE)
        if previous is not None:
            previous.close()  # the next process holds it now
        previous = proc.stdout
        procs.append(proc)
    peak = 0.0
    failed = []
    for proc in procs:
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = max(peak, usage.ru_maxrss / 1024)
        if proc.returncode != 0:
            failed.append(proc.args)
    if failed:
        raise SystemExit(f"failed: {failed}")
    return peak


def timed(run: Callable[[], float]) -> tuple[float, float]:
    started = time.monotonic()
    rss = run()
    return time.monotonic() - started, rss


def server_copy(server: MariaDBServer, source: str, tables: list[str], workers: int,
                target: str = f"wfuwp_bench_server_copy_{os.getpid()}",
                keep: bool = False) -> tuple[float, float]:  # fmt: skip
    """Contender 1: INSERT ... SELECT inside the server, `workers` tables at a time (into a fresh
    `target`, dropped afterwards unless `keep`)."""
    fresh_database(server, target)
    pending = list(tables)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        conn = server.connect()
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            while True:
                with lock:
                    if not pending:
                        return
                    table = pending.pop(0)
                cur.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
                cur.execute(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND "
                    "TABLE_NAME = %s AND IS_GENERATED = 'NEVER' ORDER BY ORDINAL_POSITION",
                    (source, table),
                )
                columns = ", ".join(f"`{c}`" for (c,) in cur.fetchall())  # generated ones are computed
                cur.execute(f"INSERT INTO `{target}`.`{table}` ({columns}) "
                            f"SELECT {columns} FROM `{source}`.`{table}`")  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    def run() -> float:
        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return 0.0

    result = timed(run)
    if not keep:
        sql(server, f"DROP DATABASE `{target}`")
    return result


def mydumper_myloader(server: MariaDBServer, source: str, tables: list[str]) -> tuple[float, float] | None:
    """Contender 2: mydumper -t 2 into a folder, then myloader -t 2 from it; None when not installed."""
    if not (shutil.which("mydumper") and shutil.which("myloader")):
        return None
    target = fresh_database(server, f"wfuwp_bench_myloader_{os.getpid()}")
    folder = tempfile.mkdtemp(prefix="wfuwp-bench-mydumper-")
    tables_list = ",".join(tables)  # mydumper 0.10 takes bare names with -B
    try:

        def run() -> float:
            dump = run_pipeline([["mydumper", *login(server), "-t", "2", "-B", source, "-T", tables_list,
                                  "-o", folder]])  # fmt: skip
            load = run_pipeline([["myloader", *login(server), "-t", "2", "-d", folder, "-B", target, "-o"]])
            return max(dump, load)

        result = timed(run)
        loaded = sql(
            server, f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{target}'"
        )
        if int(loaded[0][0]) != len(tables):  # type: ignore[call-overload]
            raise SystemExit(f"myloader loaded {loaded[0][0]} tables of {len(tables)}")
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        sql(server, f"DROP DATABASE `{target}`")


def dump_load(server: MariaDBServer, source: str, tables: list[str], *, replacer: list[str] | None = None,
              source_port: int | None = None) -> tuple[float, float]:  # fmt: skip
    """Contenders 3 and 4: mariadb-dump --single-transaction [| replacer] | mariadb."""
    target = fresh_database(server, f"wfuwp_bench_dump_{os.getpid()}")
    commands = [["mariadb-dump", *login(server, source_port), "--single-transaction", source, *tables]]
    if replacer:
        commands.append(replacer)
    commands.append(["mariadb", *login(server), target])
    result = timed(lambda: run_pipeline(commands))
    sql(server, f"DROP DATABASE `{target}`")
    return result


def replacer_command(pairs: list[tuple[str, str]]) -> tuple[list[str], str]:
    """The search-replace tool of contender 4 and its name."""
    tool = shutil.which("go-search-replace")
    if tool:
        return [tool, *[x for pair in pairs for x in pair]], "go-search-replace"
    return [sys.executable, "-c", REPLACER, *[x for pair in pairs for x in pair]], "Python stream replacer"


def run_wfuwp(server: MariaDBServer, source: str, tables: list[str], pairs: list[tuple[str, str]],
              archive: str | None, endpoint_url: str | None, workers: int,
              source_port: int | None = None, load_data: bool = True) -> dict[str, object]:  # fmt: skip
    """Contenders 5 and 6: migrate_site in a child process (its peak RSS is its own).

    With an archive, the target first gets a copy of the site (not timed), so that the run has an old
    site to back up and replace, as a real migration does."""
    target = f"wfuwp_bench_target_{os.getpid()}"  # several benchmarks may share the server
    if archive:
        server_copy(server, source, tables, workers, target=target, keep=True)
    else:
        fresh_database(server, target)
    source_dsn = f"mysql://{server.user}@{server.host}:{source_port or server.port}/{source}"
    args = {
        "source": source_dsn, "target": server.dsn(target), "pairs": pairs, "archive": archive,
        "endpoint_url": endpoint_url, "workers": workers, "load_data": load_data,
    }  # fmt: skip
    env = child_env()
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env
    )
    wall = time.monotonic() - started
    if out.returncode != 0:
        raise SystemExit(f"wfuwp run failed:\n{out.stderr[-3000:]}")
    sql(server, f"DROP DATABASE `{target}`")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


class SlowLink:
    """A TCP proxy to (host, port) that delays every chunk by `delay_ms / 2` in each direction.

    It adds latency (each round trip takes `delay_ms` longer), not a bandwidth limit: a chunk is
    forwarded `delay_ms / 2` after it arrived, in order, whatever follows it.
    """

    def __init__(self, host: str, port: int, delay_ms: float) -> None:
        self.target = (host, port)
        self.delay = delay_ms / 2000.0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        import queue

        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            while True:
                try:
                    data = src.recv(1 << 20)
                except OSError:
                    data = b""
                chunks.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        def write() -> None:
            while True:
                due, data = chunks.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def row(name: str, seconds: float | None, mb: float, rss: float | None, note: str = "") -> str:
    if seconds is None:
        return f"{name:<58}{'—':>9}   {note}"
    rss_text = f"{rss:>8.0f} MB" if rss else f"{'':>11}"
    return f"{name:<58}{seconds:>9.1f}{mb / seconds:>9.1f}{rss_text}  {note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="250MB", help="site size to generate (e.g. 250MB, 1GB, 10GB)")
    parser.add_argument("--slow-link", type=float, default=0.0, metavar="MS",
                        help="also time wfuwp and mariadb-dump | mariadb with MS ms added per round trip "
                        "to the source")  # fmt: skip
    parser.add_argument("--s3", action="store_true", help="also archive to a local S3-compatible server")
    parser.add_argument("--workers", type=int, default=2, help="tables read at once (wfuwp, INSERT...SELECT)")
    parser.add_argument("--with-inserts", action="store_true",
                        help="also time 6 with load_data=False (INSERTs only)")  # fmt: skip
    parser.add_argument("--only", default="", help="comma-separated contender numbers to run (default all)")
    parser.add_argument(
        "--drop-source", action="store_true", help="drop the generated source database at the end"
    )
    args = parser.parse_args(argv)
    only = {int(x) for x in args.only.split(",") if x}
    size = parse_size(args.size)
    server = MariaDBServer()
    if not server.answers():
        base = Path(tempfile.mkdtemp(prefix="wfuwp-bench-"))
        server = MariaDBServer.start(base)
    source, tables, pairs = ensure_source(server, size)
    archive_dir = tempfile.mkdtemp(prefix="wfuwp-bench-archive-")
    replacer, replacer_name = replacer_command(pairs)
    results: dict[int, tuple[float, float] | None] = {}

    def wanted(n: int) -> bool:
        return not only or n in only

    try:
        if wanted(1):
            results[1] = server_copy(server, source, tables, args.workers)
        if wanted(2):
            results[2] = mydumper_myloader(server, source, tables)
        if wanted(3):
            results[3] = dump_load(server, source, tables)
        if wanted(4):
            results[4] = dump_load(server, source, tables, replacer=replacer)
        ours: dict[str, object] = {}
        if wanted(5):
            ours = run_wfuwp(server, source, tables, pairs, None, None, args.workers)
            results[5] = (float(ours["seconds"]), float(ours["rss_mb"]))  # type: ignore[arg-type]
        if wanted(6):
            ours = run_wfuwp(server, source, tables, pairs, archive_dir, None, args.workers)
            results[6] = (float(ours["seconds"]), float(ours["rss_mb"]))  # type: ignore[arg-type]
        inserts = None
        if args.with_inserts:
            by_insert = run_wfuwp(
                server, source, tables, pairs, archive_dir, None, args.workers, load_data=False
            )
            inserts = (float(by_insert["seconds"]), float(by_insert["rss_mb"]))  # type: ignore[arg-type]
        slow: dict[str, tuple[float, float]] = {}
        if args.slow_link:
            link = SlowLink(server.host, server.port, args.slow_link)
            try:
                slow["dump"] = dump_load(server, source, tables, source_port=link.port)
                full = run_wfuwp(server, source, tables, pairs, archive_dir, None, args.workers, link.port)
                slow["wfuwp"] = (float(full["seconds"]), float(full["rss_mb"]))  # type: ignore[arg-type]
            finally:
                link.close()
        on_s3 = None
        if args.s3:
            from devtools.s3server import S3Server

            for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                                ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
                os.environ.setdefault(name, value)
            s3 = S3Server()
            s3.start()
            try:
                s3.client().create_bucket(Bucket="bench")
                s3_run = run_wfuwp(
                    server, source, tables, pairs, "s3://bench/wp", s3.endpoint_url, args.workers
                )
                on_s3 = (float(s3_run["seconds"]), float(s3_run["rss_mb"]))  # type: ignore[arg-type]
            finally:
                s3.stop()

        print()
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"MariaDB {sql(server, 'SELECT VERSION()')[0][0]}"
              + (f"; core {ours['core']}, driver {ours['driver']}" if ours else ""))  # fmt: skip
        mb = float(ours["bytes"]) / 1e6 if ours else size / 1e6  # type: ignore[arg-type]
        if ours:
            print(f"site: {len(tables)} tables, {ours['rows']} rows, {mb:.0f} MB of values, "
                  f"{ours['replacements']} replacements")  # fmt: skip
            for note in ours.get("notes") or []:  # type: ignore[attr-defined]
                if "LOAD DATA" in note:
                    print(f"  note: {note}")
        names = {
            1: f"1 INSERT ... SELECT in the server, {args.workers} tables at once",
            2: "2 mydumper -t 2 + myloader -t 2 (no replace)",
            3: "3 mariadb-dump --single-transaction | mariadb",
            4: f"4 mariadb-dump | {replacer_name} | mariadb",
            5: "5 wfuwp migrate_site, no archive (verified)",
            6: "6 wfuwp migrate_site, backup + 3 archives, verified",
        }
        print(f"{'contender':<58}{'seconds':>9}{'MB/s':>9}{'peak RSS':>11}")
        for n, name in names.items():
            if n in results:
                got = results[n]
                if got is None:
                    print(
                        row(
                            name,
                            None,
                            mb,
                            None,
                            "mydumper/myloader not installed: run scripts/ensure-system-deps",
                        )
                    )
                else:
                    print(row(name, got[0], mb, got[1]))
        if inserts:
            print(row("6i the same with INSERTs only (load_data=False)", inserts[0], mb, inserts[1]))
        if on_s3:
            print(row("6' the same, archives on local S3 (moto)", on_s3[0], mb, on_s3[1]))
        full_s = results.get(6)
        if full_s:
            my = results.get(2)
            if my:
                print(f"ratio full wfuwp / mydumper+myloader: {full_s[0] / my[0]:.2f} (goal <= 1.00)")
            copy = results.get(1)
            if copy:
                print(f"ratio full wfuwp / INSERT ... SELECT: {full_s[0] / copy[0]:.2f} (goal <= 1.30)")
        if slow:
            print(f"source behind a proxy adding {args.slow_link:g} ms per round trip:")
            print(row("  mariadb-dump --single-transaction | mariadb", slow["dump"][0], mb, slow["dump"][1]))
            print(row("  wfuwp migrate_site, backup + 3 archives, verified", slow["wfuwp"][0], mb,
                      slow["wfuwp"][1]))  # fmt: skip
            print(
                f"ratio wfuwp / mariadb-dump | mariadb behind the slow link: "
                f"{slow['wfuwp'][0] / slow['dump'][0]:.2f} (goal < 1.00)"
            )
    finally:
        shutil.rmtree(archive_dir, ignore_errors=True)
        if args.drop_source:
            sql(server, f"DROP DATABASE `{source}`")
        else:
            print(f"(the generated source stays in {source} for the next run; --drop-source drops it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
