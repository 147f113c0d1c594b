"""The replacement plan: the ordered rules a migration applies, and the one place they are made.

`plan_for` builds every plan: the CLI's (`wfuwp migrate`, `migrate plan`, `migrate_between`) and the
library's (`migrate_site(replacements=None)` passes no configuration). It takes values, never
connections: the site's `SiteAddress` in each network (its wp_blogs domain and path, its siteurl and
home; read by `wfuwp.mysql.network.read_site`), the configuration's environments, and `--replace` pairs.

The rules, in the order they apply:

1. the site's own address, from the networks: its URL where the path or scheme differs between the
   two networks, then each of its hosts (wp_blogs domain, siteurl's and home's host) as a whole host
   token, plain and URL-encoded; only what the environment rules below do not already do;
2. from the configuration (`plan_for(config, "prod", "pprd")`), each named value of the source
   environment (see `wfuwp.config.settings.EnvConfig`) mapped to the target's, most specific first:
   media bucket host, media bucket name, CDN host, the environments' `extra_pairs`; the site host as a
   whole host token (`https://`, `http://`, `//` and bare mentions); the bare host (prod's `wfu.edu`)
   in URLs only, so prose and cookie domains keep it; the URL-encoded forms of those two
   (`https%3A%2F%2Fwww.wfu.edu`); subdomains (`news.wfu.edu` -> `news.pprd.wfu.edu`), skipping every
   host that belongs to another environment or that an earlier rule wrote;
3. the caller's `--replace` pairs, as plain substrings.

Host rules never touch e-mail addresses (`someone@wfu.edu`) nor look-alike hosts (`notwfu.edu`,
`wfu.edu.example.org`). The core adds each rule's JSON-escaped form (`https:\\/\\/www.wfu.edu`) itself.

Rules apply one after another, so a plan is checked before it is returned: no rule may match text
that an earlier rule wrote (`example.test -> pprd.example.test` twice gives `pprd.pprd.example.test`).
The subdomain rule skips the hosts earlier rules wrote; a rule whose matches can never overlap an
earlier rule's is moved in front of it (so `a -> b`, `b -> c` becomes `b -> c`, `a -> b`, and each
applies to the original text); anything else is refused with an error naming both rules. Every entry
carries a reason, for `wfuwp migrate plan`, and `Plan.warnings` says when the site's own host in the
source is rewritten by no rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from wfuwp.config.settings import Config, EnvConfig
from wfuwp.errors import ConfigError, UsageError
from wfuwp.mysql.network import SiteAddress
from wfuwp.replace import HOST_END, HOST_START, SUBDOMAIN, PairLike, Replacer, Rule, expand_rules

#: A `--replace` search (or a caller's pair) shorter than this many characters needs `--force`
#: (`force=True`): "edu" or "wp" matches inside words, hosts and serialized data everywhere.
MIN_SEARCH_CHARS = 4

# Host-valued fields of an environment whose values, in another environment, must survive the
# subdomain rule unchanged.
_HOST_FIELDS = ("site_host", "bare_host", "subdomain_base", "cdn_host", "media_bucket_host")
# rawurlencode('/') as PHP and JavaScript write it.
_ENCODED_SLASHES = "%2F%2F"
# A host name: two or more dot-separated labels.
_HOST_NAME = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class PlanEntry:
    """One rule of a plan and where it comes from ("site host", "CDN", "--replace", ...)."""

    rule: Rule
    reason: str

    def describe(self) -> str:
        """Return one line for people: `'www.wfu.edu' -> 'pprd.wfu.edu'  (site host; whole host only)`."""
        return f"{self.pair()}  ({self.reason}; {_scope(self.rule)})"

    def pair(self) -> str:
        """`'search' -> 'replace'`, for messages."""
        search = self.rule.search.decode("utf-8", "backslashreplace")
        replace = self.rule.replace.decode("utf-8", "backslashreplace")
        return f"{search!r} -> {replace!r}"


@dataclass(frozen=True)
class Plan:
    """The ordered rules of one migration, each with its reason, and notes on what was left out.

    `rules` is what `wfuwp.Replacer` takes. `notes` says which configured values were not mapped
    (and are therefore left as they are), one line each. `source_site`/`target_site` are the site's
    address in each network when they were read; `warnings` says when the site's host in the source
    is rewritten by no rule (its URLs would keep pointing at the source).
    """

    from_env: str
    to_env: str
    entries: tuple[PlanEntry, ...]
    notes: tuple[str, ...] = ()
    site_path: str = "/"
    source_host: str = ""
    target_host: str = ""
    source_site: SiteAddress | None = None
    target_site: SiteAddress | None = None
    warnings: tuple[str, ...] = ()

    @property
    def rules(self) -> list[Rule]:
        """The rules in the order they apply."""
        return [entry.rule for entry in self.entries]

    @property
    def source_url(self) -> str:
        """The migrated site's URL in the source: its home (or siteurl, or wp_blogs address) when the
        network was read, else `https://<site_host><site path>` from the configuration."""
        if self.source_site is not None:
            return self.source_site.url
        return f"https://{self.source_host}{self.site_path}"

    @property
    def target_url(self) -> str:
        """The migrated site's URL in the target: its address in the target network when read, else
        what the plan makes of the source URL."""
        if self.target_site is not None:
            return self.target_site.url
        if self.source_site is not None:
            return Replacer(self.rules).replace(self.source_url.encode()).decode("utf-8", "replace")
        return f"https://{self.target_host}{self.site_path}"

    def describe(self) -> list[str]:
        """Return the plan for `wfuwp migrate plan`: the URLs, the site in each network, numbered
        rules, notes, then one `warning:` line per warning (last)."""
        lines = [f"{self.from_env} -> {self.to_env}: {self.source_url} -> {self.target_url}"]
        if self.source_site is not None:
            lines.append(f"site in {self.from_env}: {_site_line(self.source_site)}")
            if self.target_site is not None:
                lines.append(f"site in {self.to_env}: {_site_line(self.target_site)}")
            else:
                lines.append(
                    f"site in {self.to_env}: not read (see the note); the URL above is what the plan makes"
                )
        lines += [f"{i:2}. {entry.describe()}" for i, entry in enumerate(self.entries, 1)]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"warning: {warning}" for warning in self.warnings]
        return lines


def plan_for(
    config: Config | None,
    from_env: str,
    to_env: str,
    *,
    site_path: str | None = None,
    extra: Iterable[PairLike] = (),
    source_site: SiteAddress | None = None,
    target_site: SiteAddress | None = None,
    force: bool = False,
) -> Plan:
    """Build the replacement plan of site migration from `from_env` to `to_env`.

    `config`: the environments' named values (None: the library's plan from the networks alone; then
    `from_env`/`to_env` are only labels). `source_site`/`target_site`: the site's address in each
    network (`wfuwp.mysql.network.read_site`); rules for its own hosts and URL come first. `site_path`
    is the site's path ("/news/"; default: the source site's, else "/"), for the URLs shown.
    `extra` holds `--replace` pairs, applied last as plain substrings; a search shorter than
    MIN_SEARCH_CHARS characters needs `force`. Pairs whose search equals their replacement are dropped
    with a note. Raise ConfigError for an unknown environment or one without `site_host`, UsageError
    for equal environments, a bad `site_path`, an empty or (without `force`) short search in `extra`,
    and for rules that would rewrite what an earlier rule wrote and cannot be ordered (see the module).
    """
    env_rules = _Builder(from_env, to_env)
    source_host = target_host = ""
    if config is not None:
        if from_env == to_env:
            raise UsageError(f"from and to are both {from_env!r}: migrate between two different environments")
        src, dst = config.env(from_env), config.env(to_env)
        source_host, target_host = _site_host(src), _site_host(dst)
        kept = _add_media_and_named(env_rules, src, dst)
        _add_site_hosts(env_rules, src, dst)
        _add_subdomains(env_rules, config, src, dst, kept)
    if site_path is None and source_site is not None:
        site_path = source_site.path
    path = _check_site_path(site_path)
    site_rules = _Builder(from_env, to_env)
    if source_site is not None and target_site is not None:
        _add_site_rules(site_rules, source_site, target_site, env_rules.entries)
    elif source_site is not None:
        site_rules.notes.append(
            f"site: {to_env}'s network has no row for it, so only the environment rules move its URLs"
        )
    given = _Builder(from_env, to_env)
    _add_given(given, extra, force=force, reason="--replace", label="--replace", hint="--force")
    entries = _order_safely([*site_rules.entries, *env_rules.entries, *given.entries])
    plan = Plan(
        from_env=from_env,
        to_env=to_env,
        entries=tuple(entries),
        notes=(*site_rules.notes, *env_rules.notes, *given.notes),
        site_path=path,
        source_host=source_host,
        target_host=target_host,
        source_site=source_site,
        target_site=target_site,
    )
    return dataclasses.replace(plan, warnings=_uncovered_hosts(plan))


def checked_rules(pairs: Iterable[PairLike], *, force: bool = False) -> list[Rule]:
    """A caller's own replacement pairs, checked as `plan_for` checks `--replace`: each search at least
    MIN_SEARCH_CHARS characters unless `force`, no pair rewriting what an earlier one wrote (pairs that
    can never overlap are reordered so each applies to the original text; others raise UsageError).
    Pairs whose search equals their replacement are dropped."""
    given = _Builder("source", "target")
    _add_given(given, pairs, force=force, reason="given pair", label="replacement", hint="force=True")
    return [entry.rule for entry in _order_safely(given.entries)]


class _Builder:
    """Collects entries and notes; drops pairs that would change nothing."""

    def __init__(self, from_env: str, to_env: str) -> None:
        self.from_env, self.to_env = from_env, to_env
        self.entries: list[PlanEntry] = []
        self.notes: list[str] = []

    def add(self, rule: Rule, reason: str) -> None:
        if rule.search == rule.replace:
            self.notes.append(
                f"{reason}: {rule.search.decode('utf-8', 'replace')!r} is the same in both; skipped"
            )
            return
        self.entries.append(PlanEntry(rule, reason))

    def pair(self, reason: str, source: str | None, target: str | None, *, whole_host: bool) -> bool:
        """Add source -> target when both are set; return False (with a note) when only source is."""
        if source is None:
            return True
        if target is None:
            self.notes.append(f"{reason}: {self.to_env} has none, so {source!r} is left as it is")
            return False
        self.add(Rule(source.encode(), target.encode(), host_start=whole_host, host_end=whole_host), reason)
        return True


def _add_given(
    builder: _Builder, pairs: Iterable[PairLike], *, force: bool, reason: str, label: str, hint: str
) -> None:
    """Add a caller's pairs (tuples are plain substrings; Rules are kept as they are)."""
    for pair in pairs:
        if isinstance(pair, Rule):
            rule = pair
        else:
            try:
                search, replace = pair
            except (TypeError, ValueError):
                raise UsageError(f"a {label} pair must be (search, replace), got {pair!r}") from None
            search_b, replace_b = _as_bytes(search), _as_bytes(replace)
            if not search_b:
                raise UsageError(f"a {label} pair has an empty search text: give every pair a search text")
            rule = Rule(search_b, replace_b)
        text = rule.search.decode("utf-8", "replace")
        if len(text) < MIN_SEARCH_CHARS and not force:
            raise UsageError(
                f"{label} search {text!r} is shorter than {MIN_SEARCH_CHARS} characters and would match "
                f"inside unrelated words and hosts: use a longer search, or {hint} if you mean it"
            )
        builder.add(rule, reason)


