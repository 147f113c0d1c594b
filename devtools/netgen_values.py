"""Values of the generated network: the PHP serializer, SQL literals, and the content templates.

Every template takes a `Hosts` and a random stream that does not depend on the hosts, so rendering with
the source host and with a target host gives the same structure: the target rendering is the value a
migration must produce. Part of `netgen` (see devtools/netgen.py).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

# ---------------------------------------------------------------------------------------------------------
# Hosts: the one parameter of every template
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hosts:
    """The hosts a template renders with.

    `host`: occurrences any host rule must rewrite (`https://S/`, `//S/`, `"S"`);
    `embedded`: occurrences inside a longer name (`S.au`, `myS`, `mail@S`, `cdn.S`, `%2FS`), which plain
    substring pairs rewrite and host-bounded rules do not;
    `source`: bytes that must never change (blobs, base64, array keys, `C:` payloads).
    """

    host: str
    embedded: str
    source: str


# ---------------------------------------------------------------------------------------------------------
# A small PHP serializer (phpserialize has no private members, C:, E:, R:/r: nor exact float digits)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prot:
    """A protected member name: serialized as `\\0*\\0name`."""

    name: str


@dataclass(frozen=True)
class Priv:
    """A private member name of class `cls`: serialized as `\\0cls\\0name`."""

    cls: str
    name: str


@dataclass(frozen=True)
class Obj:
    """`O:` object of any class (nobody needs to load it)."""

    cls: str
    members: Sequence[tuple[str | bytes | int | Prot | Priv, Any]]


@dataclass(frozen=True)
class Arr:
    """`a:` array with explicit keys, in order (keys may be numeric strings such as `"5"`)."""

    items: Sequence[tuple[str | bytes | int, Any]]


@dataclass(frozen=True)
class Custom:
    """`C:` custom-serialized object; the payload's format belongs to the class."""

    cls: str
    payload: bytes


@dataclass(frozen=True)
class Enum:
    """PHP 8.1 enum case `E:len:"Class:Case";`."""

    cls: str
    case: str


@dataclass(frozen=True)
class Dbl:
    """`d:` float with exactly these digits (PHP prints up to 17 significant digits, or INF/NAN)."""

    digits: str


@dataclass(frozen=True)
class Ref:
    """`R:n;` (reference to slot n) or, with `obj=True`, `r:n;` (object handle)."""

    slot: int
    obj: bool = False


@dataclass(frozen=True)
class Ser:
    """A string whose content is itself a serialized value (double serialization), optionally padded."""

    value: Any
    pad_before: bytes = b""
    pad_after: bytes = b""


@dataclass(frozen=True)
class Deep:
    """`depth` nested one-element arrays around `leaf`, rendered without recursion."""

    depth: int
    leaf: Any


def to_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _ser_string(data: bytes) -> bytes:
    # PHP counts BYTES, not characters: a 4-byte emoji adds 4.
    return b's:%d:"%s";' % (len(data), data)


def _ser_key(key: str | bytes | int | Prot | Priv) -> bytes:
    if isinstance(key, bool):
        raise TypeError("PHP array keys are int or string")
    if isinstance(key, int):
        return b"i:%d;" % key
    if isinstance(key, Prot):
        return _ser_string(b"\0*\0" + to_bytes(key.name))
    if isinstance(key, Priv):
        return _ser_string(b"\0" + to_bytes(key.cls) + b"\0" + to_bytes(key.name))
    return _ser_string(to_bytes(key))


def serialize(value: Any) -> bytes:
    """Return PHP `serialize()` output for `value`, as bytes.

    Accepts None, bool, int, str/bytes (UTF-8), list (keys 0..n-1), dict, and the node classes of this
    module (`Arr`, `Obj`, `Custom`, `Enum`, `Dbl`, `Ref`, `Ser`, `Deep`). Python floats are refused: their
    PHP digits would be a guess; use `Dbl`.
    """
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:1;" if value else b"b:0;"
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, (str, bytes)):
        return _ser_string(to_bytes(value))
    if isinstance(value, float):
        raise TypeError("use Dbl('digits') for floats: PHP's digits must be given, not guessed")
    if isinstance(value, Dbl):
        return b"d:%s;" % value.digits.encode()
    if isinstance(value, Ser):
        return _ser_string(value.pad_before + serialize(value.value) + value.pad_after)
    if isinstance(value, list):
        value = Arr(list(enumerate(value)))
    elif isinstance(value, dict):
        value = Arr(list(value.items()))
    if isinstance(value, Arr):
        body = b"".join(_ser_key(k) + serialize(v) for k, v in value.items)
        return b"a:%d:{%s}" % (len(value.items), body)
    if isinstance(value, Obj):
        cls = to_bytes(value.cls)
        body = b"".join(_ser_key(k) + serialize(v) for k, v in value.members)
        return b'O:%d:"%s":%d:{%s}' % (len(cls), cls, len(value.members), body)
    if isinstance(value, Custom):
        cls = to_bytes(value.cls)
        return b'C:%d:"%s":%d:{%s}' % (len(cls), cls, len(value.payload), value.payload)
    if isinstance(value, Enum):
        name = to_bytes(f"{value.cls}:{value.case}")
        return b'E:%d:"%s";' % (len(name), name)
    if isinstance(value, Ref):
        return b"%s:%d;" % (b"r" if value.obj else b"R", value.slot)
    if isinstance(value, Deep):
        return b"a:1:{i:0;" * value.depth + serialize(value.leaf) + b"}" * value.depth
    raise TypeError(f"cannot serialize {type(value).__name__}")


