"""Pure-Python twin of `wfuwp._fastreplace`: the readable reference of the replacement core.

Both modules export the same names with the same behaviour, byte for byte and count for count; the
test suite runs against each. `wfuwp.replace` chooses one and wraps it; callers use that, not this.

The contract is docs/replacement.md. In short: rules apply in order with PHP `str_replace` semantics;
a value that is a complete PHP-serialized value (whitespace around it allowed) is rewritten
structurally, string values only, lengths recomputed; anything else is replaced as plain bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

# Rule flags (see wfuwp.replace.Rule).
HOST_START = 1
HOST_END = 2
SUBDOMAIN = 4

# Nesting of serialized values inside serialized STRINGS (double serialization) deeper than this
# leaves the whole column value unchanged and counts it; container nesting has no limit.
MAX_NESTED_SERIALIZED = 64

# Column kinds for render_rows.
KIND_TEXT = ord("T")  # text column: replaced, then quoted
KIND_QUOTED = ord("Q")  # temporal, enum, set: quoted as is
KIND_HEX = ord("X")  # binary, blob, bit: 0x... hex literal, byte for byte
KIND_NUMBER = ord("N")  # numeric: the server's own text, unquoted

# Indexes of the stats tuple.
STAT_NAMES = (
    "values_seen",
    "values_changed",
    "replacements",
    "malformed_serialized",
    "skipped_custom",
    "too_deep",
)

# PHP's trim() set, which WordPress's is_serialized() and maybe_unserialize() strip.
_PHP_WHITESPACE = b" \t\n\r\x00\x0b"
_LABEL_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_HOST_CHARS = _LABEL_CHARS | {ord(".")}
_DIGITS = frozenset(b"0123456789")
_FLOAT_CHARS = frozenset(b"0123456789+-.eEINFA")
_AT = ord("@")
_DOT = ord(".")

_SQL_ESCAPES = (
    (b"\\", b"\\\\"),
    (b"\x00", b"\\0"),
    (b"\n", b"\\n"),
    (b"\r", b"\\r"),
    (b"'", b"\\'"),
    (b'"', b'\\"'),
    (b"\x1a", b"\\Z"),
)

Rule = tuple[bytes, bytes, int, tuple[bytes, ...]]


class _Malformed(Exception):
    """The bytes are not one complete serialized value."""


class _TooDeep(Exception):
    """Serialized strings nest deeper than MAX_NESTED_SERIALIZED."""


class _Counts:
    """Counters of one top-level value, committed only when the value completes."""

    __slots__ = ("malformed", "replacements", "skipped_custom")

    def __init__(self) -> None:
        self.replacements = 0
        self.malformed = 0
        self.skipped_custom = 0


def looks_serialized(data: bytes) -> bool:
    """Tell whether trimmed `data` has the shape of a serialized value (as WordPress's loose check)."""
    if data == b"N;":
        return True
    if len(data) < 4 or data[1] != ord(":") or data[0] not in b"aOsCEbid":
        return False
    return data[-1] in b";}"


class Core:
    """Apply compiled rules to values and rows; keeps running statistics."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        for search, _replace, _flags, _excludes in rules:
            if not search:
                raise ValueError("search strings must be non-empty")
        self._rules = [(bytes(s), bytes(r), int(f), tuple(bytes(x) for x in e)) for s, r, f, e in rules]
        self._stats = [0, 0, 0, 0, 0, 0]

    @property
    def stats(self) -> tuple[int, ...]:
        """Counters in STAT_NAMES order since creation (or the last reset)."""
        return tuple(self._stats)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._stats = [0, 0, 0, 0, 0, 0]

    # -- one value -------------------------------------------------------------------------------

    def replace(self, value: bytes) -> bytes:
        """Return `value` with the rules applied; the same object when nothing changed."""
        stats = self._stats
        stats[0] += 1
        counts = _Counts()
        try:
            out = self._value(value, 0, counts)
        except _TooDeep:
            stats[5] += 1
            return value
        stats[2] += counts.replacements
        stats[3] += counts.malformed
        stats[4] += counts.skipped_custom
        if out == value:
            return value
        stats[1] += 1
        return out

    def _value(self, value: bytes, depth: int, counts: _Counts) -> bytes:
        start = len(value) - len(value.lstrip(_PHP_WHITESPACE))
        end = len(value.rstrip(_PHP_WHITESPACE))
        if start < end and looks_serialized(value[start:end]):
            if depth >= MAX_NESTED_SERIALIZED:
                raise _TooDeep
            try:
                spans, custom = _scan(value, start, end)
            except _Malformed:
                counts.malformed += 1
            else:
                counts.skipped_custom += custom
                return self._rewrite_strings(value, spans, depth, counts)
        return self._plain(value, counts)

    def _rewrite_strings(
        self, value: bytes, spans: list[tuple[int, int, int, int]], depth: int, counts: _Counts
    ) -> bytes:
        parts: list[bytes] = []
        last = 0
        for len_start, len_end, content_start, content_end in spans:
            content = value[content_start:content_end]
            new = self._value(content, depth + 1, counts)
            if new == content:
                continue
            # Keep every byte outside changed strings as it was; only the length digits and content change.
            parts += (value[last:len_start], b"%d" % len(new), value[len_end:content_start], new)
            last = content_end
        if not parts:
            return value
        parts.append(value[last:])
        return b"".join(parts)

    def _plain(self, value: bytes, counts: _Counts) -> bytes:
        for search, replacement, flags, excludes in self._rules:
            if search not in value:
                continue
            if flags == 0:
                counts.replacements += value.count(search)
                value = value.replace(search, replacement)
            else:
                value = _replace_guarded(value, search, replacement, flags, excludes, counts)
        return value

    # -- rows to SQL -----------------------------------------------------------------------------

    def render_rows(
        self,
        rows: Sequence[Sequence[bytes | None]],
        kinds: bytes,
        max_chunk: int,
        with_original: bool,
        with_load: bool = False,
    ) -> tuple[list[bytes], list[bytes] | None, list[int], int, list[bytes] | None]:
        """Render rows as SQL tuple lists `(...),(...)`, replacing text columns.

        Returns (chunks, original_chunks, rows_per_chunk, checksum, load_chunks). A chunk grows until
        adding a row would pass `max_chunk` bytes (a single larger row is a chunk of its own).
        `original_chunks` renders the values before replacement at the same row boundaries, or is None
        without `with_original`. `checksum` is the sum of the rows' checksums (see row_checksum) after
        replacement. `load_chunks` (None without `with_load`) holds the same rows, replaced, at the same
        boundaries, in LOAD DATA's default format (see load_line).
        """
        if any(len(row) != len(kinds) for row in rows):
            raise ValueError("every row must have one value per column kind")
        chunks: list[bytes] = []
        originals: list[bytes] = []
        counts_per_chunk: list[int] = []
        current: list[bytes] = []
        current_original: list[bytes] = []
        loads: list[bytes] = []
        current_load: list[bytes] = []
        current_size = 0
        checksum = 0
        for row in rows:
            new_row = [
                None if v is None else (self.replace(bytes(v)) if kind == KIND_TEXT else bytes(v))
                for v, kind in zip(row, kinds, strict=True)
            ]
            checksum += row_checksum(new_row)
            rendered = _render_tuple(new_row, kinds)
            if current and current_size + 1 + len(rendered) > max_chunk:
                chunks.append(b",".join(current))
                counts_per_chunk.append(len(current))
                if with_original:
                    originals.append(b",".join(current_original))
                if with_load:
                    loads.append(b"".join(current_load))
                current, current_original, current_load, current_size = [], [], [], 0
            current.append(rendered)
            current_size += len(rendered) + (1 if len(current) > 1 else 0)
            if with_original:
                current_original.append(_render_tuple(row, kinds))
            if with_load:
                current_load.append(load_line(new_row))
        if current:
            chunks.append(b",".join(current))
            counts_per_chunk.append(len(current))
            if with_original:
                originals.append(b",".join(current_original))
            if with_load:
                loads.append(b"".join(current_load))
        return (chunks, (originals if with_original else None), counts_per_chunk, checksum,
                (loads if with_load else None))  # fmt: skip


def row_checksum(row: Sequence[bytes | None]) -> int:
    """Checksum one row as the server computes it with `checksum_sql_expression`.

    CRC32 of the comma-joined decimal CRC32s of the column values (`N` for NULL); CRC32 per column
    first so that the server never has to build a string as long as the whole row.
    """
    parts = [b"N" if v is None else b"%d" % zlib.crc32(v) for v in row]
    return zlib.crc32(b",".join(parts))


def sql_quote(value: bytes) -> bytes:
    """Quote bytes as a MySQL string literal, escaping as mysql_real_escape_string does."""
    for raw, escaped in _SQL_ESCAPES:
        if raw in value:
            value = value.replace(raw, escaped)
    return b"'" + value + b"'"


_LOAD_ESCAPES = (
    (b"\\", b"\\\\"),
    (b"\x00", b"\\0"),
    (b"\t", b"\\t"),
    (b"\n", b"\\n"),
)


def load_line(row: Sequence[bytes | None]) -> bytes:
    """One row in LOAD DATA's default format (fields ended by TAB, lines by LF, escaped by backslash):
    NULL is `\\N`; in a value, backslash, NUL, TAB and LF are escaped; every other byte is itself."""
    fields = []
    for value in row:
        if value is None:
            fields.append(b"\\N")
            continue
        value = bytes(value)
        for raw, escaped in _LOAD_ESCAPES:
            if raw in value:
                value = value.replace(raw, escaped)
        fields.append(value)
    return b"\t".join(fields) + b"\n"


def _render_tuple(row: Sequence[bytes | None], kinds: bytes) -> bytes:
    out = []
    for value, kind in zip(row, kinds, strict=True):
        if value is None:
            out.append(b"NULL")
        elif kind == KIND_NUMBER:
            out.append(bytes(value))
        elif kind == KIND_HEX:
            out.append(b"0x" + bytes(value).hex().upper().encode() if value else b"''")
        else:
            out.append(sql_quote(bytes(value)))
    return b"(" + b",".join(out) + b")"


# -- guarded (host-aware) matching ---------------------------------------------------------------


def _match_allowed(value: bytes, start: int, end: int, flags: int, excludes: tuple[bytes, ...]) -> bool:
    if flags & HOST_END and end < len(value):
        after = value[end]
        if after in _LABEL_CHARS:
            return False
        if after == _DOT and end + 1 < len(value) and value[end + 1] in _LABEL_CHARS:
            return False
    token_start = start
    if flags & HOST_START and start > 0:
        before = value[start - 1]
        if before in _HOST_CHARS or before == _AT:
            return False
    if flags & SUBDOMAIN:
        if start == 0 or value[start - 1] not in _LABEL_CHARS:
            return False
        token_start = start - 1
        while token_start > 0 and value[token_start - 1] in _HOST_CHARS:
            token_start -= 1
        if token_start > 0 and value[token_start - 1] == _AT:
            return False
    if excludes:
        token = value[token_start:end]
        for host in excludes:
            if token == host or (token.endswith(host) and token[len(token) - len(host) - 1] == _DOT):
                return False
    return True


def _replace_guarded(
    value: bytes,
    search: bytes,
    replacement: bytes,
    flags: int,
    excludes: tuple[bytes, ...],
    counts: _Counts,
) -> bytes:
    parts: list[bytes] = []
    last = 0
    found = value.find(search)
    while found != -1:
        end = found + len(search)
        if _match_allowed(value, found, end, flags, excludes):
            parts += (value[last:found], replacement)
            counts.replacements += 1
            last = end
            found = value.find(search, end)
        else:
            found = value.find(search, found + 1)
    if not parts:
        return value
    parts.append(value[last:])
    return b"".join(parts)


# -- the serialized-value scanner ----------------------------------------------------------------


def _read_uint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read PHP's unsigned integer (digits only) at pos; return (value, position after)."""
    start = pos
    while pos < end and data[pos] in _DIGITS:
        pos += 1
    if pos == start or pos - start > 18:
        raise _Malformed
    return int(data[start:pos]), pos


def _expect(data: bytes, pos: int, end: int, token: bytes) -> int:
    if data[pos : pos + len(token)] != token or pos + len(token) > end:
        raise _Malformed
    return pos + len(token)


def _skip_until_semicolon(data: bytes, pos: int, end: int, allowed: frozenset[int]) -> int:
    start = pos
    while pos < end and data[pos] in allowed:
        pos += 1
    if pos == start or pos >= end or data[pos] != ord(";"):
        raise _Malformed
    return pos + 1


def _read_int(data: bytes, pos: int, end: int) -> int:
    if pos < end and data[pos] in b"+-":
        pos += 1
    return _skip_until_semicolon(data, pos, end, _DIGITS)


def _read_quoted(data: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """Read `N:"<N bytes>"` at pos; return (len_start, len_end, content_start, content_end)."""
    length, len_end = _read_uint(data, pos, end)
    content_start = _expect(data, len_end, end, b':"')
    content_end = content_start + length
    if content_end + 1 > end or data[content_end] != ord('"'):
        raise _Malformed
    return pos, len_end, content_start, content_end


def _scan(data: bytes, pos: int, end: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """Validate data[pos:end] as one serialized value; return its string-value spans and C: count.

    Iterative (an explicit stack of remaining items per open container), so nesting depth is bounded
    only by the input's size. Raises _Malformed for anything PHP's unserialize() would refuse.
    """
    spans: list[tuple[int, int, int, int]] = []
    custom = 0
    remaining: list[int] = []  # items (keys and values) left in each open container
    while True:
        if remaining:
            if remaining[-1] == 0:
                pos = _expect(data, pos, end, b"}")
                remaining.pop()
                if not remaining:
                    break
                continue
            is_key = remaining[-1] % 2 == 0
            remaining[-1] -= 1
        else:
            is_key = False
        if pos + 2 > end:
            raise _Malformed
        tag = data[pos]
        if is_key and tag not in b"is":
            raise _Malformed
        if tag == ord("N"):
            pos = _expect(data, pos, end, b"N;")
        elif data[pos + 1] != ord(":"):
            raise _Malformed
        elif tag == ord("s"):
            span = _read_quoted(data, pos + 2, end)
            pos = _expect(data, span[3], end, b'";')
            if not is_key:
                spans.append(span)
        elif tag == ord("i"):
            pos = _read_int(data, pos + 2, end)
        elif tag == ord("b"):
            if pos + 4 > end or data[pos + 2] not in b"01" or data[pos + 3] != ord(";"):
                raise _Malformed
            pos += 4
        elif tag == ord("d"):
            pos = _skip_until_semicolon(data, pos + 2, end, _FLOAT_CHARS)
        elif tag in b"Rr":
            if not remaining:
                raise _Malformed
            pos = _read_int(data, pos + 2, end)
        elif tag == ord("E"):
            span = _read_quoted(data, pos + 2, end)
            pos = _expect(data, span[3], end, b'";')
        elif tag == ord("a") or tag == ord("O"):
            pos += 2
            if tag == ord("O"):
                class_name = _read_quoted(data, pos, end)
                pos = _expect(data, class_name[3], end, b'":')
            count, pos = _read_uint(data, pos, end)
            # Each item takes at least 4 bytes; a count beyond that cannot be satisfied.
            if count > end - pos:
                raise _Malformed
            pos = _expect(data, pos, end, b":{")
            remaining.append(2 * count)
            continue
        elif tag == ord("C"):
            span = _read_quoted(data, pos + 2, end)
            pos = _expect(data, span[3], end, b'":')
            length, pos = _read_uint(data, pos, end)
            pos = _expect(data, pos, end, b":{") + length
            pos = _expect(data, pos, end, b"}")
            custom += 1
        else:
            raise _Malformed
        if not remaining:
            break
    if pos != end:
        raise _Malformed
    return spans, custom