def _add_media_and_named(builder: _Builder, src: EnvConfig, dst: EnvConfig) -> list[str]:
    """Add the media, CDN and extra_pairs rules; return the source values left unmapped."""
    kept: list[str] = []
    # Bucket and CDN hosts are whole host tokens; the bucket name is plain because it is also part of
    # other names (s3://wordpress-prod-us/..., a bucket host in another region) that must follow it.
    pairs = [
        ("media bucket host", src.media_bucket_host, dst.media_bucket_host, True),
        ("media bucket", src.media_bucket, dst.media_bucket, False),
        ("CDN", src.cdn_host, dst.cdn_host, True),
    ]
    # A value that is a host name (login.wfu.edu) is a whole host token, as the site host is: matched
    # inside a longer host (alogin.wfu.edu), the subdomain rule would then rewrite what it wrote.
    pairs += [
        (f"extra_pairs.{label}", value, dst.extra_pairs.get(label), _HOST_NAME.fullmatch(value) is not None)
        for label, value in sorted(src.extra_pairs.items())
    ]
    for reason, source, target, whole_host in pairs:
        if not builder.pair(reason, source, target, whole_host=whole_host) and source is not None:
            kept.append(source)
    return kept


def _add_site_hosts(builder: _Builder, src: EnvConfig, dst: EnvConfig) -> None:
    """Add the site host (whole host token) and the bare host (URLs only), plain and URL-encoded."""
    source, target = _site_host(src), _site_host(dst)
    builder.add(Rule(source.encode(), target.encode(), host_start=True, host_end=True), "site host")
    bare = src.bare_host if src.bare_host not in (None, source) else None
    if bare is not None:
        # Only after `//`: a bare "wfu.edu" in prose or a cookie domain is not a link to this site.
        builder.add(Rule(f"//{bare}".encode(), f"//{target}".encode(), host_end=True), "bare host, in URLs")
    # In `https%3A%2F%2Fwww.wfu.edu` the host follows "F", a host character, so the rules above do not
    # match there; these do. The hosts they write are kept from the subdomain rule (see _kept_hosts).
    for host, reason in ((source, "site host, URL-encoded"), (bare, "bare host, URL-encoded")):
        if host is not None:
            search, replace = f"{_ENCODED_SLASHES}{host}", f"{_ENCODED_SLASHES}{target}"
            builder.add(Rule(search.encode(), replace.encode(), host_end=True), reason)


