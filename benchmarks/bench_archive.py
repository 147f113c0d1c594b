"""Measure zstd level x threads on WordPress-like SQL, and the SQL splitter, to choose archive defaults.

Run from the repository root: python -m benchmarks.bench_archive [--mib 64]. Prints one table per
measurement; the baseline (level 3, single-threaded, and a plain bytes.split for the splitter) is measured
in the same run.
"""

from __future__ import annotations

import argparse
import io
import random
import time

import zstandard

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "wake",
    "forest",
    "university",
    "deacon",
    "campus",
    "research",
    "students",
    "faculty",
]


def _sql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n") + "'"


def wordpress_like_sql(mib: int, seed: int = 1) -> bytes:
    """Return about `mib` MiB of SQL shaped like a WordPress site dump (posts, postmeta, options)."""
    rnd = random.Random(seed)
    out = io.StringIO()
    out.write("/*!40101 SET NAMES utf8mb4 */;\n")
    target = mib * 1024 * 1024
    row_id = 0
    while out.tell() < target:
        out.write("INSERT INTO `wp_43_posts` VALUES ")
        rows = []
        for _ in range(200):
            row_id += 1
            body = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(20, 400)))
            html = (
                f'<p>{body}</p>\n<img src="https://www.wfu.edu/wp-content/uploads/sites/43/{row_id}.jpg" />'
            )
            rows.append(f"({row_id},1,'2024-01-01 00:00:00',{_sql_string(html)},'post-{row_id}','publish')")
        out.write(",".join(rows) + ";\n")
        out.write("INSERT INTO `wp_43_postmeta` VALUES ")
        metas = []
        for _ in range(400):
            row_id += 1
            path = f"2024/01/{row_id}.jpg"
            width = rnd.randint(100, 3000)
            ser = f'a:2:{{s:4:"file";s:{len(path)}:"{path}";s:5:"width";i:{width};}}'
            metas.append(f"({row_id},{row_id // 3},'_wp_attachment_metadata',{_sql_string(ser)})")
        out.write(",".join(metas) + ";\n")
    return out.getvalue().encode()


def bench_zstd(data: bytes) -> None:
    print(f"zstd on {len(data) / 2**20:.0f} MiB of WordPress-like SQL (stream_writer, 128 KiB writes)")
    print(f"{'level':>5} {'threads':>7} {'ratio':>6} {'MiB/s':>7} {'vs L3/T0':>8}")
    base = None
    for level in (1, 3, 6, 9):
        for threads in (0, 1, 2):
            sink = io.BytesIO()
            t0 = time.perf_counter()
            w = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True).stream_writer(
                sink, closefd=False
            )
            view = memoryview(data)
            for i in range(0, len(data), 128 * 1024):
                w.write(view[i : i + 128 * 1024])
            w.close()
            dt = time.perf_counter() - t0
            speed = len(data) / dt / 2**20
            if level == 3 and threads == 0:
                base = speed
            rel = f"{speed / base:.2f}x" if base else "-"
            print(f"{level:>5} {threads:>7} {len(data) / len(sink.getvalue()):>6.1f} {speed:>7.0f} {rel:>8}")


def bench_splitter(data: bytes) -> None:
    from wfuwp.mysql.sqlfile import check_statement, iter_statements

    def run(label: str, fn: object) -> None:
        t0 = time.perf_counter()
        n = fn()  # type: ignore[operator]
        speed = len(data) / (time.perf_counter() - t0) / 2**20
        print(f"{label:<40} {n:>10} {speed:>7.0f}")

    print(f"\nsplitter on {len(data) / 2**20:.0f} MiB")
    print(f"{'method':<40} {'statements':>10} {'MiB/s':>7}")
    run("bytes.split(b';\\n') (baseline, unsafe)", lambda: len(data.split(b";\n")))
    run("iter_statements", lambda: sum(1 for _ in iter_statements(io.BytesIO(data))))
    run(
        "iter_statements + check_statement",
        lambda: sum(1 for s in iter_statements(io.BytesIO(data)) if check_statement(s, lambda t: True)),
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--only", choices=("zstd", "splitter"))
    args = ap.parse_args()
    sql = wordpress_like_sql(args.mib)
    if args.only != "splitter":
        bench_zstd(sql)
    if args.only != "zstd":
        bench_splitter(sql)
