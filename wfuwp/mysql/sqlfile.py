"""SQL dump files for import: split into statements, and vet each one.

Opening a file or s3:// object (and decompressing it) is wfuwp.storage.objects.open_reader's job.

`iter_statements` splits a dump as the mysql client would, streaming: memory is one statement plus one
read chunk. `check_statement` is the import's safety policy: it accepts only what a table dump made by
mariadb-dump/mysqldump contains, with literal values only, and reports every table a statement touches
(with its byte span) so the caller can check and redirect it.

Assumes the server's default quoting (backslash escapes in strings, `"` quotes strings, not
identifiers): what mariadb-dump writes unless NO_BACKSLASH_ESCAPES or ANSI_QUOTES was set.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from wfuwp.errors import SqlFileError, UsageError
from wfuwp.mysql.sql import quote_identifier_bytes

__all__ = [
    "Statement",
    "StatementKind",
    "TableRef",
    "check_statement",
    "iter_statements",
]

DEFAULT_CHUNK_SIZE = 1024 * 1024

# --------------------------------------------------------------------------------------------------------
# Splitting.
#
# One regex call consumes a whole run of statement text, complete quoted strings and identifiers included,
# and stops at the next byte that needs a decision: ';', the start of a comment, or a quote whose end is
# not in the buffer yet. A long extended INSERT is thus scanned in C, not byte by byte in Python.
#
# Python's regex engine keeps backtracking state for every iteration of a repeat: matching a 100 MiB
# INSERT with plain '*' took 8 GiB. Possessive repeats and atomic groups (Python 3.11+) keep none, and
# these patterns never need to backtrack (each alternative starts with a different byte), so on 3.11+
# memory stays one statement. On 3.10 the same patterns run without them (same results, more memory).
if sys.version_info >= (3, 11):
    _P, _ATOM = b"+", b"(?>"
else:  # pragma: no cover - exercised on Python 3.10 only
    _P, _ATOM = b"", b"(?:"

_SQ = rb"'[^'\\]*" + _P + rb"(?:\\.[^'\\]*" + _P + rb")*" + _P + rb"'"  # '' reads as two strings: same ends
_DQ = rb'"[^"\\]*' + _P + rb'(?:\\.[^"\\]*' + _P + rb")*" + _P + rb'"'
_BQ = rb"`[^`]*" + _P + rb"`"  # `` inside an identifier likewise
_RUN = re.compile(
    _ATOM + rb"[^;'\"`#/\-]+" + _P + b"|" + _SQ + b"|" + _DQ + b"|" + _BQ + rb"|/(?!\*)|-(?!-))*" + _P, re.S
)
# Inside /*! ... */ the text is code too, but '*/' ends it (and ';' does not end the statement).
_RUN_VERSIONED = re.compile(
    _ATOM
    + rb"[^;'\"`#/\-*]+"
    + _P
    + b"|"
    + _SQ
    + b"|"
    + _DQ
    + b"|"
    + _BQ
    + rb"|/(?!\*)|-(?!-)|\*(?!/)|;)*"
    + _P,
    re.S,
)
_SPACE = re.compile(rb"[ \t\r\n\f\v]*")
# The mysql client's DELIMITER command (a line of its own): triggers and routines use it for bodies
# whose statements end in ';'. A delimiter here is 1-8 bytes, none of them quotes, '#', '-', '\\'
# or space, so that it can never be part of a string, a comment or an escape.
_DELIMITER_LINE = re.compile(rb"(?i)delimiter[ \t]+([^ \t\r\n]+)[ \t\r]*(?:\n|$)")
_DELIMITER_BYTES = re.compile(rb"[^'\"`#\-\\ \t\r\n\f\v]{1,8}")


def _run_for(delimiter: bytes) -> re.Pattern[bytes]:
    """_RUN for a statement that ends at `delimiter` instead of ';' (which is then ordinary text)."""
    if delimiter == b";":
        return _RUN
    first, rest = delimiter[:1], delimiter[1:]
    # The first byte starts the delimiter only when the rest follows; otherwise it is ordinary text.
    guarded = [re.escape(first) + b"(?!" + re.escape(rest) + b")"] if rest else []
    stops = b";'\"`#/\\-" + (b"" if first in b";/" else re.escape(first))
    alternatives = [b"[^" + stops + b"]+" + _P, _SQ, _DQ, _BQ, rb"-(?!-)"]
    if first == b"/":
        alternatives += [rb"/(?!\*)(?!" + re.escape(rest) + b")"] if rest else []
        alternatives.append(b";")
    elif first == b";":
        alternatives += [rb"/(?!\*)", *guarded]
    else:
        alternatives += [rb"/(?!\*)", b";", *guarded]
    return re.compile(_ATOM + b"|".join(alternatives) + b")*" + _P, re.S)


# /*!40101 ...*/ and MariaDB's /*M!100616 ...*/ run on servers at least that version; the body follows.
_VERSIONED_OPEN = re.compile(rb"/\*M?!([0-9]{0,6})")
_WS_BYTES = b" \t\r\n\f\v"


def _stream_name(stream: Any) -> str:
    name = getattr(stream, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "the SQL file"


def iter_statements(
    stream: BinaryIO,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    require_terminator: bool = False,
    name: str | None = None,
) -> Iterator[bytes]:
    """Yield the statements of an SQL dump read from binary `stream`, without their terminating ';'.

    A statement runs from its first token to the byte before its ';' (trailing whitespace removed).
    Comments between statements are dropped; comments inside one are kept. Versioned comments
    (`/*!40101 SET NAMES utf8mb4 */`) are code and form statements; a ';' inside one does not end it.
    MariaDB's client-command comment `/*M!999999\\- enable the sandbox mode */` is dropped (the server
    never sees those). The last statement may lack ';' unless `require_terminator`.

    The client's `DELIMITER ;;` command, on a line of its own between statements, is obeyed as the
    mysql client obeys it (mariadb-dump writes triggers that way); the statements it ends are yielded
    without their delimiter, and DELIMITER lines themselves are not yielded.

    Raises SqlFileError when the input ends inside a string, identifier or comment ("truncated at byte
    N"), or with `require_terminator` inside a statement, and for a DELIMITER that is not 1-8 plain
    bytes. `name` is used in messages (default: `stream.name`).
    """
    label = name or _stream_name(stream)
    buf = b""
    base = 0  # absolute offset of buf[0] in the stream
    pos = 0  # next byte to scan
    start: int | None = None  # where the current statement began, if one has
    versioned = False  # inside /*! ... */
    eof = False
    delimiter = b";"
    run = _RUN

    def truncated(what: str) -> SqlFileError:
        return SqlFileError(
            f"{label} is truncated at byte {base + len(buf)} ({what}): "
            "the file is incomplete; download it again"
        )

    def refill() -> None:
        """Read more, dropping what is done: the buffer keeps the current statement (or token) only."""
        nonlocal buf, base, pos, start, eof
        keep = start if start is not None else pos
        # Reading at least as much as is kept makes a statement longer than one chunk cost O(n) copies.
        chunk = stream.read(max(chunk_size, len(buf) - keep))
        if not chunk:
            eof = True
        buf = buf[keep:] + bytes(chunk)
        base += keep
        pos -= keep
        if start is not None:
            start -= keep

    while True:
        if pos >= len(buf) - 16 and not eof:
            refill()
        if start is None:
            pos = _SPACE.match(buf, pos).end()  # type: ignore[union-attr]  # matches the empty string
            if pos >= len(buf):
                if eof:
                    return
                continue
            if len(buf) - pos < 10 and not eof and b"delimiter".startswith(buf[pos:].lower()):
                refill()  # too little read to tell a DELIMITER line
                continue
            if buf[pos : pos + 9].upper() == b"DELIMITER" and buf[pos + 9 : pos + 10] in (b" ", b"\t"):
                if not eof and buf.find(b"\n", pos) < 0:
                    refill()  # the rest of the line is not read yet
                    continue
                line = _DELIMITER_LINE.match(buf, pos)
                chosen = line.group(1) if line is not None else b""
                if line is None or not _DELIMITER_BYTES.fullmatch(chosen):
                    raise SqlFileError(
                        f"{label} has an unusable DELIMITER at byte {base + pos}: use 1-8 bytes "
                        "without quotes, '#', '-', '\\' or spaces (as mariadb-dump writes ';;')"
                    )
                delimiter, run = chosen, _run_for(chosen)
                pos = line.end()
                continue
        need_more = False
        end = (_RUN_VERSIONED if versioned else run).match(buf, pos).end()  # type: ignore[union-attr]
        at_buffer_end = end >= len(buf)
        if at_buffer_end and not eof and buf[end - 1 : end] in (b"/", b"-", b"*"):
            # That last '/', '-' or '*' may start '/*', '-- ' or '*/' with the next chunk: decide then.
            end -= 1
        elif at_buffer_end and not eof and not versioned and len(delimiter) > 1:
            # Bytes that may begin the delimiter, whose rest comes with the next chunk: decide then.
            for k in range(len(delimiter) - 1, 0, -1):
                if end - k >= pos and buf[end - k : end] == delimiter[:k]:
                    end -= k
                    break
        if end > pos and start is None:
            start = pos
        pos = end
        if at_buffer_end:
            if eof:
                break
            continue
        c = buf[pos]
        ends = c == 0x3B if delimiter == b";" else (not versioned and buf.startswith(delimiter, pos))
        if not ends and delimiter != b";" and not versioned and pos + len(delimiter) > len(buf) and not eof:
            refill()  # maybe the delimiter, cut by the end of the buffer
            continue
        if ends:
            if start is not None:
                stmt = buf[start:pos].rstrip(_WS_BYTES)
                if stmt:
                    yield stmt
            start = None
            pos += len(delimiter)
            continue
        if c == 0x3B or (c == delimiter[0] and c not in b"/"):  # ';' or a delimiter's first byte: text here
            if start is None:
                start = pos
            pos += 1
            continue
        if c in b"'\"`":
            # A quote whose closing partner is not in the buffer (else _RUN would have consumed it).
            if eof:
                raise truncated(f"inside a quoted string that starts at byte {base + pos}")
            need_more = True
        elif c == 0x23:  # '#' comment to end of line
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if eof:
                    pos = len(buf)
                    break
                need_more = True
            else:
                pos = nl + 1
        elif c == 0x2D:  # '-' followed by '-': a comment only if then whitespace/control (or EOF)
            if pos + 2 >= len(buf) and not eof:
                need_more = True
            elif pos + 2 >= len(buf) or buf[pos + 2] <= 0x20:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if eof:
                        pos = len(buf)
                        break
                    need_more = True
                else:
                    pos = nl + 1
            else:
                if start is None:
                    start = pos
                pos += 2  # '--x' is two minus signs
        elif c == 0x2A:  # '*/' closing a versioned comment
            versioned = False
            pos += 2
        else:  # '/' followed by '*'
            if pos + 12 > len(buf) and not eof:
                need_more = True  # enough to see '/*M!123456\'
            else:
                m = _VERSIONED_OPEN.match(buf, pos)
                client_command = m is not None and buf[m.end() : m.end() + 1] == b"\\"
                if m is not None and not client_command:
                    if versioned:
                        raise SqlFileError(
                            f"{label} has a versioned comment inside another at byte {base + pos}; "
                            "the file is not a plain dump"
                        )
                    versioned = True
                    if start is None:
                        start = pos
                    pos = m.end()
                else:
                    close = buf.find(b"*/", pos + 2)
                    if close < 0:
                        if eof:
                            raise truncated(f"inside a comment that starts at byte {base + pos}")
                        need_more = True
                    else:
                        pos = close + 2
        if need_more:  # the token at pos is undecided until more of the input is seen
            refill()

    # End of input.
    if versioned:
        raise truncated("inside a versioned comment")
    if start is not None:
        stmt = buf[start:].rstrip(_WS_BYTES)
        if stmt:
            if require_terminator:
                raise truncated("inside a statement with no terminating ';'")
            yield stmt


# --------------------------------------------------------------------------------------------------------
# Policy.

StatementKind = Literal[
    "set",
    "create_table",
    "drop_table",
    "insert",
    "lock_tables",
    "unlock_tables",
    "alter_keys",
    "transaction",
    "create_trigger",
]


@dataclass(frozen=True)
class TableRef:
    """A table named in a statement: its name and the byte span [start, end) of its identifier."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """A statement that passed `check_statement`.

    `tables` lists every table it names, the one it writes first (CREATE TABLE also lists the tables
    its foreign keys reference). `versioned`: it was wrapped in /*!NNNNN ... */. A CREATE TRIGGER
    (kind "create_trigger", `sql` rewritten to a plain `CREATE TRIGGER name ... ON table FOR EACH ROW
    body`, without DEFINER) names its table in `tables`, itself in `trigger`, and every identifier
    of its body in `body_names` (for the caller to check against the tables that exist).
    """

    kind: StatementKind
    sql: bytes
    tables: tuple[TableRef, ...]
    versioned: bool = False
    trigger: TableRef | None = None
    body_names: tuple[str, ...] = ()

    @property
    def table(self) -> str | None:
        """The table the statement writes (or locks, drops, creates), if any."""
        return self.tables[0].name if self.tables else None

    def with_tables(
        self, rename: Callable[[str], str], *, trigger: Callable[[str], str] | None = None
    ) -> bytes:
        """Return the statement with every table identifier replaced by `rename(name)`, backtick-quoted
        (and a trigger's own name by `trigger(name)`, when given; its body is left as it is)."""
        out = []
        prev = 0
        spans = [(ref, rename) for ref in self.tables]
        if trigger is not None and self.trigger is not None:
            spans.append((self.trigger, trigger))
        for ref, how in sorted(spans, key=lambda r: r[0].start):
            out.append(self.sql[prev : ref.start])
            try:
                out.append(quote_identifier_bytes(how(ref.name)))
            except UsageError as exc:  # a name the file made up that MySQL cannot hold
                raise SqlFileError(str(exc)) from None
            prev = ref.end
        out.append(self.sql[prev:])
        return b"".join(out)


# Tokens of statements. Versioned-comment openers and '*/' are skipped (their body is code, as for the
# server); plain comments are skipped.
_TOKEN = re.compile(
    rb"(?P<skip>[ \t\r\n\f\v]+|/\*M?![0-9]{0,6}|\*/|/\*(?!M?!).*?\*/|#[^\n]*|--(?=[\x00-\x20]|$)[^\n]*)"
    rb"|(?P<str>" + _SQ + b"|" + _DQ + rb")"
    rb"|(?P<qid>`(?:[^`]|``)*`)"
    rb"|(?P<word>[A-Za-z0-9_$\x80-\xff]+)"
    rb"|(?P<punct>.)",
    re.S,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # str, qid (backtick-quoted identifier), word, punct
    text: bytes
    start: int
    end: int

    @property
    def upper(self) -> bytes:
        return self.text.upper() if self.kind == "word" else b""


class _Parser:
    """A lazy cursor over the tokens of sql[start:end]; helpers raise the policy's one-line errors.

    Lazy so that an INSERT is tokenized only up to VALUES: its rows go to one regex.
    """

    def __init__(self, sql: bytes, start: int, end: int) -> None:
        self.sql = sql
        self._pos = start
        self.end = end
        self._ahead: list[_Tok] = []

    def peek(self) -> _Tok | None:
        while not self._ahead and self._pos < self.end:
            m = _TOKEN.match(self.sql, self._pos, self.end)
            assert m is not None  # (?P<punct>.) matches any byte
            self._pos = m.end()
            if m.lastgroup != "skip":
                self._ahead.append(_Tok(m.lastgroup or "punct", m.group(), m.start(), m.end()))
        return self._ahead[0] if self._ahead else None

    def next(self) -> _Tok | None:
        tok = self.peek()
        if tok is not None:
            self._ahead.pop(0)
        return tok

    def at_end(self) -> bool:
        return self.peek() is None

    def accept(self, *words: bytes) -> _Tok | None:
        tok = self.peek()
        if tok is not None and tok.upper in words:
            return self.next()
        return None

    def expect(self, *words: bytes) -> _Tok:
        tok = self.accept(*words)
        if tok is None:
            raise _reject(self.sql, f"lacks {' or '.join(w.decode() for w in words)} where expected")
        return tok

    def accept_punct(self, ch: bytes) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == ch:
            self.next()
            return True
        return False

    def table(self) -> TableRef:
        tok = self.next()
        if tok is None or tok.kind not in ("word", "qid"):
            raise _reject(self.sql, "lacks a table name where expected")
        raw = tok.text[1:-1].replace(b"``", b"`") if tok.kind == "qid" else tok.text
        if self.accept_punct(b"."):
            raise _reject(self.sql, "names a table in another database")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _reject(self.sql, "has a table name that is not UTF-8") from None
        return TableRef(name, tok.start, tok.end)

    def group(self) -> list[_Tok]:
        """Consume a balanced (...) group and return the tokens inside it."""
        if not self.accept_punct(b"("):
            raise _reject(self.sql, "lacks '(' where expected")
        inside: list[_Tok] = []
        depth = 1
        while True:
            tok = self.next()
            if tok is None:
                raise _reject(self.sql, "has an unbalanced '('")
            if tok.kind == "punct" and tok.text in b"()":
                depth += 1 if tok.text == b"(" else -1
                if depth == 0:
                    return inside
            inside.append(tok)


def _snippet(sql: bytes) -> str:
    text = sql.lstrip()[:70].decode("utf-8", "replace")
    return repr(text + ("..." if len(sql) > 70 else ""))


def _reject(sql: bytes, why: str) -> SqlFileError:
    return SqlFileError(
        f"statement {_snippet(sql)} {why}: an import accepts only a table dump (SET, DROP TABLE IF EXISTS, "
        "CREATE TABLE, LOCK/UNLOCK TABLES, ALTER TABLE ... DISABLE/ENABLE KEYS, INSERT of literal values, "
        "CREATE TRIGGER on those tables)"
    )


# INSERT ... VALUES rows: literals only. Strings may carry a charset introducer (_binary '...') and
# adjacent strings concatenate. No functions, subqueries, variables or column references, so an import
# cannot copy data from other tables (SELECT user_pass FROM wp_users) into the site's.
_W = rb"[ \t\r\n]*" + _P
_INTRO = rb"(?:_[A-Za-z0-9]+" + _W + rb")?"
_STR_LIT = (
    _INTRO
    + _ATOM
    + rb"'[^'\\]*"
    + _P
    + rb"(?:(?:\\.|'')[^'\\]*"
    + _P
    + rb")*"
    + _P
    + rb"'"
    + rb'|"[^"\\]*'
    + _P
    + rb'(?:(?:\\.|"")[^"\\]*'
    + _P
    + rb")*"
    + _P
    + rb'")'
)
_VALUE = (
    _ATOM
    + _STR_LIT
    + rb"(?:"
    + _W
    + _STR_LIT
    + rb")*"
    + _P
    + rb"|"
    + _INTRO
    + rb"(?:0x[0-9A-Fa-f]+|[xX]'[0-9A-Fa-f]*'|0b[01]+|[bB]'[01]*')"
    + rb"|[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    + rb"|(?i:NULL|TRUE|FALSE|DEFAULT)(?![A-Za-z0-9_$]))"
)
_ROW = (
    rb"\(" + _W + rb"(?:" + _VALUE + rb"(?:" + _W + rb"," + _W + _VALUE + rb")*" + _P + rb")?" + _W + rb"\)"
)
_ROWS = re.compile(_W + _ROW + rb"(?:" + _W + rb"," + _W + _ROW + rb")*" + _P + _W, re.S)
_FIRST_WORD = re.compile(rb"[ \t\r\n\f\v]*([A-Za-z]+)")

_SET_FORBIDDEN = {b"GLOBAL", b"PASSWORD", b"ROLE", b"STATEMENT", b"SELECT", b"PERSIST", b"PERSIST_ONLY"}
_ENGINES = {b"INNODB", b"MYISAM", b"ARIA", b"MEMORY", b"HEAP"}
# After CREATE TABLE's column list: words that would fill the table from elsewhere (CREATE ... SELECT,
# LIKE, TABLE t, VALUES ROW) or point it at files or other servers (DATA DIRECTORY, CONNECTION).
_CREATE_FORBIDDEN = {b"SELECT", b"TABLE", b"LIKE", b"ROW", b"UNION", b"DIRECTORY", b"CONNECTION"}


def check_statement(
    stmt: bytes, allowed_tables: Callable[[str], bool], allowed_parents: Callable[[str], bool] | None = None
) -> Statement:
    """Vet one statement (as yielded by `iter_statements`) for import, and return what it touches.

    Accepted: SET (session variables and names; not GLOBAL, PASSWORD, ROLE, SET STATEMENT, nor
    functions/subqueries), DROP TABLE IF EXISTS, CREATE TABLE name (...) with engine InnoDB/MyISAM/
    Aria/MEMORY and no SELECT/LIKE, INSERT [IGNORE] INTO name [(columns)] VALUES with literal rows only,
    LOCK TABLES / UNLOCK TABLES, ALTER TABLE name DISABLE/ENABLE KEYS, CREATE [DEFINER=...] TRIGGER
    name ... ON table FOR EACH ROW body (no FOLLOWS/PRECEDES; a body without CALL, dynamic SQL, files,
    schema or account changes; DEFINER dropped), and any of these inside /*!NNNNN ... */ comments.
    Every table named must be unqualified (no other database) and pass `allowed_tables(name)`; what a
    trigger's body names is left to the caller (`Statement.body_names`). The parent tables a CREATE
    TABLE's foreign keys reference pass `allowed_parents(name)` instead, when given (a file may hold
    a child without its parent, which stays as the target has it). Raises SqlFileError naming the
    statement and the reason otherwise.
    """
    if _VERSIONED_OPEN.match(stmt, _SPACE.match(stmt).end()):  # type: ignore[union-attr]
        # mariadb-dump writes a trigger as `/*!50003 CREATE*/ /*!50017 DEFINER=...*/ /*!50003 TRIGGER ...*/`.
        unwrapped = _unwrap_versioned(stmt)
        if unwrapped is not None and _TRIGGER_START.match(unwrapped):
            result = _check_plain(unwrapped, 0, len(unwrapped))
        else:
            result = _check_versioned(stmt)
    else:
        result = _check_plain(stmt, 0, len(stmt))
    for i, ref in enumerate(result.tables):
        # A CREATE TABLE names its own table first, then the parents its foreign keys reference.
        parent = result.kind == "create_table" and i > 0
        allowed = allowed_parents if parent and allowed_parents is not None else allowed_tables
        if not allowed(ref.name):
            raise SqlFileError(
                f"statement {_snippet(stmt)} touches table {ref.name!r}, which is not among the tables "
                "being imported; import a dump of this site's tables only"
            )
    return result


_TRIGGER_START = re.compile(
    rb"(?is)[ \t\r\n]*CREATE[ \t\r\n]+(?:DEFINER[^(]*?[ \t\r\n`'\"])?TRIGGER[ \t\r\n`]"
)


def _unwrap_versioned(stmt: bytes) -> bytes | None:
    """The bodies of a statement made of versioned comments only, joined by spaces (None if it is not)."""
    bodies: list[bytes] = []
    pos = 0
    while True:
        pos = _SPACE.match(stmt, pos).end()  # type: ignore[union-attr]
        if pos >= len(stmt):
            return b" ".join(bodies)
        m = _VERSIONED_OPEN.match(stmt, pos)
        if m is None:
            return None
        body_end = _RUN_VERSIONED.match(stmt, m.end()).end()  # type: ignore[union-attr]
        if stmt[body_end : body_end + 2] != b"*/":
            return None
        bodies.append(stmt[m.end() : body_end])
        pos = body_end + 2


def _check_versioned(stmt: bytes) -> Statement:
    parts: list[Statement] = []
    pos = 0
    while True:
        pos = _SPACE.match(stmt, pos).end()  # type: ignore[union-attr]
        if pos >= len(stmt):
            break
        m = _VERSIONED_OPEN.match(stmt, pos)
        if m is None:
            raise _reject(stmt, "mixes versioned comments and plain SQL")
        body_end = _RUN_VERSIONED.match(stmt, m.end()).end()  # type: ignore[union-attr]
        if stmt[body_end : body_end + 2] != b"*/":
            raise _reject(stmt, "has a versioned comment that is not one plain statement")
        parts.append(_check_plain(stmt, m.end(), body_end))
        pos = body_end + 2
    tables = tuple(t for part in parts for t in part.tables)
    return Statement(parts[0].kind, stmt, tables, versioned=True)


def _check_plain(sql: bytes, start: int, end: int) -> Statement:
    first = _FIRST_WORD.match(sql, start, end)
    word = first.group(1).upper() if first else b""
    # Decide on the first word before tokenizing anything: a rejected statement may be a huge one.
    check = _CHECKS.get(word)
    if check is None:
        what = word.decode("ascii") if word else "non-SQL"
        raise _reject(sql, f"is a {what} statement, which is not allowed")
    p = _Parser(sql, start, end)
    p.next()
    return check(p)


def _check_set(p: _Parser) -> Statement:
    if p.at_end():
        raise _reject(p.sql, "is an empty SET")
    while (tok := p.next()) is not None:
        if tok.upper in _SET_FORBIDDEN:
            raise _reject(p.sql, f"uses {tok.text.decode('ascii', 'replace')}, which an import may not")
        if tok.kind == "punct" and tok.text == b"(":
            raise _reject(p.sql, "calls a function or subquery in SET")
    return Statement("set", p.sql, ())


def _check_drop(p: _Parser) -> Statement:
    p.expect(b"TABLE")
    p.expect(b"IF")
    p.expect(b"EXISTS")
    tables = [p.table()]
    while p.accept_punct(b","):
        tables.append(p.table())
    p.accept(b"RESTRICT", b"CASCADE")
    if not p.at_end():
        raise _reject(p.sql, "has unexpected text after the table names")
    return Statement("drop_table", p.sql, tuple(tables))


def _check_create(p: _Parser) -> Statement:
    ahead = p.peek()
    if ahead is not None and ahead.upper in (b"DEFINER", b"TRIGGER"):
        return _check_trigger(p)
    p.expect(b"TABLE")
    if p.accept(b"IF"):
        p.expect(b"NOT")
        p.expect(b"EXISTS")
    tables = [p.table()]
    inside = p.group()
    # Foreign keys name other tables: report them so they can be checked and redirected too.
    for i, inner in enumerate(inside[:-1]):
        if inner.upper == b"REFERENCES":
            ref = _Parser(p.sql, inside[i + 1].start, len(p.sql))
            tables.append(ref.table())
    partitioned = False
    while (tok := p.next()) is not None:
        word = tok.upper
        partitioned = partitioned or word == b"PARTITION"
        if word in _CREATE_FORBIDDEN or (word == b"VALUES" and not partitioned):
            raise _reject(p.sql, f"has {tok.text.decode('ascii', 'replace')} after its column list")
        if word == b"ENGINE":
            p.accept_punct(b"=")
            engine = p.next()
            if engine is None or engine.upper not in _ENGINES:
                raise _reject(p.sql, "uses an engine other than InnoDB, MyISAM, Aria or MEMORY")
    return Statement("create_table", p.sql, tuple(tables))


# Words a trigger body may not use: no dynamic SQL or procedure calls (which could reach anything), no
# files, no schema or account changes, no server-wide settings. What a body names is the caller's to
# check (Statement.body_names) against the tables that exist.
_TRIGGER_FORBIDDEN = {
    b"CALL", b"PREPARE", b"EXECUTE", b"DEALLOCATE", b"GRANT", b"REVOKE", b"LOAD", b"OUTFILE",
    b"DUMPFILE", b"LOAD_FILE", b"CREATE", b"DROP", b"ALTER", b"RENAME", b"TRUNCATE", b"HANDLER",
    b"INSTALL", b"UNINSTALL", b"SHUTDOWN", b"KILL", b"FLUSH", b"LOCK", b"UNLOCK", b"GLOBAL", b"PASSWORD",
    b"BINLOG", b"PURGE", b"RESET", b"MASTER", b"SLAVE", b"REPLICA", b"SERVER", b"SONAME",
}  # fmt: skip


def _check_trigger(p: _Parser) -> Statement:
    if p.accept(b"DEFINER"):
        while (tok := p.peek()) is not None and tok.upper != b"TRIGGER":
            p.next()  # = user@host: dropped (naming another account needs SUPER)
    p.expect(b"TRIGGER")
    if p.accept(b"IF"):
        p.expect(b"NOT")
        p.expect(b"EXISTS")
    name = p.table()
    timing = p.expect(b"BEFORE", b"AFTER")
    event = p.expect(b"INSERT", b"UPDATE", b"DELETE")
    p.expect(b"ON")
    table = p.table()
    p.expect(b"FOR")
    p.expect(b"EACH")
    p.expect(b"ROW")
    if p.accept(b"FOLLOWS", b"PRECEDES"):
        raise _reject(p.sql, "orders itself with FOLLOWS/PRECEDES (the dump's order is the triggers' order)")
    first = p.peek()
    if first is None:
        raise _reject(p.sql, "is a trigger without a body")
    names = []
    while (tok := p.next()) is not None:
        if tok.upper in _TRIGGER_FORBIDDEN:
            raise _reject(p.sql, f"has a trigger body that uses {tok.text.decode('ascii', 'replace')}")
        if tok.kind in ("word", "qid"):
            raw = tok.text[1:-1].replace(b"``", b"`") if tok.kind == "qid" else tok.text
            names.append(raw.decode("utf-8", "replace"))
    sql = p.sql
    head = b"CREATE TRIGGER "
    name_ref = TableRef(name.name, len(head), len(head) + name.end - name.start)
    head += sql[name.start : name.end] + b" " + timing.text.upper() + b" " + event.text.upper() + b" ON "
    table_ref = TableRef(table.name, len(head), len(head) + table.end - table.start)
    head += sql[table.start : table.end] + b" FOR EACH ROW "
    return Statement(
        "create_trigger",
        head + sql[first.start : p.end].rstrip(_WS_BYTES),
        (table_ref,),
        trigger=name_ref,
        body_names=tuple(names),
    )


def _check_insert(p: _Parser) -> Statement:
    p.accept(b"LOW_PRIORITY", b"DELAYED", b"HIGH_PRIORITY")
    p.accept(b"IGNORE")
    p.accept(b"INTO")
    table = p.table()
    nxt = p.peek()
    if nxt is not None and nxt.kind == "punct" and nxt.text == b"(":
        for tok in p.group():
            if not (tok.kind in ("word", "qid") or tok.text == b","):
                raise _reject(p.sql, "has something other than column names in its column list")
    values = p.expect(b"VALUES", b"VALUE")
    if _ROWS.fullmatch(p.sql, values.end, p.end) is None:
        raise _reject(p.sql, "has a value that is not a literal, or text after its rows")
    return Statement("insert", p.sql, (table,))


def _check_lock(p: _Parser) -> Statement:
    p.expect(b"TABLES", b"TABLE")
    tables = []
    while True:
        tables.append(p.table())
        alias = p.peek()
        if p.accept(b"AS") or (
            alias is not None
            and alias.kind in ("word", "qid")
            and alias.upper not in (b"READ", b"WRITE", b"LOW_PRIORITY")
        ):
            p.next()  # the alias
        if p.accept(b"READ"):
            p.accept(b"LOCAL")
        else:
            p.accept(b"LOW_PRIORITY")
            p.expect(b"WRITE")
        if not p.accept_punct(b","):
            break
    if not p.at_end():
        raise _reject(p.sql, "has unexpected text in LOCK TABLES")
    return Statement("lock_tables", p.sql, tuple(tables))


def _check_unlock(p: _Parser) -> Statement:
    p.expect(b"TABLES", b"TABLE")
    if not p.at_end():
        raise _reject(p.sql, "has unexpected text after UNLOCK TABLES")
    return Statement("unlock_tables", p.sql, ())


def _check_transaction(p: _Parser) -> Statement:
    # START TRANSACTION / BEGIN / COMMIT: wfuwp's own dumps wrap each table's rows in a transaction.
    p.accept(b"TRANSACTION", b"WORK")
    if not p.at_end():
        raise _reject(p.sql, "has unexpected text in a transaction statement")
    return Statement("transaction", p.sql, ())


def _check_alter(p: _Parser) -> Statement:
    p.expect(b"TABLE")
    table = p.table()
    p.expect(b"DISABLE", b"ENABLE")
    p.expect(b"KEYS")
    if not p.at_end():
        raise _reject(p.sql, "is an ALTER TABLE other than DISABLE/ENABLE KEYS")
    return Statement("alter_keys", p.sql, (table,))


_CHECKS: dict[bytes, Callable[[_Parser], Statement]] = {
    b"SET": _check_set,
    b"DROP": _check_drop,
    b"CREATE": _check_create,
    b"INSERT": _check_insert,
    b"LOCK": _check_lock,
    b"UNLOCK": _check_unlock,
    b"ALTER": _check_alter,
    b"START": _check_transaction,
    b"BEGIN": _check_transaction,
    b"COMMIT": _check_transaction,
}
