"""A bounded, seeded fuzz run of the replacement core, and the inputs that must neither crash nor hang.

Random and mutated serialized values go through both twins: they must agree, and a value the core
read as a valid serialized value (and phpserialize reads completely) must stay readable. Values
phpserialize reads completely but the core calls malformed are sent, in one batch, to PHP, which must
refuse them too: otherwise the core would corrupt a value PHP can read.

WFUWP_FUZZ_SECONDS (default 10) sets the time box, WFUWP_FUZZ_SEED the seed (default fixed).
"""

from __future__ import annotations

import importlib
import io
import os
import random
import shutil
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import phpserialize
import pytest

from tests.phpvalues import FRAGMENTS, PHP_WHITESPACE, Arr, Node, Obj, Ser, dumps, looks_serialized
from wfuwp import _pyreplace
from wfuwp.replace import Rule, expand_rules

NO_EXTENSIONS = os.environ.get("WFUWP_NO_EXTENSIONS", "") not in ("", "0")
SECONDS = float(os.environ.get("WFUWP_FUZZ_SECONDS", "10"))
SEED = int(os.environ.get("WFUWP_FUZZ_SEED", "20240611"))
# A single value of a few hundred bytes takes microseconds; this only catches a hang.
SLOW_VALUE_SECONDS = 1.0

TOKENS = (
    *FRAGMENTS,
    b"R:1;",
    b"r:2;",
    b"R:+1;",
    b'E:11:"Suit:Hearts";',
    b'C:3:"Foo":3:{x:y}',
    b"d:0.1000000000000000055511151231257827;",
    b"d:-INF;",
    b"d:1.2.3;",
    b"i:-0;",
    b"b:2;",
    b"N;",
    b"a:0:{}",
    b'O:8:"stdClass":0:{}',
    b's:0:"";',
    b"99999999999999999999",
)


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("wfuwp._fastreplace")
    except ImportError:
        if NO_EXTENSIONS:
            return None
        raise


def _loads_fully(data: bytes) -> bool:
    """phpserialize reads `data` (trimmed) as one value with no byte left over."""
    data = data.strip(PHP_WHITESPACE)
    stream = io.BytesIO(data)
    try:
        phpserialize.load(stream, object_hook=lambda name, d: (name, d))
    except Exception:  # ValueError, RecursionError, ... : not a value phpserialize can read
        return False
    return stream.tell() == len(data)