def _add_subdomains(
    builder: _Builder, config: Config, src: EnvConfig, dst: EnvConfig, kept: list[str]
) -> None:
    """Add `.<source base>` -> `.<target base>` for subdomains, skipping other environments' hosts."""
    if src.subdomain_base is None:
        return
    if dst.subdomain_base is None:
        builder.notes.append(
            f"subdomains: {builder.to_env} has no subdomain_base, so *.{src.subdomain_base} hosts are left "
            "as they are"
        )
        return
    exclude = _kept_hosts(config, src, src.subdomain_base, kept)
    rule = Rule(
        f".{src.subdomain_base}".encode(),
        f".{dst.subdomain_base}".encode(),
        subdomain=True,
        host_end=True,
        exclude_hosts=exclude,
    )
    builder.add(rule, "subdomains")


def _kept_hosts(config: Config, src: EnvConfig, base: str, kept: Sequence[str]) -> tuple[bytes, ...]:
    """Return the hosts under `base` the subdomain rule must leave alone.

    Those are every host of the other environments (the target's included: earlier rules wrote them)
    and the source's values that were not mapped. The core matches a host token and its subdomains; it
    walks back over host characters, so in `%2F%2Fpprd.wfu.edu` the token is `2Fpprd.wfu.edu`: each
    host is listed in that form too.
    """
    hosts: set[str] = {_host_of(value) for value in kept}
    for name, env in config.environments.items():
        if name == src.name:
            continue
        hosts.update(_host_of(getattr(env, key) or "") for key in _HOST_FIELDS)
        hosts.update(_host_of(value) for value in env.extra_pairs.values())
    under = sorted(h for h in hosts if h.endswith(f".{base}"))
    return tuple(form.encode() for host in under for form in (host, f"2F{host}"))


