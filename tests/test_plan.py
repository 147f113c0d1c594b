"""The replacement plan, run through the real Replacer, for every ordered pair of WFU's environments."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfuwp import Replacer
from wfuwp.config.plan import Plan, plan_for
from wfuwp.config.settings import Config
from wfuwp.errors import ConfigError, UsageError
from wfuwp.mysql.network import SiteAddress

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "wfu-config.json"
ENVS = ("dev", "uat", "pprd", "prod")
PAIRS = list(itertools.permutations(ENVS, 2))


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")


def wfu() -> Config:
    return Config.load(EXAMPLE)


def host(env: str) -> str:
    """The site host of a WFU environment."""
    return "www.wfu.edu" if env == "prod" else f"{env}.wfu.edu"


def domain(env: str) -> str:
    """The domain whose subdomains belong to a WFU environment."""
    return "wfu.edu" if env == "prod" else f"{env}.wfu.edu"


def sub(label: str, env: str) -> str:
    return f"{label}.{domain(env)}"


def serialized(values: list[str]) -> str:
    """A PHP-serialized array of strings (lengths in bytes, as PHP counts them)."""
    items = "".join(f'i:{i};s:{len(v.encode())}:"{v}";' for i, v in enumerate(values))
    return f"a:{len(values)}:{{{items}}}"


def corpus(s: str, t: str) -> list[tuple[str, str]]:
    """(value in the source database, what it must become) for a migration from s to t."""
    S, T = host(s), host(t)
    D = domain(s)
    cases = [
        # the lead's list, as every pair must treat it
        *(
            (value, value)
            for value in ("someone@wfu.edu", "someone@alumni.wfu.edu", "wfu.edu.example.org", "notwfu.edu")
        ),
        # the source's own URLs and hosts
        (f"https://{S}/x", f"https://{T}/x"),
        (f"http://{S}", f"http://{T}"),
        (f"//{S}/x", f"//{T}/x"),
        (S, T),
        (f"Visit {S}.", f"Visit {T}."),
        (f"{S}:8443/x", f"{T}:8443/x"),
        (sub("news", s), sub("news", t)),
        (f"https://{sub('news', s)}/a", f"https://{sub('news', t)}/a"),
        (f"https://{sub('a.b', s)}/", f"https://{sub('a.b', t)}/"),
        (f'<a href="https://{S}/x">{sub("news", s)}</a>', f'<a href="https://{T}/x">{sub("news", t)}</a>'),
        # e-mail addresses and look-alikes of the source's hosts
        (f"someone@{D}", f"someone@{D}"),
        (f"someone@alumni.{D}", f"someone@alumni.{D}"),
        (f"mailto:someone@{S}", f"mailto:someone@{S}"),
        (f"{D}.example.org", f"{D}.example.org"),
        (f"https://{S}.example.org/", f"https://{S}.example.org/"),
        (f"not{D}", f"not{D}"),
        # notwww.wfu.edu is a prod subdomain like any other; notdev.wfu.edu is prod's, not dev's.
        (f"https://not{S}/", f"https://notwww.{t}.wfu.edu/" if s == "prod" else f"https://not{S}/"),
        # media and CDN
        (
            f"https://wfu-cer-wordpress-{s}-us-east-1.s3.amazonaws.com/sites/43/2020/a.jpg",
            f"https://wfu-cer-wordpress-{t}-us-east-1.s3.amazonaws.com/sites/43/2020/a.jpg",
        ),
        (f"s3://wordpress-{s}-us/sites/43/", f"s3://wordpress-{t}-us/sites/43/"),
        (f"https://{s}.wp.cdn.aws.wfu.edu/sites/43/a.jpg", f"https://{t}.wp.cdn.aws.wfu.edu/sites/43/a.jpg"),
        # JSON-escaped, URL-encoded and serialized forms
        (f'{{"url":"https:\\/\\/{S}\\/x"}}', f'{{"url":"https:\\/\\/{T}\\/x"}}'),
        (f'{{"url":"https:\\/\\/{sub("news", s)}"}}', f'{{"url":"https:\\/\\/{sub("news", t)}"}}'),
        (f"?u=https%3A%2F%2F{S}%2Fx", f"?u=https%3A%2F%2F{T}%2Fx"),
        (f"?u=https%3A%2F%2F{sub('news', s)}", f"?u=https%3A%2F%2F{sub('news', t)}"),
        (
            serialized([f"https://{S}/x", f"someone@{D}", sub("news", s), "notwfu.edu"]),
            serialized([f"https://{T}/x", f"someone@{D}", sub("news", t), "notwfu.edu"]),
        ),
    ]
    # Hosts of every other environment, the target's included, stay as they are.
    for other in (e for e in ENVS if e != s):
        for value in (
            f"https://{host(other)}/y",
            f"{sub('news', other)}",
            f"https://{other}.wp.cdn.aws.wfu.edu/a",
            f"?u=https%3A%2F%2F{host(other)}",
            f"https://wfu-cer-wordpress-{other}-us-east-1.s3.amazonaws.com/a",
        ):
            cases.append((value, value))
    if s == "prod":
        cases += [
            ("https://www.wfu.edu/x", f"https://{T}/x"),
            ("http://wfu.edu", f"http://{T}"),
            ("www.wfu.edu", T),
            ("news.wfu.edu", f"news.{T}"),
            ("https://news.wfu.edu/a", f"https://news.{T}/a"),
            ("https://wfu.edu/x", f"https://{T}/x"),
            ("//wfu.edu/x", f"//{T}/x"),
            ("See https://wfu.edu.", f"See https://{T}."),
            ("https:\\/\\/wfu.edu\\/x", f"https:\\/\\/{T}\\/x"),
            ("https%3A%2F%2Fwfu.edu", f"https%3A%2F%2F{T}"),
            ("https://wfu.edu.example.org/", "https://wfu.edu.example.org/"),
            ("https://notwfu.edu/", "https://notwfu.edu/"),
            # a bare wfu.edu outside a URL is prose or a cookie domain, as the predecessor left it
            ("Wake Forest (wfu.edu)", "Wake Forest (wfu.edu)"),
            (".wfu.edu", ".wfu.edu"),
            # the predecessor's repair pairs, which must not be needed
            ("https://news.www.wfu.edu/", f"https://news.www.{t}.wfu.edu/"),
        ]
    else:
        # prod's URLs in a non-prod database point at prod (or already at the target) and stay.
        for value in ("https://www.wfu.edu/x", "http://wfu.edu", "www.wfu.edu", "https://news.wfu.edu/a"):
            cases.append((value, value))
        cases.append((f"www.{S}", "www.wfu.edu" if t == "prod" else f"www.{T}"))
    return cases


@pytest.mark.parametrize(("s", "t"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_every_pair_rewrites_the_corpus_exactly(s: str, t: str) -> None:
    replacer = Replacer(plan_for(wfu(), s, t).rules)
    for value, expected in corpus(s, t):
        assert replacer.replace(value.encode()).decode() == expected, value


@pytest.mark.parametrize(("s", "t"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_no_pair_needs_a_repair_pair(s: str, t: str) -> None:
    """No rule's search is a host the plan itself wrote (the predecessor's `<t>.<t>.wfu.edu` fixes)."""
    for rule in plan_for(wfu(), s, t).rules:
        assert t.encode() + b"." + t.encode() not in rule.search
        assert not rule.search.startswith(b"www." + t.encode())


def test_prod_to_pprd_order_and_reasons() -> None:
    plan = plan_for(wfu(), "prod", "pprd", extra=[("Wake Forest Test", "Wake Forest PPRD")])
    assert [(e.reason, e.rule.search, e.rule.replace) for e in plan.entries] == [
        (
            "media bucket host",
            b"wfu-cer-wordpress-prod-us-east-1.s3.amazonaws.com",
            b"wfu-cer-wordpress-pprd-us-east-1.s3.amazonaws.com",
        ),
        ("media bucket", b"wfu-cer-wordpress-prod-us-east-1", b"wfu-cer-wordpress-pprd-us-east-1"),
        ("CDN", b"prod.wp.cdn.aws.wfu.edu", b"pprd.wp.cdn.aws.wfu.edu"),
        ("extra_pairs.media_name", b"wordpress-prod-us", b"wordpress-pprd-us"),
        ("site host", b"www.wfu.edu", b"pprd.wfu.edu"),
        ("bare host, in URLs", b"//wfu.edu", b"//pprd.wfu.edu"),
        ("site host, URL-encoded", b"%2F%2Fwww.wfu.edu", b"%2F%2Fpprd.wfu.edu"),
        ("bare host, URL-encoded", b"%2F%2Fwfu.edu", b"%2F%2Fpprd.wfu.edu"),
        ("subdomains", b".wfu.edu", b".pprd.wfu.edu"),
        ("--replace", b"Wake Forest Test", b"Wake Forest PPRD"),
    ]
    site, subdomains, extra = plan.entries[4].rule, plan.entries[8].rule, plan.entries[9].rule
    assert not (plan.entries[3].rule.host_start or plan.entries[3].rule.host_end)  # a named value: plain
    assert site.host_start and site.host_end and not site.subdomain
    assert subdomains.subdomain and subdomains.host_end
    for kept in (
        b"pprd.wfu.edu",
        b"dev.wfu.edu",
        b"uat.wfu.edu",
        b"pprd.wp.cdn.aws.wfu.edu",
        b"2Fpprd.wfu.edu",
    ):
        assert kept in subdomains.exclude_hosts
    assert b"www.wfu.edu" not in subdomains.exclude_hosts  # news.www.wfu.edu is a prod subdomain like any
    assert not (extra.host_start or extra.host_end or extra.subdomain or extra.exclude_hosts)
    assert plan.notes == ()


def test_describe_is_readable_lines() -> None:
    lines = plan_for(wfu(), "prod", "uat", site_path="/news").describe()
    assert lines[0] == "prod -> uat: https://www.wfu.edu/news/ -> https://uat.wfu.edu/news/"
    assert lines[4] == " 4. 'wordpress-prod-us' -> 'wordpress-uat-us'  (extra_pairs.media_name; anywhere)"
    assert lines[5] == " 5. 'www.wfu.edu' -> 'uat.wfu.edu'  (site host; whole host only, not e-mail)"
    assert lines[-1].startswith(
        " 9. '.wfu.edu' -> '.uat.wfu.edu'  (subdomains; subdomains, not e-mail; except "
    )
    assert "2F" not in lines[-1]


def test_extra_pairs_come_after_named_values_and_are_plain() -> None:
    plan = plan_for(wfu(), "pprd", "prod", extra=[(b"pprd-only", b"prod"), ("Wake Forest", "Wake Forest U")])
    assert [e.reason for e in plan.entries][-2:] == ["--replace", "--replace"]
    # A replacement that contains its search applies once.
    assert Replacer(plan.rules).replace(b"Wake Forest, Wake Forest") == b"Wake Forest U, Wake Forest U"


def test_extra_pair_validation() -> None:
    with pytest.raises(UsageError, match=r"^a --replace pair has an empty search text"):
        plan_for(wfu(), "prod", "pprd", extra=[("", "x")])
    plan = plan_for(wfu(), "prod", "pprd", extra=[("same", "same")])
    assert [e.reason for e in plan.entries].count("--replace") == 0
    assert plan.notes == ("--replace: 'same' is the same in both; skipped",)


def test_named_extra_pairs_map_by_label_before_hosts() -> None:
    config = wfu()
    config.set("env.prod.extra_pairs.sso", "login.wfu.edu")
    config.set("env.pprd.extra_pairs.sso", "login-test.wfu.edu")
    config.set("env.prod.extra_pairs.ga", "G-PROD")
    plan = plan_for(config, "prod", "pprd")
    reasons = [e.reason for e in plan.entries]
    assert reasons.index("extra_pairs.sso") < reasons.index("site host")
    replacer = Replacer(plan.rules)
    # The target's value is not rewritten again by the subdomain rule.
    assert replacer.replace(b"https://login.wfu.edu/idp") == b"https://login-test.wfu.edu/idp"
    # A value the target does not have is kept, whole, and said so.
    assert replacer.replace(b"G-PROD") == b"G-PROD"
    assert "extra_pairs.ga: pprd has none, so 'G-PROD' is left as it is" in plan.notes


def test_target_without_cdn_or_subdomains_keeps_them() -> None:
    config = wfu()
    config.set("env.local.site_host", "localhost:8080")
    plan = plan_for(config, "prod", "local")
    replacer = Replacer(plan.rules)
    assert replacer.replace(b"https://www.wfu.edu/x") == b"https://localhost:8080/x"
    assert replacer.replace(b"http://wfu.edu/") == b"http://localhost:8080/"
    assert (
        replacer.replace(b"https://prod.wp.cdn.aws.wfu.edu/a.jpg") == b"https://prod.wp.cdn.aws.wfu.edu/a.jpg"
    )
    assert replacer.replace(b"news.wfu.edu") == b"news.wfu.edu"
    assert plan.notes == (
        "media bucket host: local has none, so 'wfu-cer-wordpress-prod-us-east-1.s3.amazonaws.com' is left "
        "as it is",
        "media bucket: local has none, so 'wfu-cer-wordpress-prod-us-east-1' is left as it is",
        "CDN: local has none, so 'prod.wp.cdn.aws.wfu.edu' is left as it is",
        "extra_pairs.media_name: local has none, so 'wordpress-prod-us' is left as it is",
        "subdomains: local has no subdomain_base, so *.wfu.edu hosts are left as they are",
    )


def test_source_value_kept_is_protected_from_the_subdomain_rule() -> None:
    config = wfu()
    config.set("env.local.site_host", "local.wfu.edu")
    config.set("env.local.subdomain_base", "local.wfu.edu")
    plan = plan_for(config, "prod", "local")
    # local has no CDN: prod's CDN host stays whole, not prod.wp.cdn.aws.local.wfu.edu
    assert Replacer(plan.rules).replace(b"prod.wp.cdn.aws.wfu.edu") == b"prod.wp.cdn.aws.wfu.edu"
    assert Replacer(plan.rules).replace(b"news.wfu.edu") == b"news.local.wfu.edu"


def test_same_values_are_dropped_with_a_note() -> None:
    config = wfu()
    config.set("env.uat.media_bucket", "wfu-cer-wordpress-dev-us-east-1")
    plan = plan_for(config, "dev", "uat")
    assert "media bucket" not in [e.reason for e in plan.entries]
    assert "media bucket: 'wfu-cer-wordpress-dev-us-east-1' is the same in both; skipped" in plan.notes


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("prod", "prod"), UsageError, r"^from and to are both 'prod': migrate between two different"),
        (
            ("prod", "stage"),
            ConfigError,
            r"^unknown environment 'stage': known environments are bare, dev, pprd, prod, uat",
        ),
        (
            ("prod", "bare"),
            ConfigError,
            r"^environment 'bare' has no site_host: run `wfuwp config set env\.bare",
        ),
    ],
)
def test_bad_environments(args: tuple[str, str], error: type[Exception], message: str) -> None:
    config = wfu()
    config.set("env.bare.host", "h")
    with pytest.raises(error, match=message):
        plan_for(config, *args)


@pytest.mark.parametrize(
    ("path", "url"),
    [(None, "https://pprd.wfu.edu/"), ("/news", "https://pprd.wfu.edu/news/"), ("/a/b/", None)],
)
def test_site_path(path: str | None, url: str | None) -> None:
    plan = plan_for(wfu(), "prod", "pprd", site_path=path)
    assert plan.target_url == (url or "https://pprd.wfu.edu/a/b/")
    assert plan.source_url.startswith("https://www.wfu.edu/")


@pytest.mark.parametrize("path", ["news", "//x", "/a b/"])
def test_bad_site_path(path: str) -> None:
    with pytest.raises(UsageError, match=r"is not a URL path"):
        plan_for(wfu(), "prod", "pprd", site_path=path)


def test_plan_is_a_frozen_value() -> None:
    plan = plan_for(wfu(), "prod", "pprd")
    assert isinstance(plan, Plan)
    with pytest.raises(AttributeError):
        plan.from_env = "dev"  # type: ignore[misc]


_LOCAL = st.text(alphabet="abcxyz019_+-.", min_size=1, max_size=12)
_LABELS = st.lists(st.text(alphabet="abcnews0-", min_size=1, max_size=8), max_size=3)


@given(local=_LOCAL, labels=_LABELS, env=st.sampled_from(ENVS), pair=st.sampled_from(PAIRS))
def test_email_addresses_never_change(local: str, labels: list[str], env: str, pair: tuple[str, str]) -> None:
    address = f"{local}@{'.'.join([*labels, domain(env)])}"
    replacer = Replacer(plan_for(wfu(), *pair).rules)
    for text in (address, f"mailto:{address}", f"<{address}>", serialized([address])):
        assert replacer.replace(text.encode()) == text.encode()


def test_host_valued_extra_pairs_are_whole_hosts() -> None:
    # Matched as a plain substring inside alogin.wfu.edu, the sso rule wrote alogin-test.wfu.edu, which
    # the subdomain rule then rewrote again (alogin-test.pprd.wfu.edu).
    config = wfu()
    config.set("env.prod.extra_pairs.sso", "login.wfu.edu")
    config.set("env.pprd.extra_pairs.sso", "login-test.wfu.edu")
    plan = plan_for(config, "prod", "pprd")
    sso = next(e.rule for e in plan.entries if e.reason == "extra_pairs.sso")
    assert sso.host_start and sso.host_end
    replacer = Replacer(plan.rules)
    assert replacer.replace(b"https://login.wfu.edu/idp") == b"https://login-test.wfu.edu/idp"
    assert replacer.replace(b"https://alogin.wfu.edu/") == b"https://alogin.pprd.wfu.edu/"
    assert replacer.replace(b"https://login-test.wfu.edu/") == b"https://login-test.wfu.edu/"


@pytest.mark.parametrize(("s", "t"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_the_networks_agreeing_with_the_configuration_add_nothing(s: str, t: str) -> None:
    """A subdirectory site on the configured hosts: the plan is the configuration's, URLs the site's."""
    source = SiteAddress(host(s), "/biology/", f"https://{host(s)}/biology", f"https://{host(s)}/biology")
    target = SiteAddress(host(t), "/biology/", f"http://{host(t)}/biology", f"http://{host(t)}/biology")
    plan = plan_for(wfu(), s, t, source_site=source, target_site=target)
    reasons = [e.reason for e in plan.entries]
    # Only the scheme differs from what the configuration does: one URL rule, first.
    assert reasons[0] == "site's URL (home)" and "site's URL" not in " ".join(reasons[1:])
    assert [e.rule for e in plan.entries[1:]] == plan_for(wfu(), s, t).rules
    assert plan.source_url == f"https://{host(s)}/biology/"
    assert plan.target_url == f"http://{host(t)}/biology/"
    assert plan.warnings == ()
    replacer = Replacer(plan.rules)
    assert replacer.replace(f"https://{host(s)}/biology/x".encode()) == f"http://{host(t)}/biology/x".encode()
    assert (
        replacer.replace(f"https://{host(s)}/biology2/".encode()) == f"https://{host(t)}/biology2/".encode()
    )
    for value, expected in corpus(s, t):
        if "/biology" not in value:
            assert replacer.replace(value.encode()).decode() == expected, value