class Gen:
    """Seeded random PHP values, pairs and mutations."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def text(self, max_parts: int = 6) -> bytes:
        r = self.rnd
        parts = [
            r.choice(FRAGMENTS) if r.random() < 0.7 else r.randbytes(r.randint(1, 3))
            for _ in range(r.randint(0, max_parts))
        ]
        return b"".join(parts)

    def node(self, depth: int = 0) -> Node:
        r = self.rnd
        kind = r.random()
        if depth > 5 or kind < 0.45:
            return r.choice(
                [
                    lambda: self.text(),
                    lambda: r.randint(-(2**63), 2**63 - 1),
                    lambda: r.choice([0.1, -1.5e-300, 1e25, -0.0, r.random()]),
                    lambda: r.random() < 0.5,
                    lambda: None,
                ]
            )()
        if kind < 0.7:
            return Arr(
                tuple(
                    (r.choice([r.randint(-3, 9), self.text(2)]), self.node(depth + 1))
                    for _ in range(r.randint(0, 4))
                )
            )
        if kind < 0.85:
            cls = r.choice([b"stdClass", b"Foo\\Bar", b"WP_Post"])
            names = [b"pub", b"\x00*\x00prot", b"\x00" + cls + b"\x00priv", 7]
            return Obj(cls, tuple((r.choice(names), self.node(depth + 1)) for _ in range(r.randint(0, 3))))
        return Ser(self.node(depth + 1), r.choice([b"", b"", b"\n", b" "]), r.choice([b"", b"", b"\r\n"]))

    def value(self) -> bytes:
        r = self.rnd
        if r.random() < 0.15:
            return self.text(20)
        return dumps(self.node())

    def mutate(self, value: bytes) -> bytes:
        r = self.rnd
        data = bytearray(value)
        for _ in range(r.randint(1, 3)):
            at = r.randint(0, len(data))
            op = r.randrange(7)
            if op == 0 and data:  # flip a byte
                data[min(at, len(data) - 1)] = r.randrange(256)
            elif op == 1:  # insert a token
                data[at:at] = r.choice(TOKENS)
            elif op == 2:  # delete a range
                del data[at : at + r.randint(1, 8)]
            elif op == 3:  # truncate
                del data[at:]
            elif op == 4:  # duplicate a slice
                data[at:at] = data[at : at + r.randint(1, 20)]
            elif op == 5:  # bump a digit (lengths, counts)
                digits = [i for i, c in enumerate(data) if 48 <= c <= 57]
                if digits:
                    i = r.choice(digits)
                    data[i] = 48 + (data[i] - 48 + r.choice([1, 9])) % 10
            else:  # surround with whitespace
                data[:0] = r.choice([b" ", b"\n", b"\x00"])
        return bytes(data)

    def rules(self) -> list[Rule]:
        r = self.rnd
        out = []
        for _ in range(r.randint(1, 4)):
            search = (
                r.choice([b"example.com", b"http://example.com", b"a", b"/", b";", b'"', b"\\", b"\x00"])
                if r.random() < 0.6
                else self.text(3)
            )
            search = search or b"x"
            flags: dict[str, Any] = {}
            if r.random() < 0.2:
                flags = {"host_start": r.random() < 0.5, "host_end": r.random() < 0.5}
            out.append(Rule(search, self.text(3), **flags))
        return out


def test_fuzz_twins_agree_and_valid_values_stay_valid(tmp_path: Path) -> None:
    fast = _compiled()
    gen = Gen(SEED)
    deadline = time.monotonic() + SECONDS
    cases = 0
    structural = 0
    stricter_than_phpserialize: list[bytes] = []
    while time.monotonic() < deadline:
        rule_list = gen.rules()
        compiled = expand_rules(rule_list)
        cores = [_pyreplace.Core(compiled)] + ([fast.Core(compiled)] if fast is not None else [])
        for _ in range(20):
            value = gen.value()
            if gen.rnd.random() < 0.6:
                value = gen.mutate(value)
            before = cores[0].stats
            outputs = []
            for core in cores:
                started = time.monotonic()
                outputs.append(core.replace(value))
                assert time.monotonic() - started < SLOW_VALUE_SECONDS, f"slow value (seed {SEED}): {value!r}"
            context = f"seed {SEED}, rules {rule_list!r}, value {value!r}"
            assert all(out == outputs[0] for out in outputs), context
            cases += 1
            too_deep = cores[0].stats[5] - before[5]
            trimmed = value.strip(PHP_WHITESPACE)
            if not looks_serialized(trimmed):
                continue
            if _reads_as_serialized(value):
                structural += 1
                if too_deep:
                    assert outputs[0] is value, context
                elif _loads_fully(value):
                    assert _loads_fully(outputs[0]), context
            elif _loads_fully(value):
                stricter_than_phpserialize.append(trimmed)
        assert [c.stats for c in cores] == [cores[0].stats] * len(cores), f"seed {SEED}, rules {rule_list!r}"
    assert cases > 1000 and structural > 100, (cases, structural)
    _php_refuses_all(stricter_than_phpserialize, tmp_path)


def _reads_as_serialized(value: bytes) -> bool:
    """The core rewrites the value structurally (its reference scanner accepts the trimmed value)."""
    start = len(value) - len(value.lstrip(PHP_WHITESPACE))
    end = len(value.rstrip(PHP_WHITESPACE))
    try:
        _pyreplace._scan(value, start, end)
    except _pyreplace._Malformed:
        return False
    return True


def _php_refuses_all(values: list[bytes], tmp_path: Path) -> None:
    """PHP's unserialize() must refuse every value the core treats as plain text."""
    php = shutil.which("php")
    if php is None or not values:
        return
    batch = tmp_path / "values.bin"
    batch.write_bytes(b"\n".join(v.hex().encode() for v in values) + b"\n")
    script = (
        "error_reporting(0);"
        "foreach (file($argv[1], FILE_IGNORE_NEW_LINES) as $h) {"
        "  $s = hex2bin($h); $v = unserialize($s);"
        '  echo ($v === false && $s !== \'b:0;\') ? "refused\\n" : "accepted $h\\n"; }'
    )
    done = subprocess.run(
        [php, "-r", script, str(batch)], capture_output=True, text=True, timeout=60, check=True
    )
    accepted = [line for line in done.stdout.splitlines() if line != "refused"]
    assert accepted == [], f"PHP reads values the core would replace as plain text: {accepted[:5]}"