def _host_of(value: str) -> str:
    """Return the host name in a host, host:port or URL value ("" when there is none)."""
    if "//" in value:
        return urlsplit(value).hostname or ""
    return value.split(":", 1)[0].split("/", 1)[0]


def _site_host(env: EnvConfig) -> str:
    if not env.site_host:
        raise ConfigError(
            f"environment {env.name!r} has no site_host: run `wfuwp config set env.{env.name}.site_host HOST`"
        )
    return env.site_host


def _check_site_path(site_path: str | None) -> str:
    if site_path is None or site_path == "":
        return "/"
    if not site_path.startswith("/") or "//" in site_path or any(c.isspace() for c in site_path):
        raise UsageError(
            f"site path {site_path!r} is not a URL path: give it as /news/ (or / for the main site)"
        )
    return site_path if site_path.endswith("/") else site_path + "/"


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _scope(rule: Rule) -> str:
    if rule.subdomain:
        shown = [h.decode() for h in rule.exclude_hosts if not h.startswith(b"2F")]
        return "subdomains, not e-mail" + (f"; except {', '.join(shown)} and theirs" if shown else "")
    if rule.host_start and rule.host_end:
        return "whole host only, not e-mail"
    if rule.host_end:
        return "whole host at the end"
    return "anywhere"


