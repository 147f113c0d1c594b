"""The replacement plan: the ordered rules a migration applies.

Two sources today, both here: `plan_for` derives the rules from the configuration (what the CLI
uses); `derive_pairs` derives a site's own URL pairs from both networks' `wp_blogs` rows and
siteurl/home (what `migrate_site(replacements=None)` uses).

`plan_for(config, "prod", "pprd")` maps each named value of the source environment (see
`wfuwp.config.settings.EnvConfig`) to the target's, most specific first:

1. media bucket host, media bucket name, CDN host, then the environments' `extra_pairs`;
2. the site host as a whole host token (this covers `https://`, `http://`, `//` and bare mentions);
3. the bare host (prod's `wfu.edu`) in URLs only, so prose and cookie domains keep it;
4. the URL-encoded forms of 2 and 3 (`https%3A%2F%2Fwww.wfu.edu`, as in share and redirect links);
5. subdomains (`news.wfu.edu` -> `news.pprd.wfu.edu`), skipping every host that belongs to another
   environment (`pprd.wfu.edu`, `dev.wfu.edu`, the CDN hosts, ...) so those stay as they are;
6. the caller's `--replace` pairs, as plain substrings, last.

Host rules never touch e-mail addresses (`someone@wfu.edu`, `someone@alumni.wfu.edu`) nor look-alike
hosts (`notwfu.edu`, `wfu.edu.example.org`); no rule repairs what an earlier one broke. The core adds
each rule's JSON-escaped form (`https:\\/\\/www.wfu.edu`) itself. Every entry carries a reason, for
`wfuwp migrate plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from wfuwp.config.settings import Config, EnvConfig
from wfuwp.errors import ConfigError, UsageError
from wfuwp.replace import Rule

# Host-valued fields of an environment whose values, in another environment, must survive the
# subdomain rule unchanged.
_HOST_FIELDS = ("site_host", "bare_host", "subdomain_base", "cdn_host", "media_bucket_host")
# rawurlencode('/') as PHP and JavaScript write it.
_ENCODED_SLASHES = "%2F%2F"


@dataclass(frozen=True)
class PlanEntry:
    """One rule of a plan and where it comes from ("site host", "CDN", "--replace", ...)."""

    rule: Rule
    reason: str

    def describe(self) -> str:
        """Return one line for people: `'www.wfu.edu' -> 'pprd.wfu.edu'  (site host; whole host only)`."""
        search = self.rule.search.decode("utf-8", "backslashreplace")
        replace = self.rule.replace.decode("utf-8", "backslashreplace")
        return f"{search!r} -> {replace!r}  ({self.reason}; {_scope(self.rule)})"


@dataclass(frozen=True)
class Plan:
    """The ordered rules of one migration, each with its reason, and notes on what was left out.

    `rules` is what `wfuwp.Replacer` takes. `notes` says which configured values were not mapped
    (and are therefore left as they are), one line each.
    """

    from_env: str
    to_env: str
    entries: tuple[PlanEntry, ...]
    notes: tuple[str, ...] = ()
    site_path: str = "/"
    source_host: str = ""
    target_host: str = ""

    @property
    def rules(self) -> list[Rule]:
        """The rules in the order they apply."""
        return [entry.rule for entry in self.entries]

    @property
    def source_url(self) -> str:
        """The migrated site's URL in the source environment (`https://www.wfu.edu/news/`)."""
        return f"https://{self.source_host}{self.site_path}"

    @property
    def target_url(self) -> str:
        """The migrated site's URL in the target environment (`https://pprd.wfu.edu/news/`)."""
        return f"https://{self.target_host}{self.site_path}"

    def describe(self) -> list[str]:
        """Return the plan as numbered lines, then the notes, for `wfuwp migrate plan`."""
        lines = [f"{self.from_env} -> {self.to_env}: {self.source_url} -> {self.target_url}"]
        lines += [f"{i:2}. {entry.describe()}" for i, entry in enumerate(self.entries, 1)]
        lines += [f"note: {note}" for note in self.notes]
        return lines