# -- inputs that must not crash or hang -----------------------------------------------------------------


def _all_cores(pairs: list[tuple[bytes, bytes]]) -> list[Any]:
    fast = _compiled()
    compiled = expand_rules(pairs)
    return [_pyreplace.Core(compiled)] + ([fast.Core(compiled)] if fast is not None else [])


def test_100_mb_values() -> None:
    body = (b"lorem ipsum http://example.com/page dolor sit amet " * 2_000_000)[:100_000_000]
    plain_count = body.count(b"http://example.com")
    serialized = b'a:1:{i:0;s:%d:"%s";}' % (len(body), body)
    grown = len(body) + plain_count
    expected_head = b'a:1:{i:0;s:%d:"lorem ipsum https://example.com/page' % grown
    for core in _all_cores([(b"http://example.com", b"https://example.com")]):
        out = core.replace(body)
        assert len(out) == grown
        del out
        out = core.replace(serialized)
        assert out.startswith(expected_head) and out.endswith(b'";}')
        assert len(out) == len(serialized) + plain_count  # 9 length digits before and after
        del out
        assert core.stats[2] == 2 * plain_count


def test_invalid_utf8_everywhere() -> None:
    values = [
        b"\xff\xfe\xfd",
        b"\xc3",
        b"\xed\xa0\x80example.com\xf4\x90\x80\x80",
        b's:5:"\xff\xc3(\xa0\xa1";',
        b'a:1:{s:2:"\xff\xfe";s:13:"\xe2\x82example.com";}',
    ]
    for core in _all_cores([(b"example.com", "例え.jp".encode()), ("é".encode(), b"e")]):
        outs = [core.replace(v) for v in values]
        assert outs[4] == b'a:1:{s:2:"\xff\xfe";s:11:"\xe2\x82' + "例え.jp".encode() + b'";}'
        assert outs[0] is values[0] and outs[1] is values[1] and outs[3] is values[3]
        assert outs[2] == b"\xed\xa0\x80" + "例え.jp".encode() + b"\xf4\x90\x80\x80"


@pytest.mark.parametrize("levels", [100_000])
def test_deep_nesting_does_not_crash(levels: int) -> None:
    closed = b"a:1:{i:0;" * levels + b's:11:"example.com";' + b"}" * levels
    unclosed = b"a:1:{i:0;" * levels + b"}"
    objects = b'O:8:"stdClass":1:{s:1:"p";' * levels + b"N;" + b"}" * levels
    layers = b"example.com"
    for _ in range(2000):
        layers = b's:%d:"%s";' % (len(layers), layers)
    for core in _all_cores([(b"example.com", b"example.org")]):
        assert core.replace(closed) == closed.replace(b's:11:"example.com"', b's:11:"example.org"')
        assert core.replace(unclosed) is unclosed
        assert core.replace(objects) is objects
        assert core.replace(layers) is layers
        assert core.stats[3:] == (1, 0, 1)  # unclosed is malformed, layers too deep