# --------------------------------------------------------------------------------------------------------
# The site's own address, from the two networks.


def _add_site_rules(
    builder: _Builder, source: SiteAddress, target: SiteAddress, later: Sequence[PlanEntry]
) -> None:
    """Add the rules that move the site's own hosts and URL, where the environment rules (`later`)
    do not already: its hosts as whole host tokens (plain, URL-encoded), then, in front, its URL where
    the path or scheme differs."""
    mapped: dict[str, tuple[str, list[str]]] = {}
    pairs = [
        ("home", _netloc(source.home), _netloc(target.home)),
        ("siteurl", _netloc(source.siteurl), _netloc(target.siteurl)),
        ("wp_blogs", source.domain, target.domain),
    ]
    for where, host, new in pairs:
        if not host or not new:
            continue
        if host in mapped and mapped[host][0] != new:
            builder.notes.append(
                f"site's host: {where} moves {host!r} to {new!r}, {mapped[host][1][0]} to "
                f"{mapped[host][0]!r}; the {mapped[host][1][0]} one is used"
            )
            continue
        mapped.setdefault(host, (new, []))[1].append(where)
    hosts = _Builder(builder.from_env, builder.to_env)
    for host, (new, wheres) in mapped.items():
        if host == new or (_moves(later, host, new) and _moves(later, f"https://{host}/", f"https://{new}/")):
            continue  # the environment rules already do it
        reason = f"site's host ({', '.join(wheres)})"
        hosts.add(Rule(host.encode(), new.encode(), host_start=True, host_end=True), reason)
        search, replace = f"{_ENCODED_SLASHES}{host}", f"{_ENCODED_SLASHES}{new}"
        hosts.add(Rule(search.encode(), replace.encode(), host_end=True), f"{reason}, URL-encoded")
    urls: list[PlanEntry] = []
    for where, found, wanted in (
        ("home", source.home, target.home),
        ("siteurl", source.siteurl, target.siteurl),
        ("wp_blogs", f"//{source.domain}{source.path}", f"//{target.domain}{target.path}"),
    ):
        if not found or not wanted:
            continue
        url, new = found.rstrip("/"), wanted.rstrip("/")
        if _moves([*urls, *hosts.entries, *later], url, new):
            continue
        scheme, new_scheme = url.split("//", 1)[0], new.split("//", 1)[0]
        if scheme != new_scheme and scheme and new_scheme:
            search, replace = url, new
        else:
            search, replace = "//" + url.split("//", 1)[1], "//" + new.split("//", 1)[1]
        # host_end: "/news" is not "/news2" nor "/news.html".
        urls.append(
            PlanEntry(Rule(search.encode(), replace.encode(), host_end=True), f"site's URL ({where})")
        )
    builder.entries += [*urls, *hosts.entries]
    builder.notes += hosts.notes


