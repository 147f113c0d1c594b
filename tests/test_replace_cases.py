"""The replacement contract (docs/replacement.md), one test per case family of the field notes.

Every expected value is a hand-written literal: byte lengths were counted by hand, not computed by
the code under test. Runs against whichever core `wfuwp.replace` chose (the suite runs twice).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence

import pytest

from wfuwp import _pyreplace
from wfuwp.errors import UsageError
from wfuwp.replace import PairLike, Replacer, ReplaceStats, Rule

# The pairs most tests use. B changes the length (11 -> 14 bytes); URL has a JSON-escaped form.
B = [(b"example.com", b"example.org.uk")]
URL = [(b"http://example.com", b"https://example.org")]


def run(pairs: Sequence[PairLike], value: bytes) -> tuple[bytes, ReplaceStats]:
    """Replace one value with a fresh Replacer; return the output and the stats of that one call."""
    replacer = Replacer(pairs)
    return replacer.replace(value), replacer.stats


def stats(
    *,
    changed: int = 1,
    replacements: int = 0,
    malformed: int = 0,
    skipped_custom: int = 0,
    too_deep: int = 0,
    seen: int = 1,
) -> ReplaceStats:
    return ReplaceStats(seen, changed, replacements, malformed, skipped_custom, too_deep)


def assert_untouched(pairs: Sequence[PairLike], value: bytes, **expected: int) -> None:
    """The value comes back as the very same object and counts as seen, not changed."""
    out, st = run(pairs, value)
    assert out is value
    assert st == stats(changed=0, **expected)


# -- lengths are byte counts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # multibyte UTF-8 around the match (é is 2 bytes): 3+2+1+11 -> 3+2+1+14
        ('a:1:{i:0;s:17:"café example.com";}'.encode(), 'a:1:{i:0;s:20:"café example.org.uk";}'.encode()),
        # 4-byte emoji on both sides: 4+11+4 -> 4+14+4
        ('a:1:{i:0;s:19:"😀example.com😀";}'.encode(), 'a:1:{i:0;s:22:"😀example.org.uk😀";}'.encode()),
        # NUL bytes: 1+11+1 -> 1+14+1
        (b'a:1:{i:0;s:13:"\x00example.com\x00";}', b'a:1:{i:0;s:16:"\x00example.org.uk\x00";}'),
        # CR LF: 1+2+11+2 -> 1+2+14+2
        (b'a:1:{i:0;s:16:"a\r\nexample.com\r\n";}', b'a:1:{i:0;s:19:"a\r\nexample.org.uk\r\n";}'),
        # backslashes are one byte each, nothing unescapes them: 2+1+3+1+11 -> 2+1+3+1+14
        (b'a:1:{i:0;s:18:"C:\\dir\\example.com";}', b'a:1:{i:0;s:21:"C:\\dir\\example.org.uk";}'),
        # 0x1A (MySQL's \Z), which go-search-replace miscounted
        (b'a:1:{i:0;s:13:"\x1aexample.com\x1a";}', b'a:1:{i:0;s:16:"\x1aexample.org.uk\x1a";}'),
        # quotes and semicolons inside the content do not end the string; the length does
        (b'a:1:{i:0;s:14:"";}example.com";}', b'a:1:{i:0;s:17:"";}example.org.uk";}'),
    ],
    ids=["multibyte", "emoji", "nul", "crlf", "backslash", "0x1a", "quote-semicolon"],
)
def test_lengths_are_recomputed_in_bytes(value: bytes, expected: bytes) -> None:
    out, st = run(B, value)
    assert out == expected
    assert st == stats(replacements=1)


def test_multibyte_replacement_and_multibyte_search() -> None:
    # "例え.jp" is 9 bytes; "café" 5 bytes -> "cafe" 4 bytes
    out, st = run([(b"example.com", "例え.jp".encode())], b'a:1:{i:0;s:11:"example.com";}')
    assert out == 'a:1:{i:0;s:9:"例え.jp";}'.encode()
    assert st == stats(replacements=1)
    out, st = run([("café", "cafe")], 's:11:"café café";'.encode())
    assert out == b's:9:"cafe cafe";'
    assert st == stats(replacements=2)


def test_invalid_utf8_is_replaced_as_bytes() -> None:
    out, st = run(B, b'a:1:{i:0;s:14:"\xffexample.com\xc3\xfe";}')
    assert out == b'a:1:{i:0;s:17:"\xffexample.org.uk\xc3\xfe";}'
    assert st == stats(replacements=1)
    out, st = run(B, b"\xc3(example.com\xa0")
    assert out == b"\xc3(example.org.uk\xa0"


# -- nesting ---------------------------------------------------------------------------------------


def test_arrays_in_arrays_and_keys_stay() -> None:
    value = b'a:2:{s:11:"example.com";s:11:"example.com";s:1:"a";a:1:{i:0;s:11:"example.com";}}'
    out, st = run(B, value)
    assert out == b'a:2:{s:11:"example.com";s:14:"example.org.uk";s:1:"a";a:1:{i:0;s:14:"example.org.uk";}}'
    assert st == stats(replacements=2)


def test_double_serialization_at_top_level() -> None:
    out, st = run(B, b's:29:"a:1:{i:0;s:11:"example.com";}";')
    assert out == b's:32:"a:1:{i:0;s:14:"example.org.uk";}";'
    assert st == stats(replacements=1)


def test_serialized_object_inside_a_string_inside_an_array() -> None:
    value = b'a:1:{s:4:"opts";s:56:"O:8:"stdClass":1:{s:3:"url";s:19:"s:11:"example.com";";}";}'
    out, st = run(B, value)
    assert out == b'a:1:{s:4:"opts";s:59:"O:8:"stdClass":1:{s:3:"url";s:22:"s:14:"example.org.uk";";}";}'
    assert st == stats(replacements=1)


def test_thousands_of_array_levels() -> None:
    depth = 5000
    value = b"a:1:{i:0;" * depth + b's:11:"example.com";' + b"}" * depth
    out, st = run(B, value)
    assert out == b"a:1:{i:0;" * depth + b's:14:"example.org.uk";' + b"}" * depth
    assert st == stats(replacements=1)


def test_thousands_of_unclosed_levels_are_plain_text() -> None:
    value = b"a:1:{i:0;" * 5000 + b's:11:"example.com";'
    out, st = run(B, value)
    assert out == b"a:1:{i:0;" * 5000 + b's:11:"example.org.uk";'
    assert st == stats(replacements=1, malformed=1)


def _layers(n: int, inner: bytes) -> bytes:
    """`inner` as a serialized string, serialized again n-1 times (n serialized layers)."""
    value = b's:%d:"%s";' % (len(inner), inner)
    for _ in range(n - 1):
        value = b's:%d:"%s";' % (len(value), value)
    return value


def test_serialized_in_string_64_layers_deep_is_rewritten() -> None:
    assert _pyreplace.MAX_NESTED_SERIALIZED == 64
    assert _layers(2, b"example.com") == b's:19:"s:11:"example.com";";'  # the helper, checked by hand
    out, st = run(B, _layers(64, b"example.com"))
    assert out == _layers(64, b"example.org.uk")
    assert st == stats(replacements=1)
    # an array holding 63 layers in one of its strings is 64 serialized values too
    out, st = run(B, b'a:2:{i:0;s:11:"example.com";i:1;' + _layers(64, b"example.com") + b"}")
    assert out == b'a:2:{i:0;s:14:"example.org.uk";i:1;' + _layers(64, b"example.org.uk") + b"}"
    assert st == stats(replacements=2)


@pytest.mark.parametrize("layers", [65, 70])
def test_serialized_in_string_too_deep_is_left_whole_and_counted(layers: int) -> None:
    # the array is the first serialized value, _layers(n) adds n - 1 more: `layers` values in all
    value = b'a:2:{i:0;s:11:"example.com";i:1;' + _layers(layers, b"example.com") + b"}"
    out, st = run(B, value)
    assert out is value
    assert st == stats(changed=0, too_deep=1)


# -- objects ---------------------------------------------------------------------------------------


def test_objects_of_unloaded_classes_public_protected_private_numeric() -> None:
    value = (
        b'O:7:"Foo\\Bar":4:{s:3:"pub";s:11:"example.com";s:6:"\x00*\x00pro";s:11:"example.com";'
        b's:12:"\x00Foo\\Bar\x00pri";s:11:"example.com";i:7;s:11:"example.com";}'
    )
    out, st = run(B, value)
    assert out == (
        b'O:7:"Foo\\Bar":4:{s:3:"pub";s:14:"example.org.uk";s:6:"\x00*\x00pro";s:14:"example.org.uk";'
        b's:12:"\x00Foo\\Bar\x00pri";s:14:"example.org.uk";i:7;s:14:"example.org.uk";}'
    )
    assert st == stats(replacements=4)


def test_class_and_member_names_are_not_replaced() -> None:
    value = b'O:11:"example.com":1:{s:11:"example.com";s:3:"abc";}'
    assert_untouched(B, value)


def test_custom_payload_is_untouched_and_counted() -> None:
    value = b'a:2:{i:0;C:3:"Foo":12:{example.com;}i:1;s:11:"example.com";}'
    out, st = run(B, value)
    assert out == b'a:2:{i:0;C:3:"Foo":12:{example.com;}i:1;s:14:"example.org.uk";}'
    assert st == stats(replacements=1, skipped_custom=1)
    assert_untouched(B, b'C:11:"ArrayObject":11:{example.com}', skipped_custom=1)


def test_enum_is_untouched() -> None:
    pairs = [(b"Hearts", b"Spades")]
    out, st = run(pairs, b'a:2:{i:0;E:11:"Suit:Hearts";i:1;s:6:"Hearts";}')
    assert out == b'a:2:{i:0;E:11:"Suit:Hearts";i:1;s:6:"Spades";}'
    assert st == stats(replacements=1)
    assert_untouched(pairs, b'E:11:"Suit:Hearts";')


def test_references_do_not_apply_a_pair_twice() -> None:
    pairs = [(b"example.com", b"www.example.com")]
    out, st = run(pairs, b'a:2:{i:0;s:11:"example.com";i:1;R:2;}')
    assert out == b'a:2:{i:0;s:15:"www.example.com";i:1;R:2;}'
    assert st == stats(replacements=1)
    out, st = run(pairs, b'a:2:{i:0;O:8:"stdClass":1:{s:1:"u";s:11:"example.com";}i:1;r:2;}')
    assert out == b'a:2:{i:0;O:8:"stdClass":1:{s:1:"u";s:15:"www.example.com";}i:1;r:2;}'
    assert st == stats(replacements=1)


# -- scalars ---------------------------------------------------------------------------------------

DIGIT_PAIRS = [(b"5", b"6"), (b"0", b"9"), (b"1", b"7"), (b"N", b"M"), (b"E", b"F"), (b"-", b"+")]


def test_scalars_and_numeric_string_keys_keep_their_bytes() -> None:
    value = (
        b'a:6:{i:0;b:1;i:1;i:-5;i:2;d:0.1000000000000000055511151231257827;i:3;N;s:1:"5";s:1:"5";'
        b"i:4;d:-1.0E+25;}"
    )
    out, st = run(DIGIT_PAIRS, value)
    assert out == (
        b'a:6:{i:0;b:1;i:1;i:-5;i:2;d:0.1000000000000000055511151231257827;i:3;N;s:1:"5";s:1:"6";'
        b"i:4;d:-1.0E+25;}"
    )
    assert st == stats(replacements=1)


@pytest.mark.parametrize(
    "value",
    [
        b"i:-5;",
        b"i:15;",
        b"d:0.1000000000000000055511151231257827;",
        b"d:-INF;",
        b"d:NAN;",
        b"b:0;",
        b"b:1;",
        b"N;",
        b"a:0:{}",
        b's:0:"";',
    ],
)
def test_top_level_scalars_are_untouched(value: bytes) -> None:
    assert_untouched(DIGIT_PAIRS, value)


# -- text that only looks serialized ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "value", "expected", "malformed"),
    [
        ([(b"answer", b"reply")], b"a:1 is the answer;", b"a:1 is the reply;", 1),
        ([(b"0", b"1")], b"border:0;", b"border:1;", 0),
        ([(b"0", b"1")], b"b:0 is false;", b"b:1 is false;", 1),
        # a wrong declared length: plain replacement, the (already wrong) length is not repaired
        (B, b'a:1:{i:0;s:12:"example.com";}', b'a:1:{i:0;s:12:"example.org.uk";}', 1),
        # trailing garbage after a complete value
        (B, b's:11:"example.com";x;', b's:11:"example.org.uk";x;', 1),
        (B, b'a:1:{i:0;s:11:"example.com";}}', b'a:1:{i:0;s:11:"example.org.uk";}}', 1),
        # truncated
        (B, b'a:2:{i:0;s:11:"example.com";}', b'a:2:{i:0;s:11:"example.org.uk";}', 1),
        # R: is no top-level value, so this does not even look serialized
        (B, b"R:1;example.com;", b"R:1;example.org.uk;", 0),
    ],
    ids=["answer", "css", "b-colon", "wrong-length", "trailing", "extra-brace", "truncated", "bare-ref"],
)
def test_look_alikes_are_plain_text(
    pairs: list[tuple[bytes, bytes]], value: bytes, expected: bytes, malformed: int
) -> None:
    out, st = run(pairs, value)
    assert out == expected
    assert st == stats(replacements=1, malformed=malformed)


def test_malformed_string_inside_a_valid_value_is_plain_inside_a_fixed_length() -> None:
    out, st = run(B, b'a:1:{i:0;s:19:"s:99:"example.com";";}')
    assert out == b'a:1:{i:0;s:22:"s:99:"example.org.uk";";}'
    assert st == stats(replacements=1, malformed=1)


def test_malformed_counts_once_per_value_not_per_call() -> None:
    replacer = Replacer(B)
    for _ in range(3):
        replacer.replace(b"s:1:example.com;")
    assert replacer.stats == ReplaceStats(3, 3, 3, 3, 0, 0)


# -- surrounding whitespace ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'a:1:{i:0;s:11:"example.com";}\n', b'a:1:{i:0;s:14:"example.org.uk";}\n'),
        (b'\n  a:1:{i:0;s:11:"example.com";}\r\n', b'\n  a:1:{i:0;s:14:"example.org.uk";}\r\n'),
        (b'\t\x0bs:11:"example.com"; \x00', b'\t\x0bs:14:"example.org.uk"; \x00'),
    ],
)
def test_whitespace_around_a_serialized_value_is_kept(value: bytes, expected: bytes) -> None:
    out, st = run(B, value)
    assert out == expected
    assert st == stats(replacements=1)


# -- JSON ------------------------------------------------------------------------------------------


def test_json_escaped_slashes() -> None:
    out, st = run(URL, b'{"url":"http:\\/\\/example.com\\/page","x":"http://example.com"}')
    assert out == b'{"url":"https:\\/\\/example.org\\/page","x":"https://example.org"}'
    assert st == stats(replacements=2)


def test_json_inside_serialized() -> None:
    out, st = run(URL, b'a:1:{s:4:"json";s:33:"{"url":"http:\\/\\/example.com\\/x"}";}')
    assert out == b'a:1:{s:4:"json";s:34:"{"url":"https:\\/\\/example.org\\/x"}";}'
    assert st == stats(replacements=1)


def test_json_inside_json_needs_its_own_pair() -> None:
    value = rb'{"inner":"{\"url\":\"http:\\\/\\\/example.com\"}"}'
    # The pair's JSON-escaped form is one level deep; doubly escaped text is another encoding.
    assert_untouched(URL, value)
    # A pair written in the once-escaped form gets the doubly escaped form as its JSON form.
    out, st = run([(rb"http:\/\/example.com", rb"https:\/\/example.org")], value)
    assert out == rb'{"inner":"{\"url\":\"https:\\\/\\\/example.org\"}"}'
    assert st == stats(replacements=1)


def test_json_unicode_escapes_when_the_pair_has_non_ascii() -> None:
    pairs = [("https://café.example", "https://cafe.example")]
    out, st = run(
        pairs, rb'{"home":"https:\/\/caf\u00e9.example\/","raw":"https://caf' + "é".encode() + b'.example/"}'
    )
    assert out == rb'{"home":"https:\/\/cafe.example\/","raw":"https://cafe.example/"}'
    assert st == stats(replacements=2)
    # a non-ASCII replacement is written escaped into the escaped form
    out, st = run([("http://a.example", "http://ä.example")], rb'["http:\/\/a.example"]')
    assert out == rb'["http:\/\/\u00e4.example"]'
    # beyond the BMP: a surrogate pair, lowercase hex as PHP writes it
    out, st = run([("😀", "x")], rb'"\ud83d\ude00"')
    assert out == b'"x"'


def test_json_form_escapes_quotes_and_backslashes() -> None:
    out, st = run([(b'say "hi"', b"say 'hi'")], b'{"t":"say \\"hi\\""}')
    assert out == b'{"t":"say \'hi\'"}'
    assert st == stats(replacements=1)


def test_json_form_keeps_del_raw_like_php() -> None:
    # PHP's json_encode("x/\x7f") is "x\/\x7f": DEL is not escaped (Python's json.dumps would write \u007f)
    out, st = run([(b"x/\x7f", b"y")], b'{"k":"x\\/\x7f"}')
    assert out == b'{"k":"y"}'
    assert st == stats(replacements=1)


@pytest.mark.parametrize(
    "value",
    [
        b'{"a":"caf\\u00e9","b":{},"c":[],"d":1.0}',
        b'a:1:{s:4:"json";s:8:"{"a":{}}";}',
        b"plain text without the search string",
        b"",
    ],
)
def test_values_without_a_match_are_the_same_object(value: bytes) -> None:
    assert_untouched(URL, value)


# -- other encodings of a URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"https%3A%2F%2Fexample.com%2Fpage",
        b"http%3A%2F%2Fexample.com",
        base64.b64encode(b"http://example.com/"),
        zlib.compress(b"http://example.com/ http://example.com/"),
        b"HTTP://EXAMPLE.COM",  # matching is case-sensitive
    ],
    ids=["urlencoded-https", "urlencoded-http", "base64", "zlib", "uppercase"],
)
def test_other_encodings_are_untouched(value: bytes) -> None:
    assert_untouched(URL, value)


def test_an_encoded_form_is_replaced_when_a_pair_names_it() -> None:
    out, st = run(
        [(b"http%3A%2F%2Fexample.com", b"https%3A%2F%2Fexample.org")], b"u=http%3A%2F%2Fexample.com%2F"
    )
    assert out == b"u=https%3A%2F%2Fexample.org%2F"
    assert st == stats(replacements=1)


# -- substring traps and str_replace semantics ---------------------------------------------------


def test_plain_pairs_hit_every_substring() -> None:
    out, st = run([(b"example.com", b"example.org")], b"example.com.au myexample.com mail@example.com")
    assert out == b"example.org.au myexample.org mail@example.org"
    assert st == stats(replacements=3)


def test_a_replacement_containing_its_search_is_applied_once() -> None:
    pairs = [(b"example.com", b"www.example.com")]
    out, st = run(pairs, b"example.com, www.example.com")
    assert out == b"www.example.com, www.www.example.com"
    assert st == stats(replacements=2)
    out, st = run(pairs, b'a:1:{i:0;s:11:"example.com";}')
    assert out == b'a:1:{i:0;s:15:"www.example.com";}'


def test_pairs_apply_in_order_each_over_the_previous_result() -> None:
    out, st = run([(b"a", b"b"), (b"b", b"c")], b"ab")
    assert out == b"cc"
    assert st == stats(replacements=3)
    # left to right, non-overlapping
    out, st = run([(b"aa", b"b")], b"aaaaa")
    assert out == b"bba"
    assert st == stats(replacements=2)


def test_changed_and_changed_back_is_the_same_object() -> None:
    value = b'a:1:{i:0;s:1:"a";}'
    out, st = run([(b"a", b"b"), (b"b", b"a")], b"a")
    assert out == b"a"
    assert st == stats(changed=0, replacements=2)
    out, st = run([(b"x", b"y"), (b"y", b"x")], value)
    assert out is value


def test_empty_search_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="empty search"):
        Replacer([("", "x")])
    with pytest.raises(UsageError, match="empty search"):
        Rule(b"", b"x")
    with pytest.raises(UsageError):
        Replacer([("a",)])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        _pyreplace.Core([(b"", b"x", 0, ())])


# -- host-aware rules ----------------------------------------------------------------------------------


def test_host_start_and_end() -> None:
    rule = Rule(b"example.com", b"example.org", host_start=True, host_end=True)
    value = (
        b"example.com mail@example.com example.com.au myexample.com sub.example.com example.com. "
        b"(example.com/x) example.com-cdn example.com_x"
    )
    out, st = run([rule], value)
    assert out == (
        b"example.org mail@example.com example.com.au myexample.com sub.example.com example.org. "
        b"(example.org/x) example.com-cdn example.com_x"
    )
    assert st == stats(replacements=3)


def test_host_flags_carry_to_the_json_form() -> None:
    rule = Rule(b"http://example.com", b"https://example.org", host_end=True)
    out, st = run([rule], rb'["http:\/\/example.com.au","http:\/\/example.com\/"]')
    assert out == rb'["http:\/\/example.com.au","https:\/\/example.org\/"]'
    assert st == stats(replacements=1)


def test_subdomain_rule() -> None:
    rule = Rule(b".example.com", b".example.org", subdomain=True, host_end=True)
    value = b"www.example.com a.b.example.com .example.com me@www.example.com x.example.com.au"
    out, st = run([rule], value)
    assert out == b"www.example.org a.b.example.org .example.com me@www.example.com x.example.com.au"
    assert st == stats(replacements=2)
    with pytest.raises(UsageError, match=r"must start with '\.'"):
        Rule(b"example.com", b"example.org", subdomain=True)


def test_exclude_hosts() -> None:
    rule = Rule(".example.com", ".example.org", subdomain=True, exclude_hosts=("cdn.example.com",))
    value = b"www.example.com cdn.example.com img.cdn.example.com xcdn.example.com"
    out, st = run([rule], value)
    assert out == b"www.example.org cdn.example.com img.cdn.example.com xcdn.example.org"
    assert st == stats(replacements=2)


def test_host_rules_inside_serialized_values() -> None:
    rule = Rule(b"example.com", b"example.org.uk", host_start=True, host_end=True)
    value = b'a:2:{i:0;s:16:"mail@example.com";i:1;s:11:"example.com";}'
    out, st = run([rule], value)
    assert out == b'a:2:{i:0;s:16:"mail@example.com";i:1;s:14:"example.org.uk";}'
    assert st == stats(replacements=1)
    assert_untouched([rule], b'a:1:{i:0;s:16:"mail@example.com";}')


# -- statistics and rows ---------------------------------------------------------------------------


def test_stats_accumulate_and_reset() -> None:
    replacer = Replacer(B)
    replacer.replace(b"example.com example.com")
    replacer.replace(b"nothing")
    replacer.replace(b'a:1:{i:0;C:1:"X":0:{}}')
    assert replacer.stats == ReplaceStats(3, 1, 2, 0, 1, 0)
    assert replacer.stats.as_dict()["replacements"] == 2
    replacer.reset_stats()
    assert replacer.stats == ReplaceStats()


def test_render_rows_kinds_escapes_chunks_and_checksum() -> None:
    replacer = Replacer([(b"example.com", b"example.org")])
    rows = [
        (b"1", b"it's example.com\n\\\x00\r\x1a\"", None, b"\x00\xff", b"2024-01-01 00:00:00"),
        (b"2", b"", b"", b"", b"x"),
    ]
    row1 = b"(1,'it\\'s example.org\\n\\\\\\0\\r\\Z\\\"',NULL,0x00FF,'2024-01-01 00:00:00')"
    row2 = b"(2,'','','','x')"
    chunks, originals, counts, checksum = replacer.render_rows(rows, b"NTQXQ")
    assert chunks == [row1 + b"," + row2]
    assert originals is None
    assert counts == [2]
    crc = zlib.crc32
    expected = crc(
        b"%d,%d,N,%d,%d"
        % (crc(b"1"), crc(b"it's example.org\n\\\x00\r\x1a\""), crc(b"\x00\xff"), crc(b"2024-01-01 00:00:00"))
    )
    expected += crc(b"%d,%d,%d,%d,%d" % (crc(b"2"), crc(b""), crc(b""), crc(b""), crc(b"x")))
    assert checksum == expected
    assert replacer.stats == ReplaceStats(2, 1, 1, 0, 0, 0)
    # a chunk closes before a row would pass max_chunk; originals split at the same rows
    chunks, originals, counts, _ = replacer.render_rows(
        rows, b"NTQXQ", max_chunk=len(row1) + 1, with_original=True
    )
    assert chunks == [row1, row2]
    assert originals == [row1.replace(b"example.org", b"example.com"), row2]
    assert counts == [1, 1]
    with pytest.raises(ValueError):
        replacer.render_rows([(b"1",)], b"NT")
