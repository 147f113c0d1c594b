"""Throughput of the replacement core: the compiled core beside its pure-Python twin, in one run.

Three generated corpora, each a list of column values as a migration sees them:
  prose       post_content-like text, no value matches any pair (the common case);
  html        HTML with a link every ~80 bytes, about half of them to hosts the pairs rename;
  serialized  PHP-serialized option values (nested arrays, objects, double serialization, JSON in
              strings) whose URLs the pairs rename.
8 pairs (13 compiled rules with their JSON-escaped forms). One thread; MB/s counts input bytes per
CPU second of this process (time.process_time, so other load on a shared machine counts less); the
best of --repeat runs. Usage, from the repository root:

    python -m benchmarks.bench_replace [--mb 32] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from wfuwp import _pyreplace
from wfuwp.replace import expand_rules

try:
    from wfuwp import _fastreplace as fast  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    fast = None

PAIRS = [
    (b"http://www.example.com", b"https://www.example.org"),
    (b"http://example.com", b"https://example.org"),
    (b"//cdn.example.com", b"//cdn.example.net"),
    (b"/wp-content/uploads/sites/5/", b"/wp-content/uploads/"),
    (b"Example News", b"Example News (staging)"),
    (b"news.example.com", b"news.staging.example.org"),
    (b"@example.com", b"@staging.example.org"),
    ("Café Société".encode(), b"Cafe Societe"),
]

WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the of and to in is was for on that with as by at from his her this which or an be are had not but "
    "university faculty students research campus library program department season game alumni award "
    "semester scholarship committee announced community professor lecture conference"
).split()


def prose(rnd: random.Random, size: int) -> list[bytes]:
    values, total = [], 0
    while total < size:
        n = rnd.randint(200, 900)
        text = " ".join(rnd.choice(WORDS) for _ in range(n))
        value = ("<p>" + text.capitalize().replace(" the ", ". The ") + ".</p>").encode()
        values.append(value)
        total += len(value)
    return values


def html(rnd: random.Random, size: int) -> list[bytes]:
    hosts = ["http://www.example.com", "http://example.com", "https://other.example.net", "https://wfu.edu"]
    values, total = [], 0
    while total < size:
        parts = []
        for _ in range(rnd.randint(20, 120)):
            host = rnd.choice(hosts)
            path = "/".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 3)))
            parts.append(f'<li><a href="{host}/{path}/">{rnd.choice(WORDS)} {rnd.choice(WORDS)}</a></li>')
            if rnd.random() < 0.3:
                parts.append(
                    f'<img src="//cdn.example.com/wp-content/uploads/sites/5/{rnd.randint(1, 9999)}.jpg">'
                )
        value = ("<ul>" + "\n".join(parts) + "</ul>").encode()
        values.append(value)
        total += len(value)
    return values


def _php(value: object) -> bytes:
    """A minimal PHP serialize() for the corpus."""
    if isinstance(value, bool):
        return b"b:%d;" % value
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, str):
        raw = value.encode()
        return b's:%d:"%s";' % (len(raw), raw)
    if isinstance(value, dict):
        body = b"".join(_php(k) + _php(v) for k, v in value.items())
        return b"a:%d:{%s}" % (len(value), body)
    raise TypeError(type(value))


def serialized(rnd: random.Random, size: int) -> list[bytes]:
    values, total = [], 0
    while total < size:
        widgets = {
            i: {
                "title": f"{rnd.choice(WORDS).title()} {rnd.choice(WORDS)}",
                "url": f"http://www.example.com/{rnd.choice(WORDS)}/{i}/",
                "image": f"//cdn.example.com/wp-content/uploads/sites/5/2024/{i}.png",
                "count": rnd.randint(0, 50),
                "show": rnd.random() < 0.5,
                "text": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 40))),
                "json": json.dumps({"link": f"http://example.com/{rnd.choice(WORDS)}", "n": i}),
            }
            for i in range(rnd.randint(2, 12))
        }
        option: dict[object, object] = {"widgets": widgets, "_multiwidget": 1}
        if rnd.random() < 0.3:  # double serialization, as plugins do
            option["cache"] = _php({"home": "http://example.com/", "mail": "web@example.com"}).decode()
        value = _php(option)
        values.append(value)
        total += len(value)
    return values


def measure(core_module: ModuleType, values: Sequence[bytes], repeat: int) -> tuple[float, tuple[int, ...]]:
    """Best CPU seconds over `repeat` runs of one Core over all values; and the stats of one run."""
    rules = expand_rules(PAIRS)
    best = float("inf")
    stats: tuple[int, ...] = ()
    for _ in range(repeat):
        core = core_module.Core(rules)
        replace = core.replace
        started = time.process_time()
        for value in values:
            replace(value)
        best = min(best, time.process_time() - started)
        stats = core.stats
    return best, stats


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=32.0, help="size of each corpus in MB (default 32)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure, best kept (default 5)")
    args = parser.parse_args(argv)
    size = int(args.mb * 1_000_000)
    corpora: list[tuple[str, Callable[[random.Random, int], list[bytes]]]] = [
        ("prose, no match", prose),
        ("html, dense URLs", html),
        ("serialized, matches", serialized),
    ]
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {len(PAIRS)} pairs "
        f"({len(expand_rules(PAIRS))} rules with JSON forms), {args.mb:g} MB per corpus, "
        f"best of {args.repeat}"
    )
    print(f"{'corpus':<22}{'values':>8}{'changed':>9}{'cython MB/s':>13}{'python MB/s':>13}{'ratio':>8}")
    for name, make in corpora:
        values = make(random.Random(20240611), size)
        total = sum(len(v) for v in values)
        py_s, py_stats = measure(_pyreplace, values, args.repeat)
        py_rate = total / py_s / 1e6
        if fast is not None:
            cy_s, cy_stats = measure(fast, values, args.repeat)
            if cy_stats != py_stats:
                raise SystemExit(f"the twins disagree on {name}: {cy_stats} != {py_stats}")
            cy_rate = total / cy_s / 1e6
            cy_text, ratio = f"{cy_rate:,.0f}", f"{cy_rate / py_rate:.1f}x"
        else:
            cy_text, ratio = "n/a", "n/a"
        changed = f"{py_stats[1] / len(values):.0%}"
        print(f"{name:<22}{len(values):>8}{changed:>9}{cy_text:>13}{py_rate:>13,.0f}{ratio:>8}")


if __name__ == "__main__":
    main()