def _moves(entries: Sequence[PlanEntry], value: str, expected: str) -> bool:
    """Whether `entries`, once safely ordered, turn `value` into `expected`."""
    rules = [e.rule for e in _order_safely(entries)]
    return Replacer(rules).replace(value.encode()) == expected.encode()


def _netloc(url: str | None) -> str:
    """The host[:port] of a URL ("" for None or a URL without one)."""
    if not url:
        return ""
    return urlsplit(url if "//" in url else f"//{url}").netloc.rsplit("@", 1)[-1]


def _site_line(site: SiteAddress) -> str:
    return (
        f"wp_blogs {site.domain}{site.path}, siteurl {site.siteurl or '(none)'}, home {site.home or '(none)'}"
    )


def _uncovered_hosts(plan: Plan) -> tuple[str, ...]:
    """Warnings for the site's hosts in the source that no rule rewrites."""
    site = plan.source_site
    if site is None:
        return ()
    replacer = Replacer(plan.rules)
    warnings = []
    for host in dict.fromkeys(h for h in (_netloc(site.home), _netloc(site.siteurl), site.domain) if h):
        url = f"https://{host}/".encode()
        if replacer.replace(url) == url:
            warnings.append(
                f"the site's host {host!r} in {plan.from_env} appears in no rule of the plan, so the "
                f"migrated site would still point at {plan.from_env}: check its row in {plan.to_env}'s "
                f"wp_blogs, or add --replace {host}=NEW_HOST"
            )
    return tuple(warnings)


# --------------------------------------------------------------------------------------------------------
# No rule rewrites what an earlier rule wrote.

_Form = tuple[bytes, bytes, int, tuple[bytes, ...]]
# Matches are found by replacing them with a marker of the same length: 0xFF is never UTF-8, so the
# marker rule gets no JSON-escaped form, and 0xFE around a text is a boundary like a value's ends.
_MARK = 0xFF
_PAD = b"\xfe"
# What may stand right before and after a written text: one of each class the core's host checks
# tell apart (nothing, a separator, a label character, a dot, an e-mail `@`, a path).
_LEFT = (b"", b" ", b"/", b"a", b".", b"@", b"a.", b"@a")
_RIGHT = (b"", b" ", b"/", b"a", b".", b".a")
_HOST_TOKEN = re.compile(rb"[A-Za-z0-9_.-]+")


def _order_safely(entries: Sequence[PlanEntry]) -> list[PlanEntry]:
    """The entries in an order where no rule matches text an earlier one wrote (see the module)."""
    placed: list[PlanEntry] = []
    for entry in entries:
        if entry.rule.subdomain:
            entry = _protect(placed, entry)
        own = _self_rewrite(entry.rule)
        if own is not None:
            raise _rewrite_error(entry, entry, own)
        hits = [k for k, done in enumerate(placed) if _rewrites(done.rule, entry.rule) is not None]
        if not hits:
            placed.append(entry)
            continue
        first = placed[hits[0]]
        for other in placed[hits[0] :]:
            if _rewrites(entry.rule, other.rule) is not None or _overlaps(entry.rule, other.rule):
                example = _rewrites(first.rule, entry.rule)
                assert example is not None
                raise _rewrite_error(first, entry, example)
        placed.insert(hits[0], entry)
    return placed


def _protect(placed: Sequence[PlanEntry], entry: PlanEntry) -> PlanEntry:
    """The subdomain rule, also skipping every host an earlier rule wrote that it would rewrite."""
    probe = Replacer([entry.rule])
    added: list[bytes] = []
    for done in placed:
        for _search, replace, _flags, _excludes in expand_rules([done.rule]):
            for token in _HOST_TOKEN.findall(replace):
                token = token.strip(b".")
                if token and token not in added and probe.replace(token) != token:
                    added.append(token)
    if not added:
        return entry
    rule = dataclasses.replace(entry.rule, exclude_hosts=(*entry.rule.exclude_hosts, *added))
    return PlanEntry(rule, entry.reason)


def _forms(rule: Rule) -> list[_Form]:
    return [(s, r, f, tuple(x)) for s, r, f, x in expand_rules([rule])]


