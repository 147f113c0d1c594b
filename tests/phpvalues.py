"""A model of PHP values for the replacement tests: generate, serialize, and replace them independently.

Nothing here calls wfuwp: the expected output of a replacement is computed from the model (a walk
over its string values with bytes.replace and a hand-written json_encode), so the tests compare the
core with a second, much simpler implementation of the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Tokens that make replacements, lengths and the scanner interesting: the search strings themselves,
# JSON escapes, multibyte UTF-8, bytes PHP and MySQL treat specially, and serialized syntax.
FRAGMENTS: tuple[bytes, ...] = (
    b"example.com",
    b"http://",
    b"https://",
    b"http:\\/\\/",
    b"www.",
    b".",
    b"/",
    b"\\",
    b'"',
    b";",
    b":",
    b"{",
    b"}",
    b"@",
    b" ",
    b"\x00",
    b"\r\n",
    b"\x1a",
    b"\x7f",
    "é".encode(),
    "😀".encode(),
    "例".encode(),
    b"\\u00e9",
    b"\xff",
    b"s:1:",
    b"a:1:{",
    b"i:0;",
    b"N;",
)

SEARCHES: tuple[bytes, ...] = (
    b"example.com",
    b"http://example.com",
    b"a",
    b"/",
    b"\\",
    b'"',
    b";",
    b"\x00",
    "é".encode(),
    "😀".encode(),
    b"\x7f/",
    b"s:1:",
)

fragment_bytes = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=3), max_size=8).map(b"".join)
search_bytes = st.sampled_from(SEARCHES) | fragment_bytes.filter(bool)
pairs_strategy = st.lists(st.tuples(search_bytes, fragment_bytes), min_size=1, max_size=4)

# PHP's trim() set (what WordPress strips before unserializing).
PHP_WHITESPACE = b" \t\n\r\x00\x0b"


def looks_serialized(value: bytes) -> bool:
    """WordPress's loose shape test: the core rewrites structurally only what passes it."""
    value = value.strip(PHP_WHITESPACE)
    if value == b"N;":
        return True
    return len(value) >= 4 and value[1:2] == b":" and value[:1] in b"aOsCEbid" and value[-1:] in b";}"


@dataclass(frozen=True)
class Arr:
    items: tuple[tuple[int | bytes, Node], ...]


@dataclass(frozen=True)
class Obj:
    cls: bytes
    members: tuple[tuple[int | bytes, Node], ...]


@dataclass(frozen=True)
class Ser:
    """A string whose content is the serialization of `inner` (double serialization)."""

    inner: Node
    lead: bytes = b""
    trail: bytes = b""


Node = bytes | int | float | bool | None | Arr | Obj | Ser


def dumps(node: Node) -> bytes:
    """Serialize as PHP's serialize() does (floats as Python's repr, which PHP reads back exactly)."""
    if node is None:
        return b"N;"
    if isinstance(node, bool):
        return b"b:1;" if node else b"b:0;"
    if isinstance(node, int):
        return b"i:%d;" % node
    if isinstance(node, float):
        return b"d:%s;" % repr(node).encode()
    if isinstance(node, bytes):
        return b's:%d:"%s";' % (len(node), node)
    if isinstance(node, Ser):
        return dumps(node.lead + dumps(node.inner) + node.trail)
    if isinstance(node, Arr):
        return b"a:%d:{%s}" % (len(node.items), b"".join(dumps(k) + dumps(v) for k, v in node.items))
    return b'O:%d:"%s":%d:{%s}' % (
        len(node.cls),
        node.cls,
        len(node.members),
        b"".join(dumps(k) + dumps(v) for k, v in node.members),
    )


def php_json(data: bytes) -> bytes | None:
    """PHP's json_encode($data) without the quotes (default flags), or None when not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    short = {
        '"': '\\"',
        "\\": "\\\\",
        "/": "\\/",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
    }
    out = []
    for ch in text:
        code = ord(ch)
        if ch in short:
            out.append(short[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif code < 0x80:
            out.append(ch)  # DEL included: PHP leaves it raw
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out).encode("ascii")


def str_replace_all(value: bytes, pairs: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, int]:
    """Apply pairs in order, each followed by its JSON form; return the result and the match count."""
    count = 0
    for search, replacement in pairs:
        steps = [(search, replacement)]
        search_json, replacement_json = php_json(search), php_json(replacement)
        if search_json is not None and replacement_json is not None and search_json != search:
            steps.append((search_json, replacement_json))
        for s, r in steps:
            count += value.count(s)
            value = value.replace(s, r)
    return value, count


def replaced(node: Node, pairs: Sequence[tuple[bytes, bytes]]) -> tuple[Node, int]:
    """The node with every string value replaced (keys, names and scalars kept); and the match count."""
    if isinstance(node, bytes):
        return str_replace_all(node, pairs)
    if isinstance(node, Ser):
        inner, count = replaced(node.inner, pairs)
        return Ser(inner, node.lead, node.trail), count
    if isinstance(node, (Arr, Obj)):
        items = node.items if isinstance(node, Arr) else node.members
        total = 0
        new_items = []
        for key, value in items:
            new_value, count = replaced(value, pairs)
            new_items.append((key, new_value))
            total += count
        if isinstance(node, Arr):
            return Arr(tuple(new_items)), total
        return Obj(node.cls, tuple(new_items)), total
    return node, 0


def object_hook(name: bytes, members: dict[Any, Any]) -> tuple[str, bytes, dict[Any, Any]]:
    return ("object", name, members)


def loaded_value(node: Node) -> Any:
    """What `phpserialize.loads(dumps(node), object_hook=object_hook)` returns (Ser: its string content)."""
    if isinstance(node, Ser):
        return node.lead + dumps(node.inner) + node.trail
    if isinstance(node, Arr):
        return {k: loaded_value(v) for k, v in node.items}
    if isinstance(node, Obj):
        return ("object", node.cls, {k: loaded_value(v) for k, v in node.members})
    return node


# -- hypothesis strategies --------------------------------------------------------------------------

# String values never look serialized (those are generated as Ser nodes), so that the model knows
# which strings the core rewrites structurally without re-implementing its scanner.
string_values = fragment_bytes.filter(lambda b: not looks_serialized(b))
scalars = st.one_of(
    string_values,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
array_keys = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), fragment_bytes)
class_names = st.sampled_from([b"stdClass", b"Foo", b"Foo\\Bar", b"WP_Post", b"__PHP_Incomplete_Class_X"])
whitespace = st.sampled_from([b"", b"", b"", b"\n", b" ", b"\r\n", b"\t "])


def _containers(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    arrays = st.lists(st.tuples(array_keys, children), max_size=4).map(lambda items: Arr(tuple(items)))

    @st.composite
    def objects(draw: st.DrawFn) -> Obj:
        cls = draw(class_names)
        names = st.one_of(
            st.sampled_from([b"pub", b"url", b"\x00*\x00prot", b"\x00" + cls + b"\x00priv"]),
            st.integers(min_value=0, max_value=9),
        )
        return Obj(cls, tuple(draw(st.lists(st.tuples(names, children), max_size=4))))

    serialized = st.builds(Ser, children, whitespace, whitespace)
    return st.one_of(arrays, objects(), serialized)


nodes: st.SearchStrategy[Node] = st.recursive(scalars, _containers, max_leaves=12)