def plan_for(
    config: Config,
    from_env: str,
    to_env: str,
    *,
    site_path: str | None = None,
    extra: Iterable[tuple[str | bytes, str | bytes]] = (),
) -> Plan:
    """Build the replacement plan from environment `from_env` to `to_env`.

    `site_path` is the site's path on the network ("/news/"; default "/"), used for the plan's URLs
    only: every URL of the network's hosts is rewritten, whichever site it points at. `extra` holds
    `--replace` pairs, applied last as plain substrings. Pairs whose search equals their replacement
    are dropped with a note. Raise ConfigError for an unknown environment or one without `site_host`,
    UsageError for equal environments, a bad `site_path` or an empty search text in `extra`.
    """
    if from_env == to_env:
        raise UsageError(f"from and to are both {from_env!r}: migrate between two different environments")
    src, dst = config.env(from_env), config.env(to_env)
    path = _check_site_path(site_path)
    builder = _Builder(from_env, to_env)
    kept = _add_media_and_named(builder, src, dst)
    _add_site_hosts(builder, src, dst)
    _add_subdomains(builder, config, src, dst, kept)
    for search, replace in extra:
        builder.plain("--replace", _as_bytes(search), _as_bytes(replace))
    return Plan(
        from_env=from_env,
        to_env=to_env,
        entries=tuple(builder.entries),
        notes=tuple(builder.notes),
        site_path=path,
        source_host=_site_host(src),
        target_host=_site_host(dst),
    )


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

    def plain(self, reason: str, search: bytes, replace: bytes) -> None:
        if not search:
            raise UsageError(f"a {reason} pair has an empty search text: give every pair a search text")
        self.add(Rule(search, replace), reason)

    def pair(self, reason: str, source: str | None, target: str | None, *, whole_host: bool) -> bool:
        """Add source -> target when both are set; return False (with a note) when only source is."""
        if source is None:
            return True
        if target is None:
            self.notes.append(f"{reason}: {self.to_env} has none, so {source!r} is left as it is")
            return False
        self.add(Rule(source.encode(), target.encode(), host_start=whole_host, host_end=whole_host), reason)
        return True


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
    pairs += [
        (f"extra_pairs.{label}", value, dst.extra_pairs.get(label), False)
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


__all__ = ["Plan", "PlanEntry", "plan_for"]


# --------------------------------------------------------------------------------------------------------
# From the networks themselves.


def derive_pairs(
    source: tuple[tuple[str, str], list[str]], target: tuple[tuple[str, str], list[str]]
) -> list[Rule]:
    """Rules that move a site's own URLs from the source network's address to the target's.

    Each side is ((domain, path), [siteurl, home]). Full URLs come first (both schemes), then the
    scheme-less `//domain/path` and `domain/path` forms, longest first so no pair pre-empts another.
    """
    (src_domain, src_path), src_urls = source
    (tgt_domain, tgt_path), tgt_urls = target
    src_base = src_domain + src_path.rstrip("/")
    tgt_base = tgt_domain + tgt_path.rstrip("/")
    pairs: list[tuple[str, str]] = []

    def add(search: str, replacement: str) -> None:
        if search and search != replacement and all(search != s for s, _ in pairs):
            pairs.append((search, replacement))

    for src_url, tgt_url in zip(src_urls, tgt_urls, strict=False):
        add(src_url, tgt_url)
    for scheme in ("https", "http"):
        add(f"{scheme}://{src_base}", f"{scheme}://{tgt_base}")
    for src_url in src_urls:
        host_path = src_url.split("://", 1)[-1]
        if urlsplit(src_url).scheme and host_path != src_base:
            add(f"//{host_path}", f"//{tgt_base}")
    add(f"//{src_base}", f"//{tgt_base}")
    add(src_base, tgt_base)
    # The rules apply one after another, so the bare `host/path` must not match inside a host an earlier
    # rule wrote (`example.test` in `pprd.example.test` would become `pprd.pprd.example.test`): it
    # matches only where a host starts. The forms with `//` cannot match inside one.
    return [
        Rule(search.encode("utf-8"), replacement.encode("utf-8"), host_start="//" not in search)
        for search, replacement in sorted(pairs, key=lambda p: -len(p[0]))
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
        self, site_id: int, source_urls: list[str], target_urls: list[str], base: Sequence[Rule]
    ) -> list[Rule]:
        """The rules of one site: its own URLs (derive_pairs), then `base`."""
        source, target = self.addresses[site_id]
        if not target_urls:
            target_urls = [f"https://{target[0]}{target[1].rstrip('/')}"] * len(source_urls)
        return [*derive_pairs((source, source_urls), (target, target_urls)), *base]


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