@lru_cache(maxsize=4096)
def _rewrites(earlier: Rule, later: Rule) -> bytes | None:
    """A value in which `later` matches text that `earlier` wrote, or None when there is none."""
    for written in _forms(earlier):
        for form in _forms(later):
            example = _writes_into(written, form)
            if example is not None:
                return example
    return None


@lru_cache(maxsize=4096)
def _self_rewrite(rule: Rule) -> bytes | None:
    """A value in which the rule's JSON-escaped form matches what its plain form wrote."""
    forms = _forms(rule)
    return _writes_into(forms[0], forms[1]) if len(forms) == 2 else None


@lru_cache(maxsize=4096)
def _overlaps(one: Rule, other: Rule) -> bool:
    """Whether a match of one can overlap a match of the other in the same text (then their order
    decides which one applies there, and they cannot be swapped)."""
    for a in _forms(one):
        for b in _forms(other):
            same_a, same_b = (a[0], a[0], a[2], a[3]), (b[0], b[0], b[2], b[3])
            if _writes_into(same_a, b, partial=True) or _writes_into(same_b, a, partial=True):
                return True
    return False


def _writes_into(earlier: _Form, later: _Form, *, partial: bool = False) -> bytes | None:
    """A value where `earlier` matches and `later`, run next, matches inside what it wrote (or around
    all of it; with `partial`, over any part of it).

    Every such placement of `later`'s search is tried, with each class of character around it; the
    earlier rule must match in that context, as the real core decides.
    """
    search, written = earlier[0], earlier[1]
    needle = later[0]
    for k in range(-(len(needle) - 1), max(len(written), 1)):
        lo, hi = max(0, k), min(len(written), k + len(needle))
        if written[lo:hi] != needle[lo - k : hi - k]:
            continue
        if not written and not (k < 0 < k + len(needle)):
            continue
        inside = k >= 0 and k + len(needle) <= len(written)
        covering = k <= 0 and k + len(needle) >= len(written)
        if not (inside or covering or partial):
            # A search sharing only a few characters with the edge of a replacement
            # ("wordpress-pprd-us" + "ite-prod" for "site-prod") needs text that joins the two
            # exactly there; counting it would refuse most plain pairs.
            continue
        left_forced = needle[: max(0, -k)]
        right_forced = needle[len(written) - k :] if k + len(needle) > len(written) else b""
        for left in _LEFT:
            for right in _RIGHT:
                before_text = left + left_forced
                after_text = right_forced + right
                original = before_text + search + after_text
                start = len(before_text)
                if _marked(earlier, original)[start : start + len(search)] != bytes([_MARK]) * len(search):
                    continue  # the earlier rule does not match here
                value = before_text + written + after_text
                hit = _marked(later, value)
                span = (
                    range(start - 1, start + len(written) + 1)
                    if not written
                    else range(start, start + len(written))
                )
                changed = [p for p in span if hit[p] != value[p]]
                if (written and changed) or (not written and len(changed) == 2):
                    return original
    return None


def _marked(form: _Form, text: bytes) -> bytes:
    """`text` with each match of `form` overwritten by markers (same length)."""
    search, _replace, flags, excludes = form
    rule = Rule(
        search,
        bytes([_MARK]) * len(search),
        host_start=bool(flags & HOST_START),
        host_end=bool(flags & HOST_END),
        subdomain=bool(flags & SUBDOMAIN),
        exclude_hosts=excludes,
    )
    return Replacer([rule]).replace(_PAD + text + _PAD)[1:-1]


def _rewrite_error(earlier: PlanEntry, later: PlanEntry, value: bytes) -> UsageError | ConfigError:
    """The one-line error for a rule that would rewrite what an earlier (or its own plain) rule wrote."""
    got = Replacer([earlier.rule, later.rule] if earlier is not later else [later.rule]).replace(value)
    before, after = (v.decode("utf-8", "backslashreplace") for v in (value, got))
    shown = f"{before!r} would become {after!r}"
    whose = "its own plain form" if earlier is later else f"{earlier.reason} {earlier.pair()}"
    what = f"{later.reason} {later.pair()} would rewrite what {whose} wrote ({shown})"
    given = {"--replace", "given pair"} & {earlier.reason, later.reason}
    if given:
        return UsageError(
            f"{what}: drop or change that pair, so that no search is found in an earlier replacement"
        )
    return ConfigError(
        f"{what}: change the configuration (or the networks' addresses) so that no value is found in "
        "another's replacement"
    )


