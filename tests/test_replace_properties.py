"""Properties of the replacement core, found by hypothesis.

(a) The compiled core and its pure-Python twin agree byte for byte and count for count.
(b) For generated PHP values, the output is exactly the value with its string values replaced
    (computed from the model in tests/phpvalues.py), and phpserialize reads it back as such.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import phpserialize
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.phpvalues import (
    FRAGMENTS,
    PHP_WHITESPACE,
    dumps,
    fragment_bytes,
    loaded_value,
    looks_serialized,
    nodes,
    object_hook,
    pairs_strategy,
    php_json,
    replaced,
    search_bytes,
    str_replace_all,
    whitespace,
)
from wfuwp import _pyreplace
from wfuwp.replace import Replacer, Rule, expand_rules, json_escaped

NO_EXTENSIONS = os.environ.get("WFUWP_NO_EXTENSIONS", "") not in ("", "0")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("wfuwp._fastreplace")
    except ImportError:
        if NO_EXTENSIONS:
            return None
        raise  # the compiled core must be there unless the run says otherwise


fast = _compiled()
needs_both = pytest.mark.skipif(fast is None, reason="compiled core not built and WFUWP_NO_EXTENSIONS is set")

# -- strategies ------------------------------------------------------------------------------------

host_flags = st.fixed_dictionaries(
    {},
    optional={
        "host_start": st.booleans(),
        "host_end": st.booleans(),
        "exclude_hosts": st.lists(
            st.sampled_from([b"cdn.example.com", b"example.com", b"a"]), max_size=2
        ).map(tuple),
    },
)


@st.composite
def rules(draw: st.DrawFn) -> list[Rule]:
    """Plain pairs and host-aware rules (subdomain rules start with '.')."""
    out = []
    for search, replacement in draw(pairs_strategy):
        flags = draw(host_flags)
        if draw(st.booleans()) and draw(st.booleans()):
            search = b"." + search
            flags["subdomain"] = True
        out.append(Rule(search, replacement, **flags))
    return out


def serialized_values() -> st.SearchStrategy[bytes]:
    return st.builds(lambda lead, node, trail: lead + dumps(node) + trail, whitespace, nodes, whitespace)


arbitrary_values = st.one_of(
    st.binary(max_size=200),
    fragment_bytes,
    serialized_values(),
    # a valid value with a few bytes spliced in: exercises the malformed paths
    st.tuples(serialized_values(), st.integers(0, 400), st.sampled_from(FRAGMENTS)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    ),
)


def _both(rule_list: Sequence[Rule]) -> tuple[Any, Any]:
    assert fast is not None
    compiled = expand_rules(rule_list)
    return _pyreplace.Core(compiled), fast.Core(compiled)


# -- (a) the twins agree -----------------------------------------------------------------------------


@needs_both
@SETTINGS
@given(rules(), st.lists(arbitrary_values, min_size=1, max_size=5))
def test_twins_agree_on_values(rule_list: list[Rule], values: list[bytes]) -> None:
    py, cy = _both(rule_list)
    for value in values:
        out_py, out_cy = py.replace(value), cy.replace(value)
        assert out_py == out_cy
        assert (out_py is value) == (out_cy is value)
    assert py.stats == cy.stats


@needs_both
@SETTINGS
@given(pairs_strategy, serialized_values())
def test_twins_agree_on_generated_structures(pairs: list[tuple[bytes, bytes]], value: bytes) -> None:
    py, cy = _both([Rule(s, r) for s, r in pairs])
    assert py.replace(value) == cy.replace(value)
    assert py.stats == cy.stats


row_values = st.one_of(st.none(), arbitrary_values)


@needs_both
@SETTINGS
@given(
    rules(),
    st.integers(1, 5).flatmap(
        lambda ncols: st.tuples(
            st.text(alphabet="TQXNZ", min_size=ncols, max_size=ncols).map(str.encode),
            st.lists(st.tuples(*[row_values] * ncols), max_size=6),
        )
    ),
    st.integers(1, 400),
    st.booleans(),
    st.booleans(),
)
def test_twins_agree_on_render_rows(
    rule_list: list[Rule],
    table: tuple[bytes, list[tuple[bytes | None, ...]]],
    max_chunk: int,
    with_original: bool,
    with_load: bool,
) -> None:
    """Both cores render the same INSERT tuples and, with `with_load`, the same LOAD DATA lines."""
    kinds, rows = table
    py, cy = _both(rule_list)
    assert py.render_rows(rows, kinds, max_chunk, with_original, with_load) == cy.render_rows(
        rows, kinds, max_chunk, with_original, with_load
    )
    assert py.stats == cy.stats


# -- (b) the output is the model's replacement --------------------------------------------------------


@SETTINGS
@given(pairs_strategy, nodes, whitespace, whitespace)
def test_structures_get_exactly_their_string_values_replaced(
    pairs: list[tuple[bytes, bytes]], node: Any, lead: bytes, trail: bytes
) -> None:
    value = lead + dumps(node) + trail
    expected_node, count = replaced(node, pairs)
    replacer = Replacer(pairs)
    out = replacer.replace(value)
    assert out == lead + dumps(expected_node) + trail
    assert phpserialize.loads(out.strip(PHP_WHITESPACE), object_hook=object_hook) == loaded_value(
        expected_node
    )
    stats = replacer.stats
    assert (stats.replacements, stats.values_changed, stats.malformed_serialized) == (
        count,
        int(out != value),
        0,
    )
    if out == value:
        assert out is value


@SETTINGS
@given(st.lists(st.tuples(search_bytes, fragment_bytes), min_size=1, max_size=4), fragment_bytes)
def test_plain_text_is_php_str_replace_in_order(pairs: list[tuple[bytes, bytes]], value: bytes) -> None:
    out = Replacer(pairs).replace(value)
    if not looks_serialized(value):
        assert out == str_replace_all(value, pairs)[0]


@SETTINGS
@given(st.one_of(st.text().map(str.encode), st.binary(), fragment_bytes))
def test_json_escaped_is_php_json_encode(data: bytes) -> None:
    assert json_escaped(data) == php_json(data)


# Few distinct bytes: replacements often create matches for later rules, anchors collide, and
# values cross the compiled core's 8- and 16-byte scanning blocks and its 1 KiB search threshold.
# A replacement at most one byte longer than its search (none longer in the repeated 70-rule
# lists) keeps values from growing exponentially along the chain.
SMALL_ALPHABET = b"ab.:/x\\"
small_bytes = st.lists(st.sampled_from(SMALL_ALPHABET), max_size=120).map(bytes)
small_values = small_bytes | small_bytes.map(lambda b: b * 12)  # past 1 KiB, where memmem() takes over


def small_rules(
    count: int, growth: int
) -> st.SearchStrategy[list[tuple[bytes, bytes, int, tuple[bytes, ...]]]]:
    def rule(search: bytes) -> st.SearchStrategy[tuple[bytes, bytes, int, tuple[bytes, ...]]]:
        replacement = st.lists(st.sampled_from(SMALL_ALPHABET), max_size=len(search) + growth).map(bytes)
        return st.tuples(st.just(search), replacement, st.sampled_from([0, 0, 1, 2, 3]), st.just(()))

    search = st.lists(st.sampled_from(SMALL_ALPHABET), min_size=1, max_size=4).map(bytes)
    rules = st.lists(search.flatmap(rule), min_size=1, max_size=8)
    return rules if count <= 8 else rules.map(lambda r: (r * count)[:count])  # beyond the filter's 64


@needs_both
@SETTINGS
@given(st.one_of(small_rules(8, growth=1), small_rules(70, growth=0)), st.lists(small_values, max_size=5))
def test_twins_agree_when_replacements_chain(
    compiled: list[tuple[bytes, bytes, int, tuple[bytes, ...]]], values: list[bytes]
) -> None:
    assert fast is not None
    py, cy = _pyreplace.Core(compiled), fast.Core(compiled)
    for value in values + [b's:%d:"%s";' % (len(v), v) for v in values]:
        assert py.replace(value) == cy.replace(value)
    assert py.stats == cy.stats