def php_json(value: Any) -> bytes:
    """Return `value` as PHP's `json_encode()` writes it: `\\/` for slashes, `\\uXXXX` for non-ASCII."""
    # After dumps, "/" can only occur inside strings: JSON's own syntax has no slash.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


# ---------------------------------------------------------------------------------------------------------
# Row values: what is inserted, and its canonical form (the bytes `SELECT *` returns with
# character_set_results=binary and time_zone='+00:00')
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """Bytes for a binary column (or raw bytes for a latin1 one): inserted as a hex literal."""

    data: bytes


@dataclass(frozen=True)
class Lit:
    """A literal written as `sql` whose canonical form is `canonical` (floats, BIT, ...)."""

    sql: str
    canonical: bytes


Value = Union[None, int, bytes, str, Blob, Lit]  # noqa: UP007 (a runtime alias)
Row = tuple[Value, ...]
CanonicalRow = tuple[bytes | None, ...]


def canonical(value: Value) -> bytes | None:
    """Return the bytes the server sends back for `value` (see `fetch_rows`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("use 0/1")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, Blob):
        return value.data
    return value.canonical


_ESCAPES = (
    (b"\\", b"\\\\"),
    (b"\0", b"\\0"),
    (b"\n", b"\\n"),
    (b"\r", b"\\r"),
    (b"'", b"\\'"),
    (b"\x1a", b"\\Z"),
)


def sql_literal(value: Value) -> bytes:
    """Render `value` as a MariaDB literal (with backslash escapes: not for NO_BACKSLASH_ESCAPES sessions)."""
    if value is None:
        return b"NULL"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        for raw, escaped in _ESCAPES:
            if raw in value:
                value = value.replace(raw, escaped)
        return b"'" + value + b"'"
    if isinstance(value, Blob):
        return b"X'" + value.data.hex().encode() + b"'"
    return value.sql.encode()


def quote_ident(name: str) -> str:
    """Quote an identifier with backticks (a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`"


# ---------------------------------------------------------------------------------------------------------
# Content: every template takes the hosts and a host-independent random stream, so the source rendering
# and any target rendering have the same structure.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One site of the network: its id, table prefix and URL path (no trailing slash; '' for site 1)."""

    id: int
    prefix: str
    path: str
    other_host: str  # another environment's host: text that mentions it never changes

    @property
    def uploads(self) -> str:
        """The uploads path below the site URL."""
        return "/wp-content/uploads" if self.id == 1 else f"/wp-content/uploads/sites/{self.id}"


_WORD_TEXT = (
    "campus research faculty student library admissions alumni lecture seminar archive lorem ipsum dolor sit "
    "amet consectetur adipiscing elit sed eiusmod tempor labore magna naïve café résumé Straße façade 日本語 "
    "Ünïcödé 🎓 📚 “quoted” —"
)
_WORDS = tuple(_WORD_TEXT.split(" "))


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def make_slug(rng: random.Random) -> str:
    return "-".join(rng.choice(_WORDS[:28]) for _ in range(rng.randint(2, 4)))


def html_body(rng: random.Random, hx: Hosts, site: Site, paragraphs: int) -> bytes:
    """Return post HTML with dense links: absolute, http, protocol-relative, srcset, block JSON, mailto."""
    url = f"https://{hx.host}{site.path}"
    up = f"{url}{site.uploads}"
    out: list[str] = []
    for n in range(paragraphs):
        kind = rng.randrange(6)
        year, month = rng.randint(2012, 2024), rng.randint(1, 12)
        if kind == 0:
            img = f"{up}/{year}/{month:02d}/photo-{n}"
            out.append(
                f'<!-- wp:image {{"id":{rng.randint(10, 9999)},"sizeSlug":"large"}} -->\n'
                f'<figure class="wp-block-image size-large">'
                f'<img src="{img}-1024x683.jpg" alt="{words(rng, 3)}" '
                f'srcset="{img}-300x200.jpg 300w, {img}-1024x683.jpg 1024w, {img}.jpg 2048w" '
                f'sizes="(max-width: 1024px) 100vw, 1024px" /></figure>\n<!-- /wp:image -->'
            )
        elif kind == 1:
            out.append(
                f'<!-- wp:cover {{"url":"{up}/{year}/{month:02d}/cover-{n}.jpg","id":{n}}} -->\n'
                f'<div class="wp-block-cover"><span>{words(rng, 6)}</span></div>\n<!-- /wp:cover -->'
            )
        elif kind == 2:
            out.append(
                f'<p>{words(rng, 8)} <a href="http://{hx.host}{site.path}/?p={rng.randint(1, 999)}">'
                f"{words(rng, 2)}</a>"
                f' and <a href="//{hx.host}{site.path}/feed/">feed</a>; write to '
                f'<a href="mailto:mail@{hx.embedded}">mail@{hx.embedded}</a>.</p>'
            )
        elif kind == 3:
            out.append(
                f'<p>{words(rng, 10)} <a href="https://{site.other_host}{site.path}/{make_slug(rng)}/">'
                "old link</a> "
                f'<iframe src="https://www.youtube.com/embed/{rng.randint(10**9, 10**10)}"></iframe></p>'
            )
        else:
            links = " ".join(
                f'<a href="{url}/{rng.randint(2012, 2024)}/{rng.randint(1, 12):02d}/{make_slug(rng)}/">'
                f"{words(rng, 2)}</a>"
                for _ in range(rng.randint(3, 6))
            )
            out.append(
                f"<!-- wp:paragraph -->\n<p>{words(rng, 12)} {links} {words(rng, 6)}</p>"
                "\n<!-- /wp:paragraph -->"
            )
    return "\n\n".join(out).encode("utf-8")


def case_values(hx: Hosts, site: Site) -> list[tuple[str, bytes]]:
    """Return (case name, value) for every family of the field notes, with the site's URL in it."""
    h, e, src = hx.host, hx.embedded, hx.source
    url = f"https://{h}{site.path}"
    src_url = f"https://{src}{site.path}"
    quoted_path = site.path.replace("/", "%2F")
    rng = random.Random("cases")
    c: list[tuple[str, bytes]] = []

    def add(name: str, value: str | bytes) -> None:
        c.append((name, to_bytes(value)))

    # Plain text and HTML.
    add("url_https", f"{url}/")
    add("url_http", f"http://{h}{site.path}/about/")
    add("url_protocol_relative", f"//{h}{site.path}{site.uploads}/logo.png")
    add("url_bare_host", h)
    add("html_dense_links", html_body(rng, hx, site, 12))
    add("email_addresses", f"Write to mail@{e} or webmaster@example.edu (not {site.other_host}).")
    add("other_environment_url", f"https://{site.other_host}{site.path}/kept/")
    add("mojibake_text", f"CafÃ© rÃ©sumÃ© â€” {url}/cafe/")
    # Substring traps: plain pairs DO rewrite these; host-bounded rules must not.
    add("trap_longer_tld", f"https://{e}.au{site.path}/ and {e}.au")
    add("trap_prefixed_name", f"https://my{e}/ and my{e}")
    add("trap_subdomain", f"https://cdn.{e}/asset.js")
    add("trap_mail_at_host", f"mail@{e}")
    # Serialized values.
    add(
        "ser_array",
        serialize({"url": f"{url}/", "title": "Home", "list": [f"{url}/a", f"http://{h}/b", 3, True, None]}),
    )
    add("ser_stdclass", serialize(Obj("stdClass", [("url", f"{url}/obj"), ("count", 3), ("empty", "")])))
    cls = "WPSEO\\Unloaded_Thing"
    add(
        "ser_object_private_members",
        serialize(
            Obj(
                cls,
                [
                    (Prot("canonical"), f"{url}/protected"),
                    (Priv(cls, "secret"), f"mail@{e}"),
                    ("public_url", f"{url}/public"),
                    (0, f"{url}/int-member"),
                    ("7", f"{url}/numeric-string-member"),
                ],
            )
        ),
    )
    add(
        "ser_double_nested",
        serialize({"inner": Ser({"url": f"{url}/inner"}), "deeper": Ser([Ser({"u": f"{url}/x"})])}),
    )
    add("ser_double_top_level", serialize(Ser({"url": f"{url}/top"})))
    add("ser_deep_nesting", serialize(Deep(3000, f"{url}/deep")))
    add(
        "ser_bytes_in_strings",
        serialize(
            {
                "multibyte": f"Café naïve 日本語 🎓 {url}/ünï",
                "controls": f"a\0b\r\nc\\d\x1ae\tf {url}/ctl",
                "nul_only": "\0",
                "quotes": f'"\';{url}/q";s:1:"',
            }
        ),
    )
    payload = b'x:i:0;a:1:{s:3:"url";' + _ser_string(to_bytes(f"{src_url}/custom")) + b"};m:a:0:{}"
    add("ser_custom_payload", serialize([f"{url}/before", Custom("ArrayObject", payload), f"{url}/after"]))
    add("ser_enum", serialize({"status": Enum("Status", "Active"), "url": f"{url}/enum"}))
    obj_url = _ser_string(to_bytes(f"{url}/obj"))
    ref_url = _ser_string(to_bytes(f"{url}/ref"))
    # Slots: 1 the array, 2 element 0, 3 element 1 (R:2), 4 the object; r:4 is the object itself.
    add(
        "ser_references",
        b"a:3:{i:0;" + ref_url + b'i:1;R:2;i:2;O:8:"stdClass":2:{s:4:"self";r:4;s:3:"url";' + obj_url + b"}}",
    )
    add(
        "ser_scalars",
        serialize(
            [
                True,
                False,
                -42,
                0,
                Dbl("0.1000000000000000055511151231257827"),
                Dbl("-0"),
                Dbl("1.0E+25"),
                Dbl("INF"),
                Dbl("-INF"),
                Dbl("NAN"),
                Dbl("-1.2345678901234567E-300"),
                None,
                f"{url}/after-scalars",
            ]
        ),
    )
    add(
        "ser_numeric_string_keys",
        serialize(Arr([("5", f"{url}/five"), (6, f"{url}/six"), ("-1", "m"), ("05", "z")])),
    )
    add("ser_host_in_keys", serialize({f"{src_url}/key": f"{url}/value", "plain": "k"}))
    add("ser_top_bool", b"b:1;")
    add("ser_top_int", b"i:-42;")
    add("ser_top_double", b"d:0.1000000000000000055511151231257827;")
    add("ser_top_null", b"N;")
    add("ser_top_empty_array", b"a:0:{}")
    add("ser_top_string", serialize(f"{url}/top-string"))
    add("ser_surrounding_whitespace", b"\n  " + serialize({"url": f"{url}/ws"}) + b"\n")
    add("ser_malformed_inside", serialize({"bad": f's:99:"{url}/inner-bad";'}))
    # Text that only looks serialized: replaced as plain text, the declared length left as is.
    add("looks_serialized_wrong_length", f's:99:"{url}/wrong-length";')
    add("looks_serialized_answer", f"a:1 is the answer; see {url}/answer")
    add("looks_serialized_css", f"border:0; background:url({url}/bg.png);")
    # JSON.
    add("json_escaped_slashes", php_json({"url": f"{url}/", "img": f"{url}{site.uploads}/a.png", "n": 1}))
    add("json_unicode_escapes", php_json({"title": "Café 🎓 “q”", "url": f"{url}/uni"}))
    add("json_unescaped_slashes", json.dumps({"url": f"{url}/raw"}, separators=(",", ":")))
    add("json_in_serialized", serialize({"json": php_json({"url": f"{url}/json-in-ser"}), "n": 2}))
    add("json_in_json", php_json({"settings": php_json({"url": f"{url}/json-in-json", "t": "é"}).decode()}))
    add("json_no_match", '{"a":"caf\\u00e9","b":[],"c":{},"d":"https:\\/\\/example.org\\/","e":1.50}')
    # Other encodings: only the host as it stands is rewritten by plain pairs.
    add("url_encoded", f"redirect_to=https%3A%2F%2F{e}{quoted_path}%2Flogin%2F&reauth=1")
    add("url_encoded_twice", f"u=https%253A%252F%252F{e}%252F")
    add("url_encoded_dots", f"u=https%3A%2F%2F{src.replace('.', '%2E')}%2F")
    add("base64_url", base64.b64encode(to_bytes(f"{src_url}/b64")))
    add("base64_gzip_html", base64.b64encode(gzip.compress(to_bytes(f'<a href="{src_url}/">x</a>'), mtime=0)))
    return c


CASE_NAMES: tuple[str, ...] = tuple(
    name for name, _ in case_values(Hosts("h", "h", "h"), Site(2, "wp_2_", "/site2", "o"))
)
