"""PHP itself as the oracle: unserialize() accepts every output whose input it accepted, as expected.

One `php` process checks a whole batch: for each case it unserializes the input (trimmed, as
WordPress's maybe_unserialize() does), applies the pairs to every string value with str_replace()
and json_encode() (recursing into strings that are serialized values themselves), and compares that
with unserialize() of the core's output. Skipped when `php` is not on PATH.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.phpvalues import dumps, nodes, pairs_strategy, whitespace
from wfuwp.replace import Replacer

PHP = shutil.which("php")
pytestmark = pytest.mark.skipif(PHP is None, reason="php is not on PATH")

ORACLE = r"""<?php
error_reporting(E_ALL & ~E_NOTICE & ~E_WARNING & ~E_DEPRECATED);
ini_set('serialize_precision', '-1');

enum Suit { case Hearts; case Spades; }

final class SerNode {
    public function __construct(public string $lead, public mixed $value, public string $trail) {}
}
final class ObjNode {
    public function __construct(public string $class, public array $members) {}
}

const WS = " \t\n\r\0\x0B";

function json_form(string $s): ?string {
    $j = json_encode($s);
    return $j === false ? null : substr($j, 1, -1);
}

function replace_string(string $s, array $pairs): string {
    foreach ($pairs as [$from, $to]) {
        $s = str_replace($from, $to, $s);
        $jf = json_form($from);
        $jt = json_form($to);
        if ($jf !== null && $jt !== null && $jf !== $from) {
            $s = str_replace($jf, $jt, $s);
        }
    }
    return $s;
}

function looks_serialized(string $t): bool {
    if ($t === 'N;') return true;
    if (strlen($t) < 4 || $t[1] !== ':' || strpos('aOsCEbid', $t[0]) === false) return false;
    $last = substr($t, -1);
    return $last === ';' || $last === '}';
}

function php_unserialize(string $s, ?bool &$ok): mixed {
    $v = @unserialize($s);
    $ok = $v !== false || $s === 'b:0;';
    return $v;
}

// Strings that are serialized values become SerNode, objects ObjNode (class name kept apart).
function normalize(mixed $v): mixed {
    if (is_string($v)) {
        $t = trim($v, WS);
        if (looks_serialized($t)) {
            $u = php_unserialize($t, $ok);
            if ($ok) {
                $lead = substr($v, 0, strspn($v, WS));
                $trail = substr($v, strlen($lead) + strlen($t));
                return new SerNode($lead, normalize($u), $trail);
            }
        }
        return $v;
    }
    if (is_array($v)) {
        $out = [];
        foreach ($v as $k => $x) $out[$k] = normalize($x);
        return $out;
    }
    if ($v instanceof UnitEnum) return $v;
    if (is_object($v)) {
        $members = (array) $v;
        $class = get_class($v);
        if ($v instanceof __PHP_Incomplete_Class) {
            $class = $members['__PHP_Incomplete_Class_Name'];
            unset($members['__PHP_Incomplete_Class_Name']);
        }
        $out = [];
        foreach ($members as $k => $x) $out[$k] = normalize($x);
        return new ObjNode($class, $out);
    }
    return $v;
}

function transform(mixed $n, array $pairs): mixed {
    if (is_string($n)) return replace_string($n, $pairs);
    if ($n instanceof SerNode) return new SerNode($n->lead, transform($n->value, $pairs), $n->trail);
    if ($n instanceof ObjNode) return new ObjNode($n->class, transform($n->members, $pairs));
    if (is_array($n)) {
        $out = [];
        foreach ($n as $k => $x) $out[$k] = transform($x, $pairs);
        return $out;
    }
    return $n;
}

