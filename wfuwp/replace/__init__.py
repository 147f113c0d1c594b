"""Serialization-safe search-replace: the public `Replacer` and the choice of core.

The compiled core (`wfuwp._fastreplace`, Cython) is used when it was built; `WFUWP_NO_EXTENSIONS=1`
selects the pure-Python twin (`wfuwp._pyreplace`), which behaves byte for byte the same. A missing
compiled core is never silent: it warns, and `IMPLEMENTATION` says which one runs.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from types import ModuleType

from wfuwp._pyreplace import row_checksum, sql_quote
from wfuwp.errors import UsageError

NO_EXTENSIONS = os.environ.get("WFUWP_NO_EXTENSIONS", "") not in ("", "0")

_core: ModuleType
if NO_EXTENSIONS:
    from wfuwp import _pyreplace as _core

    IMPLEMENTATION = "python"
else:
    try:
        from wfuwp import _fastreplace as _core  # type: ignore[attr-defined,no-redef,unused-ignore]

        IMPLEMENTATION = "cython"
    except ImportError as exc:  # pragma: no cover - shows only on a broken build
        from wfuwp import _pyreplace as _core

        IMPLEMENTATION = "python"
        warnings.warn(
            f"wfuwp's compiled core did not load ({exc}); using the pure-Python twin, which is much slower. "
            "Reinstall wfuwp with a C compiler present, or set WFUWP_NO_EXTENSIONS=1 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )

HOST_START: int = _core.HOST_START
HOST_END: int = _core.HOST_END
SUBDOMAIN: int = _core.SUBDOMAIN

#: Column kinds understood by `Replacer.render_rows` (one byte per column).
KIND_TEXT = b"T"
KIND_QUOTED = b"Q"
KIND_HEX = b"X"
KIND_NUMBER = b"N"


@dataclass(frozen=True)
class Rule:
    """One search/replace pair, optionally host-aware.

    Plain rules (no flags) are PHP `str_replace`. The flags narrow where a match counts:
    `host_start`: not preceded by a host character `[A-Za-z0-9_.-]` or `@`;
    `host_end`: not followed by `[A-Za-z0-9_-]`, nor by `.` and such a character;
    `subdomain`: the search starts with `.`, follows a label character, and the host it ends is not
    an e-mail domain (not preceded by `@`);
    `exclude_hosts`: skip a match whose host (from its start to the match's end) is one of these or a
    subdomain of one.
    """

    search: bytes
    replace: bytes
    host_start: bool = False
    host_end: bool = False
    subdomain: bool = False
    exclude_hosts: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for name in ("search", "replace"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.encode("utf-8"))
            elif not isinstance(value, bytes):
                raise UsageError(f"replacement {name} must be str or bytes, not {type(value).__name__}")
        object.__setattr__(
            self,
            "exclude_hosts",
            tuple(h.encode("utf-8") if isinstance(h, str) else bytes(h) for h in self.exclude_hosts),
        )
        if not self.search:
            raise UsageError("a replacement pair has an empty search string: give every pair a search text")
        if self.subdomain and not self.search.startswith(b"."):
            text = self.search.decode("utf-8", "replace")
            raise UsageError(f"subdomain rule {text!r} must start with '.': write it as '.{text}'")

    @property
    def flags(self) -> int:
        """The rule's flags as the core's bit set."""
        return (
            (HOST_START if self.host_start else 0)
            | (HOST_END if self.host_end else 0)
            | (SUBDOMAIN if self.subdomain else 0)
        )


PairLike = Rule | tuple[str | bytes, str | bytes]


@dataclass(frozen=True)
class ReplaceStats:
    """What a Replacer has done since it was created (or reset)."""

    values_seen: int = 0
    values_changed: int = 0
    replacements: int = 0
    malformed_serialized: int = 0
    skipped_custom: int = 0
    too_deep: int = 0

    def __add__(self, other: ReplaceStats) -> ReplaceStats:
        return ReplaceStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def json_escaped(data: bytes) -> bytes | None:
    """Return `data` as PHP's json_encode() writes it inside quotes, or None if it is not UTF-8.

    `/` -> `\\/`, `"` -> `\\"`, `\\` -> `\\\\`, control characters and non-ASCII -> `\\uXXXX`
    (lowercase hex, surrogate pairs beyond the BMP; DEL 0x7F stays raw), as PHP does with its default flags.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Python escapes DEL (0x7F) as \u007f; PHP's json_encode() leaves it raw (it escapes only < 0x20).
    # Escaping each DEL-free piece and joining on the raw DEL cannot confuse an escaped backslash with it.
    return "\x7f".join(
        json.dumps(piece, ensure_ascii=True)[1:-1].replace("/", "\\/") for piece in text.split("\x7f")
    ).encode("ascii")


def as_rule(pair: PairLike) -> Rule:
    """Turn a (search, replace) tuple or a Rule into a Rule; raise UsageError on bad input."""
    if isinstance(pair, Rule):
        return pair
    try:
        search, replacement = pair
    except (TypeError, ValueError):
        raise UsageError(f"a replacement pair must be (search, replace), got {pair!r}") from None
    return Rule(search, replacement)  # type: ignore[arg-type]


def expand_rules(pairs: Iterable[PairLike]) -> list[tuple[bytes, bytes, int, tuple[bytes, ...]]]:
    """Compile pairs for the core: each rule, then its JSON-escaped form when that differs."""
    compiled = []
    for pair in pairs:
        rule = as_rule(pair)
        compiled.append((rule.search, rule.replace, rule.flags, rule.exclude_hosts))
        search_json, replace_json = json_escaped(rule.search), json_escaped(rule.replace)
        if search_json is not None and replace_json is not None and search_json != rule.search:
            compiled.append((search_json, replace_json, rule.flags, rule.exclude_hosts))
    return compiled


class Replacer:
    """Rewrite values under an ordered list of search/replace pairs without breaking PHP-serialized data.

    `pairs` holds `(search, replace)` tuples (str is UTF-8 encoded) or `Rule`s. Each pair applies in
    order over the result of the previous one, then its JSON-escaped form. See docs/replacement.md.
    Not thread-safe: give each thread its own Replacer.
    """

    def __init__(self, pairs: Iterable[PairLike]) -> None:
        self.rules: tuple[Rule, ...] = tuple(as_rule(p) for p in pairs)
        self._core = _core.Core(expand_rules(self.rules))

    def __repr__(self) -> str:
        return f"Replacer({len(self.rules)} rules, {IMPLEMENTATION})"

    @property
    def stats(self) -> ReplaceStats:
        """Counters since creation or the last `reset_stats()`."""
        return ReplaceStats(*self._core.stats)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._core.reset_stats()

    def replace(self, value: bytes | bytearray | memoryview) -> bytes:
        """Return `value` rewritten; bytes that do not change come back identical."""
        if not isinstance(value, bytes):
            value = bytes(value)
        result: bytes = self._core.replace(value)
        return result

    def render_rows(
        self,
        rows: Sequence[Sequence[bytes | None]],
        kinds: bytes,
        *,
        max_chunk: int = 1 << 20,
        with_original: bool = False,
    ) -> tuple[list[bytes], list[bytes] | None, list[int], int]:
        """Render a batch of rows as SQL value lists, text columns replaced, in one call into the core.

        `kinds` has one byte per column: `T` text (replaced, quoted), `Q` quoted as is (temporal, enum,
        set), `X` hex literal (binary, blob, bit), `N` number as the server printed it. Returns
        `(chunks, original_chunks, rows_per_chunk, checksum)`: each chunk is `(...),(...)` of at most
        `max_chunk` bytes unless one row alone is larger; `original_chunks` (with `with_original`) renders
        the rows before replacement at the same boundaries; `checksum` sums the replaced rows' checksums,
        comparable with `wfuwp.mysql.sql.checksum_query` on the server.
        """
        chunks, originals, counts, checksum, _loads = self._core.render_rows(
            rows, kinds, max_chunk, with_original, False
        )
        return chunks, originals, counts, checksum

    def render_rows_and_load(
        self,
        rows: Sequence[Sequence[bytes | None]],
        kinds: bytes,
        *,
        max_chunk: int = 1 << 20,
        with_original: bool = False,
    ) -> tuple[list[bytes], list[bytes] | None, list[int], int, list[bytes]]:
        """`render_rows` plus a fifth item: the replaced rows at the same chunk boundaries in the
        format `LOAD DATA ... CHARACTER SET binary` reads by default (fields ended by TAB, lines by LF,
        backslash escapes, `\\N` for NULL), from the same single pass of the core.
        """
        chunks, originals, counts, checksum, loads = self._core.render_rows(
            rows, kinds, max_chunk, with_original, True
        )
        return chunks, originals, counts, checksum, loads


__all__ = [
    "HOST_END",
    "HOST_START",
    "IMPLEMENTATION",
    "SUBDOMAIN",
    "ReplaceStats",
    "Replacer",
    "Rule",
    "expand_rules",
    "json_escaped",
    "row_checksum",
    "sql_quote",
]