__all__ = [
    "MIN_SEARCH_CHARS",
    "NetworkPlan",
    "Plan",
    "PlanEntry",
    "checked_rules",
    "plan_for",
    "plan_network",
]


# --------------------------------------------------------------------------------------------------------
# A whole network (wfuwp.ops.network): every site's address in the target, and the network tables' rules.

Address = tuple[str, str]  # (domain, path) as in wp_blogs


@dataclass(frozen=True)
class NetworkPlan:
    """Where each site of a network refresh lands, and the rules for the network tables.

    `addresses`: {site id: (source (domain, path), target (domain, path))} for every source site;
    `mapped`: the ids whose target address came from `base` (not in the target's wp_blogs);
    `table_rules`: each site's host as a whole host (longest first), then `base`; `notes` name what
    the rules cannot express (a site whose path differs between the networks keeps the source's path).
    """

    addresses: dict[int, tuple[Address, Address]]
    mapped: tuple[int, ...]
    table_rules: tuple[Rule, ...]
    notes: tuple[str, ...] = ()

    def site_rules(
        self, site_id: int, source: SiteAddress, target: SiteAddress | None, base: Sequence[Rule]
    ) -> list[Rule]:
        """The rules of one site: its own hosts and URL (as `plan_for` plans a site), then `base`.

        `target` is the site's address in the target network; None for a site the target does not
        have, which lands at its mapped address.
        """
        if target is None:
            domain, path = self.addresses[site_id][1]
            target = SiteAddress(domain, path)
        # `base` was checked when the refresh began (the configured plan, or the caller's rules).
        plan = plan_for(
            None, "source", "target", source_site=source, target_site=target, extra=base, force=True
        )
        return plan.rules


def plan_network(
    source_blogs: dict[int, Address], target_blogs: dict[int, Address], base: Sequence[Rule]
) -> NetworkPlan:
    """Plan a network refresh from both networks' wp_blogs rows and the environment-level `base` rules.

    A site in both networks takes the target's own (domain, path); a site only in the source takes
    its domain rewritten by `base` (the configured environment hosts) and its path. Raises UsageError
    when `base` is unusable (see Replacer).
    """
    from wfuwp.replace import Replacer  # the planner builds rules; it maps hosts only here

    mapper = Replacer(base)
    addresses: dict[int, tuple[Address, Address]] = {}
    mapped: list[int] = []
    notes: list[str] = []
    for site_id, (domain, path) in sorted(source_blogs.items()):
        if site_id in target_blogs:
            target = target_blogs[site_id]
            if target[1] != path:
                notes.append(
                    f"site {site_id}: path {path!r} here and {target[1]!r} in the target; the network "
                    "tables keep the source's path"
                )
        else:
            target = (mapper.replace(domain.encode()).decode("utf-8", "replace"), path)
            mapped.append(site_id)
        addresses[site_id] = ((domain, path), target)
    hosts: dict[str, str] = {}
    for site_id, ((domain, _), (target_domain, _)) in sorted(addresses.items()):
        earlier = hosts.setdefault(domain, target_domain)
        if earlier != target_domain:
            notes.append(
                f"site {site_id}: {domain} is {target_domain} in the target but {earlier} for a site with "
                f"a lower id; the network tables use {earlier}"
            )
    host_rules = [
        Rule(domain.encode(), target.encode(), host_start=True, host_end=True)
        for domain, target in sorted(hosts.items(), key=lambda item: (-len(item[0]), item[0]))
        if domain != target
    ]
    return NetworkPlan(addresses, tuple(mapped), (*host_rules, *base), tuple(notes))