foreach (file($argv[1], FILE_IGNORE_NEW_LINES) as $i => $line) {
    $f = array_map('base64_decode', explode(' ', $line));
    [$in, $out] = [$f[0], $f[1]];
    $pairs = array_chunk(array_slice($f, 2), 2);
    $input = php_unserialize(trim($in, WS), $ok);
    if (!$ok) { echo "rejected\n"; continue; }
    $output = php_unserialize(trim($out, WS), $ok);
    if (!$ok) { echo "FAIL $i: unserialize() refuses the output\n"; continue; }
    $want = serialize(transform(normalize($input), $pairs));
    $got = serialize(normalize($output));
    echo $want === $got ? "ok\n"
        : "FAIL $i: want " . base64_encode($want) . " got " . base64_encode($got) . "\n";
}
"""

Pairs = Sequence[tuple[bytes, bytes]]


def run_oracle(cases: Sequence[tuple[Pairs, bytes]], tmp_path: Path) -> list[str]:
    """Replace each case with the core, let one php process judge them all; return its verdicts."""
    script = tmp_path / "oracle.php"
    script.write_text(ORACLE)
    lines = []
    for pairs, value in cases:
        out = Replacer(pairs).replace(value)
        fields = [value, out, *(part for pair in pairs for part in pair)]
        lines.append(b" ".join(base64.b64encode(f) for f in fields))
    batch = tmp_path / "cases.txt"
    batch.write_bytes(b"\n".join(lines) + b"\n")
    assert PHP is not None
    done = subprocess.run(
        [PHP, str(script), str(batch)], capture_output=True, text=True, timeout=60, check=True
    )
    verdicts = done.stdout.splitlines()
    assert len(verdicts) == len(cases), done.stderr
    return verdicts


def failures(cases: Sequence[tuple[Pairs, bytes]], verdicts: list[str]) -> list[str]:
    return [
        f"{v}\n  pairs={cases[i][0]!r}\n  value={cases[i][1]!r}" for i, v in enumerate(verdicts) if v != "ok"
    ]


B = [(b"example.com", b"example.org.uk")]
URL = [(b"http://example.com", b"https://example.org")]

# Valid values of every family in test_replace_cases.py that PHP can load (not C:, which needs its
# class; not an invalid class name; `r:` only to an object, as PHP requires).
FAMILY_CASES: list[tuple[Pairs, bytes]] = [
    (B, 'a:1:{i:0;s:17:"café example.com";}'.encode()),
    (B, 'a:1:{i:0;s:19:"😀example.com😀";}'.encode()),
    (B, b'a:1:{i:0;s:13:"\x00example.com\x00";}'),
    (B, b'a:1:{i:0;s:16:"a\r\nexample.com\r\n";}'),
    (B, b'a:1:{i:0;s:18:"C:\\dir\\example.com";}'),
    (B, b'a:1:{i:0;s:13:"\x1aexample.com\x1a";}'),
    (B, b'a:1:{i:0;s:14:"";}example.com";}'),
    ([("café".encode(), b"cafe")], 's:11:"café café";'.encode()),
    (B, b'a:2:{s:11:"example.com";s:11:"example.com";s:1:"a";a:1:{i:0;s:11:"example.com";}}'),
    (B, b's:29:"a:1:{i:0;s:11:"example.com";}";'),
    (B, b'a:1:{s:4:"opts";s:56:"O:8:"stdClass":1:{s:3:"url";s:19:"s:11:"example.com";";}";}'),
    (B, b"a:1:{i:0;" * 1000 + b's:11:"example.com";' + b"}" * 1000),
    (
        B,
        b'O:7:"Foo\\Bar":4:{s:3:"pub";s:11:"example.com";s:6:"\x00*\x00pro";s:11:"example.com";'
        b's:12:"\x00Foo\\Bar\x00pri";s:11:"example.com";i:7;s:11:"example.com";}',
    ),
    ([(b"Hearts", b"Spades")], b'a:2:{i:0;E:11:"Suit:Hearts";i:1;s:6:"Hearts";}'),
    ([(b"example.com", b"www.example.com")], b'a:2:{i:0;s:11:"example.com";i:1;R:2;}'),
    (
        [(b"example.com", b"www.example.com")],
        b'a:2:{i:0;O:8:"stdClass":1:{s:1:"u";s:11:"example.com";}i:1;r:2;}',
    ),
    (
        [(b"5", b"6"), (b"0", b"9"), (b"1", b"7")],
        b'a:6:{i:0;b:1;i:1;i:-5;i:2;d:0.1000000000000000055511151231257827;i:3;N;s:1:"5";s:1:"5";'
        b"i:4;d:-1.0E+25;}",
    ),
    (B, b'a:1:{i:0;s:19:"s:99:"example.com";";}'),
    (B, b'\n  a:1:{i:0;s:11:"example.com";}\r\n'),
    (URL, b'a:1:{s:4:"json";s:33:"{"url":"http:\\/\\/example.com\\/x"}";}'),
    (
        [("https://café.example".encode(), b"https://cafe.example")],
        rb's:35:"{"h":"https:\/\/caf\u00e9.example"}";',
    ),
    ([(b"x/\x7f", b"y")], b'a:1:{i:0;s:12:"{"k":"x\\/\x7f"}";}'),
]


def test_php_accepts_the_family_cases(tmp_path: Path) -> None:
    verdicts = run_oracle(FAMILY_CASES, tmp_path)
    bad = failures(FAMILY_CASES, verdicts)
    assert not bad, "\n".join(bad)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(st.tuples(pairs_strategy, nodes, whitespace, whitespace), min_size=30, max_size=30))
def test_php_accepts_generated_structures(
    tmp_path_factory: pytest.TempPathFactory, batch: list[tuple[Pairs, object, bytes, bytes]]
) -> None:
    cases = [(pairs, lead + dumps(node) + trail) for pairs, node, lead, trail in batch]  # type: ignore[arg-type]
    verdicts = run_oracle(cases, tmp_path_factory.mktemp("oracle"))
    bad = failures(cases, verdicts)
    assert not bad, "\n".join(bad)
    assert verdicts.count("ok") >= len(cases) // 2, "PHP rejected most inputs: the generator drifted"
