"""Hosts from the networks themselves (issue 10, point 3): one planner for the library and the CLI.

The site's own address in each network (wp_blogs domain + path, siteurl, home) moves to the target's,
the configured environment rules and --replace add to it, and no rule rewrites what an earlier rule
wrote. Every hazard is shown through the real Replacer (both twins: the suite runs twice) on values in
plain, JSON-escaped, URL-encoded and serialized form; then end to end on MariaDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import wfuwp
from tests.wpsite import Env, clean_environment, execute, rows, write_config
from wfuwp import Replacer
from wfuwp.config.plan import Plan, checked_rules, plan_for
from wfuwp.config.settings import Config
from wfuwp.errors import ConfigError, UsageError
from wfuwp.mysql.network import SiteAddress
from wfuwp.ops.environment import migrate_between

__all__ = ["clean_environment"]

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "wfu-config.json"


def wfu() -> Config:
    return Config.load(EXAMPLE)


def site(domain: str, path: str = "/", url: str | None = None) -> SiteAddress:
    """A site as a network lists it: siteurl = home = `url` (default https://domain/path)."""
    url = url or f"https://{domain}{path}".rstrip("/")
    return SiteAddress(domain, path, url, url)


def serialized(value: str) -> str:
    return f'a:1:{{i:0;s:{len(value.encode())}:"{value}";}}'


def json_escaped(value: str) -> str:
    return value.replace("/", "\\/")


def assert_rewrites(plan: Plan | list[Any], cases: list[tuple[str, str]]) -> None:
    """Each value becomes exactly what it must, also JSON-escaped and inside a serialized array."""
    replacer = Replacer(plan.rules if isinstance(plan, Plan) else plan)
    for value, expected in cases:
        for form in (lambda v: v, json_escaped, serialized):
            got = replacer.replace(form(value).encode()).decode()
            assert got == form(expected), (form(value), got)


def library_plan(source: SiteAddress, target: SiteAddress, **kwargs: Any) -> Plan:
    """The plan `migrate_site(replacements=None)` makes: the networks alone, no configuration."""
    return plan_for(None, "prod", "pprd", source_site=source, target_site=target, **kwargs)


# -- ordering hazards, through the real Replacer ----------------------------------------------------------


def test_target_host_contains_the_source_host() -> None:
    plan = library_plan(site("example.test", "/bio/"), site("pprd.example.test", "/bio/"))
    assert_rewrites(
        plan,
        [
            ("http://example.test/bio", "http://pprd.example.test/bio"),
            ("https://example.test/bio/x", "https://pprd.example.test/bio/x"),
            ("//example.test/bio/z", "//pprd.example.test/bio/z"),  # scheme-less
            ("example.test/bio/w", "pprd.example.test/bio/w"),  # bare host
            ("example.test", "pprd.example.test"),
            ("?u=https%3A%2F%2Fexample.test%2Fbio", "?u=https%3A%2F%2Fpprd.example.test%2Fbio"),
            ("https://pprd.example.test/bio", "https://pprd.example.test/bio"),  # already the target
            ("me@example.test", "me@example.test"),
            ("https://example.test.au/", "https://example.test.au/"),
        ],
    )


def test_source_host_contains_the_target_host() -> None:
    plan = library_plan(site("pprd.example.test"), site("example.test"))
    assert_rewrites(
        plan,
        [
            ("https://pprd.example.test/x", "https://example.test/x"),
            ("pprd.example.test", "example.test"),
            ("https://example.test/x", "https://example.test/x"),
            ("https%3A%2F%2Fpprd.example.test", "https%3A%2F%2Fexample.test"),
        ],
    )


def test_a_site_path_is_not_a_prefix_of_another() -> None:
    # The site moves from /news/ to /news-old/: /news2/ (another site) keeps its path, only the host moves.
    plan = library_plan(site("www.example.org", "/news/"), site("pprd.example.org", "/news-old/"))
    assert_rewrites(
        plan,
        [
            ("https://www.example.org/news", "https://pprd.example.org/news-old"),
            ("https://www.example.org/news/a", "https://pprd.example.org/news-old/a"),
            ("//www.example.org/news/", "//pprd.example.org/news-old/"),
            ("https://www.example.org/news2/a", "https://pprd.example.org/news2/a"),
            ("https://www.example.org/news.html", "https://pprd.example.org/news.html"),
            ("https://www.example.org/", "https://pprd.example.org/"),
        ],
    )


def test_http_source_https_target() -> None:
    plan = library_plan(
        site("dept.example.org", url="http://dept.example.org"),
        site("pprd.dept.example.org", url="https://pprd.dept.example.org"),
    )
    assert_rewrites(
        plan,
        [
            ("http://dept.example.org", "https://pprd.dept.example.org"),
            ("http://dept.example.org/x", "https://pprd.dept.example.org/x"),
            ("https://dept.example.org/x", "https://pprd.dept.example.org/x"),
            ("http://pprd.dept.example.org/x", "http://pprd.dept.example.org/x"),
            ("//dept.example.org/x", "//pprd.dept.example.org/x"),
        ],
    )


def test_subdomain_site_under_the_network_base() -> None:
    # pprd's wp_blogs lists the site at pprd-news.wfu.edu, not at what the subdomain rule would make of
    # it (news.pprd.wfu.edu): the site's own rule wins, and the subdomain rule leaves what it wrote.
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("news.wfu.edu"), target_site=site("pprd-news.wfu.edu")
    )
    assert_rewrites(
        plan,
        [
            ("https://news.wfu.edu/a", "https://pprd-news.wfu.edu/a"),
            ("news.wfu.edu", "pprd-news.wfu.edu"),
            ("https%3A%2F%2Fnews.wfu.edu", "https%3A%2F%2Fpprd-news.wfu.edu"),
            ("https://pprd-news.wfu.edu/a", "https://pprd-news.wfu.edu/a"),
            ("https://sports.wfu.edu/a", "https://sports.pprd.wfu.edu/a"),
            ("https://www.wfu.edu/a", "https://pprd.wfu.edu/a"),
        ],
    )
    assert plan.warnings == ()


def test_subdomain_site_the_configuration_already_moves_adds_no_rule() -> None:
    plain = plan_for(wfu(), "prod", "pprd")
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("news.wfu.edu"), target_site=site("news.pprd.wfu.edu")
    )
    assert plan.rules == plain.rules
    assert plan.target_url == "https://news.pprd.wfu.edu/"


def test_domain_mapped_host_under_the_network_host() -> None:
    # dept.wfu.edu is mapped; pprd's wp_blogs says pprd.dept.wfu.edu, which the subdomain rule (.wfu.edu
    # -> .pprd.wfu.edu, excepting pprd.wfu.edu and its subdomains) would rewrite again.
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("dept.wfu.edu"), target_site=site("pprd.dept.wfu.edu")
    )
    assert_rewrites(
        plan,
        [
            ("https://dept.wfu.edu/x", "https://pprd.dept.wfu.edu/x"),
            ("dept.wfu.edu", "pprd.dept.wfu.edu"),
            ("?u=https%3A%2F%2Fdept.wfu.edu%2Fx", "?u=https%3A%2F%2Fpprd.dept.wfu.edu%2Fx"),
            ("https://pprd.dept.wfu.edu/x", "https://pprd.dept.wfu.edu/x"),
            ("https://news.wfu.edu/", "https://news.pprd.wfu.edu/"),
            ("someone@dept.wfu.edu", "someone@dept.wfu.edu"),
        ],
    )
    reasons = [e.reason for e in plan.entries]
    assert reasons[:2] == [
        "site's host (home, siteurl, wp_blogs)",
        "site's host (home, siteurl, wp_blogs), URL-encoded",
    ]
    subdomains = plan.entries[reasons.index("subdomains")].rule
    assert b"pprd.dept.wfu.edu" in subdomains.exclude_hosts


def test_domain_mapped_host_outside_the_configuration() -> None:
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("dept.example.org"), target_site=site("pprd.dept.example.org")
    )
    assert_rewrites(
        plan,
        [
            ("https://dept.example.org/x", "https://pprd.dept.example.org/x"),
            ("https://www.wfu.edu/x", "https://pprd.wfu.edu/x"),
            ("https://pprd.dept.example.org/x", "https://pprd.dept.example.org/x"),
        ],
    )
    lines = plan.describe()
    assert lines[0] == "prod -> pprd: https://dept.example.org/ -> https://pprd.dept.example.org/"
    assert lines[1].startswith("site in prod: wp_blogs dept.example.org/, siteurl https://dept.example.org")
    assert lines[2].startswith("site in pprd: wp_blogs pprd.dept.example.org/")


def test_config_host_rules_overlapping_the_networks() -> None:
    # The target network puts site 1 at staging.wfu.edu, where the configuration says pprd.wfu.edu: the
    # network is right about its own sites; the configuration's rules still move every other host.
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("www.wfu.edu"), target_site=site("staging.wfu.edu")
    )
    assert_rewrites(
        plan,
        [
            ("https://www.wfu.edu/x", "https://staging.wfu.edu/x"),
            ("www.wfu.edu", "staging.wfu.edu"),
            ("https://staging.wfu.edu/x", "https://staging.wfu.edu/x"),
            ("https://wfu.edu/x", "https://pprd.wfu.edu/x"),
            ("https://news.wfu.edu/x", "https://news.pprd.wfu.edu/x"),
        ],
    )
    # Where the network and the configuration agree, the plan is the configuration's.
    same = plan_for(wfu(), "prod", "pprd", source_site=site("www.wfu.edu", "/biology/"),
                    target_site=site("pprd.wfu.edu", "/biology/"))  # fmt: skip
    assert same.rules == plan_for(wfu(), "prod", "pprd").rules


def test_replace_overlapping_the_plan_is_refused() -> None:
    # wfu.edu -> pprd.wfu.edu after the plan would turn the pprd.wfu.edu it wrote into pprd.pprd.wfu.edu.
    with pytest.raises(
        UsageError, match=r"^--replace 'wfu.edu' -> 'pprd.wfu.edu' would rewrite what .* wrote \("
    ):
        plan_for(wfu(), "prod", "pprd", extra=[("wfu.edu", "pprd.wfu.edu")])
    # A pair that cannot meet the plan's text is kept, last.
    plan = plan_for(wfu(), "prod", "pprd", extra=[("Wake Forest Test", "Wake Forest PPRD")])
    assert plan.entries[-1].reason == "--replace"


def test_chained_pairs_each_apply_to_the_original() -> None:
    plan = plan_for(wfu(), "prod", "pprd", extra=[("cyan", "blue"), ("blue", "green")])
    assert [e.rule.search for e in plan.entries[-2:]] == [b"blue", b"cyan"]
    assert_rewrites(plan, [("cyan blue", "blue green"), ("cyanblue", "bluegreen")])
    # The library's own pairs, the same way.
    assert_rewrites(checked_rules([("cyan", "blue"), ("blue", "green")]), [("cyan blue", "blue green")])
    with pytest.raises(
        UsageError, match=r"would rewrite what given pair 'cyan' -> 'blue' wrote \('cyan' would"
    ):
        checked_rules([("cyan", "blue"), ("blue", "cyan")])  # a swap cannot be sequenced
    # Pairs whose matches can overlap ("alphabeta") keep their order, so a chain of them is refused.
    with pytest.raises(UsageError, match=r"would rewrite what given pair 'alpha' -> 'beta' wrote"):
        checked_rules([("alpha", "beta"), ("beta", "gamma")])


def test_caller_pairs_that_rewrite_each_other_are_refused() -> None:
    # The shape of the old derived pairs: https://X -> https://pprd.X, then X -> pprd.X.
    with pytest.raises(UsageError, match=r"^given pair 'example.test' -> 'pprd.example.test' would rewrite"):
        checked_rules(
            [("https://example.test", "https://pprd.example.test"), ("example.test", "pprd.example.test")]
        )


def test_config_values_that_rewrite_each_other_are_a_config_error() -> None:
    # UA-PROD -> UA-PROD-TEST, then PROD-TEST -> PPRD-TEST would give UA-PPRD-TEST; and the other
    # order would turn UA-PROD-TEST in the source into UA-PPRD-TEST rather than UA-PROD-TEST-TEST.
    config = wfu()
    config.set("env.prod.extra_pairs.analytics", "UA-PROD")
    config.set("env.pprd.extra_pairs.analytics", "UA-PROD-TEST")
    config.set("env.prod.extra_pairs.tracker", "PROD-TEST")
    config.set("env.pprd.extra_pairs.tracker", "PPRD-TEST")
    with pytest.raises(
        ConfigError,
        match=r"^extra_pairs\.tracker 'PROD-TEST' -> 'PPRD-TEST' would rewrite what extra_pairs\.analytics "
        r"'UA-PROD' -> 'UA-PROD-TEST' wrote \('UA-PROD' would become 'UA-PPRD-TEST'\): change the "
        r"configuration",
    ):
        plan_for(config, "prod", "pprd")


def test_short_search_needs_force() -> None:
    with pytest.raises(
        UsageError, match=r"^--replace search 'Bio' is shorter than 4 characters .* or --force"
    ):
        plan_for(wfu(), "prod", "pprd", extra=[("Bio", "Biology")])
    assert (
        plan_for(wfu(), "prod", "pprd", extra=[("Bio", "Biology")], force=True).entries[-1].reason
        == "--replace"
    )
    with pytest.raises(UsageError, match=r"^replacement search 'ab' is shorter .* or force=True"):
        checked_rules([("ab", "cd")])
    assert checked_rules([("ab", "cd")], force=True)[0].search == b"ab"


def test_plan_warns_when_the_sites_host_is_in_no_rule() -> None:
    # The target network lists the site under the same host (a copy of prod's wp_blogs): nothing moves it.
    plan = plan_for(
        wfu(), "prod", "pprd", source_site=site("dept.example.org"), target_site=site("dept.example.org")
    )
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith(
        "the site's host 'dept.example.org' in prod appears in no rule of the plan"
    )
    assert plan.describe()[-1] == f"warning: {plan.warnings[0]}"
    ok = plan_for(
        wfu(), "prod", "pprd", source_site=site("dept.example.org"), target_site=site("x.example.org")
    )
    assert ok.warnings == ()


# -- end to end on MariaDB ----------------------------------------------------------------------------------

MAPPED, SUBDOMAIN = 44, 45


def make_hosts_network(server: Any, database: str, env: str) -> None:
    """A network with a domain-mapped subsite (44) and a subdomain site of example.net (45)."""
    mapped = "dept.example.org" if env == "prod" else "pprd.dept.example.org"
    news = "news.example.net" if env == "prod" else "news.pprd.example.net"
    base = "www.wfu.edu" if env == "prod" else "pprd.wfu.edu"
    statements = [
        "CREATE TABLE wp_blogs (blog_id BIGINT PRIMARY KEY, site_id BIGINT, domain VARCHAR(200),"
        " path VARCHAR(100)) ENGINE=InnoDB",
        f"INSERT INTO wp_blogs VALUES (1, 1, '{base}', '/'), ({MAPPED}, 1, '{mapped}', '/'),"
        f" ({SUBDOMAIN}, 1, '{news}', '/'), (46, 1, 'same.example.org', '/')",
    ]
    for site_id, host in ((MAPPED, mapped), (SUBDOMAIN, news), (46, "same.example.org")):
        url = f"https://{host}"
        statements += [
            f"CREATE TABLE wp_{site_id}_options (option_id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,"
            " option_name VARCHAR(191) UNIQUE, option_value LONGTEXT, autoload VARCHAR(20)) ENGINE=InnoDB",
            f"INSERT INTO wp_{site_id}_options VALUES (1, 'siteurl', '{url}', 'yes'),"
            f" (2, 'home', '{url}', 'yes'),"
            f" (3, 'links', '{serialized(url + '/about/')}', 'no')",
            f"CREATE TABLE wp_{site_id}_posts (ID BIGINT UNSIGNED PRIMARY KEY, post_content LONGTEXT,"
            " guid VARCHAR(255)) ENGINE=InnoDB",
            f"INSERT INTO wp_{site_id}_posts VALUES (1, 'See {url}/a, //{host}/b, {host}, "
            f"https:\\\\/\\\\/{host}\\\\/c and https%3A%2F%2F{host}%2Fd; mail me@{host}', '{url}/?p=1')",
        ]
    execute(server, database, statements)


@pytest.fixture
def hosts_env(mariadb: Any, make_database: Any, tmp_path: Path) -> Env:
    prod, pprd = make_database(mariadb, "wfuwp_hosts_prod"), make_database(mariadb, "wfuwp_hosts_pprd")
    make_hosts_network(mariadb, prod, "prod")
    make_hosts_network(mariadb, pprd, "pprd")
    path = tmp_path / "cfg" / "config.json"
    write_config(path, mariadb, {"prod": prod, "pprd": pprd}, None)
    return Env(mariadb, prod, pprd, "", path, tmp_path / "work")


def site_values(env: Env, site_id: int) -> tuple[dict[bytes, bytes], bytes, bytes]:
    options = dict(rows(env.server, env.pprd, f"SELECT option_name, option_value FROM wp_{site_id}_options"))
    content, guid = rows(env.server, env.pprd, f"SELECT post_content, guid FROM wp_{site_id}_posts")[0]
    as_bytes = {
        k.encode() if isinstance(k, str) else k: v.encode() if isinstance(v, str) else v
        for k, v in options.items()
    }
    return (
        as_bytes,
        content.encode() if isinstance(content, str) else content,
        guid.encode() if isinstance(guid, str) else guid,
    )


def expected_content(host: str) -> bytes:
    return (
        f"See https://{host}/a, //{host}/b, {host}, https:\\/\\/{host}\\/c and https%3A%2F%2F{host}%2Fd; "
        f"mail me@SOURCE"
    ).encode()


def test_migrate_between_moves_a_domain_mapped_subsite(hosts_env: Env) -> None:
    config = Config.load(hosts_env.config)
    result = migrate_between(config, MAPPED, "prod", "pprd")
    assert result.report is not None and result.report.replacements > 0
    assert result.plan.source_url == "https://dept.example.org/"
    assert result.plan.target_url == "https://pprd.dept.example.org/"
    options, content, guid = site_values(hosts_env, MAPPED)
    assert options[b"siteurl"] == options[b"home"] == b"https://pprd.dept.example.org"
    assert options[b"links"] == serialized("https://pprd.dept.example.org/about/").encode()
    assert content == expected_content("pprd.dept.example.org").replace(b"SOURCE", b"dept.example.org")
    assert guid == b"https://pprd.dept.example.org/?p=1"


def test_cli_migrates_a_subdomain_site(hosts_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = hosts_env.run(
        capsys, "migrate", str(SUBDOMAIN), "--from", "prod", "--to", "pprd", "--yes", "--skip-backup"
    )
    assert code == 0, err
    assert "prod -> pprd: https://news.example.net/ -> https://news.pprd.example.net/" in out
    options, content, guid = site_values(hosts_env, SUBDOMAIN)
    assert options[b"siteurl"] == options[b"home"] == b"https://news.pprd.example.net"
    assert content == expected_content("news.pprd.example.net").replace(b"SOURCE", b"news.example.net")
    assert guid == b"https://news.pprd.example.net/?p=1"


def test_library_migrate_site_plans_from_the_networks(hosts_env: Env) -> None:
    dsn = hosts_env.server.dsn
    report = wfuwp.migrate_site(MAPPED, source=dsn(hosts_env.prod), target=dsn(hosts_env.pprd))
    assert report.pairs_origin.startswith("derived")
    assert report.pairs[0] == ("dept.example.org", "pprd.dept.example.org")
    options, content, _guid = site_values(hosts_env, MAPPED)
    assert options[b"siteurl"] == b"https://pprd.dept.example.org"
    assert content == expected_content("pprd.dept.example.org").replace(b"SOURCE", b"dept.example.org")
    with pytest.raises(UsageError, match=r"shorter than 4 characters"):
        wfuwp.migrate_site(
            MAPPED, source=dsn(hosts_env.prod), target=dsn(hosts_env.pprd), replacements=[("org", "net")]
        )


def test_cli_plan_shows_the_sites_urls_and_strict_fails_on_a_warning(
    hosts_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = hosts_env.run(capsys, "migrate", "plan", str(MAPPED), "--from", "prod", "--to", "pprd")
    assert code == 0, err
    lines = out.splitlines()
    assert "prod -> pprd: https://dept.example.org/ -> https://pprd.dept.example.org/" in lines[0]
    assert (
        "site in prod: wp_blogs dept.example.org/, siteurl https://dept.example.org, home https://dept.example.org"
        in lines
    )
    assert any(line.startswith("site in pprd: wp_blogs pprd.dept.example.org/") for line in lines)
    assert (
        " 1. 'dept.example.org' -> 'pprd.dept.example.org'  (site's host (home, siteurl, wp_blogs); "
        "whole host only, not e-mail)" in lines
    )
    assert "WARNING" not in err
    # Site 46 has the same host in both networks: nothing in the plan moves it.
    code, out, err = hosts_env.run(capsys, "migrate", "plan", "46", "--from", "prod", "--to", "pprd")
    assert code == 0
    assert "WARNING: the site's host 'same.example.org' in prod appears in no rule of the plan" in err
    code, out, err = hosts_env.run(
        capsys, "migrate", "plan", "46", "--from", "prod", "--to", "pprd", "--strict"
    )
    assert code == 2
    assert err.splitlines()[-1].startswith(
        "error: --strict: the site's host 'same.example.org' in prod appears"
    )
    # The same warning on migrate's own plan (a dry run writes nothing).
    code, out, err = hosts_env.run(capsys, "migrate", "46", "--from", "prod", "--to", "pprd", "--dry-run")
    assert code == 0, err
    assert "WARNING: the site's host 'same.example.org' in prod appears in no rule" in err


def test_cli_short_replace_needs_force(hosts_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["migrate", "plan", str(MAPPED), "--from", "prod", "--to", "pprd", "--replace", "Bio=Biology"]
    code, out, err = hosts_env.run(capsys, *args)
    assert code == 2 and out == ""
    assert err == (
        "error: --replace search 'Bio' is shorter than 4 characters and would match inside unrelated words "
        "and hosts: use a longer search, or --force if you mean it\n"
    )
    code, out, err = hosts_env.run(capsys, *args, "--force")
    assert code == 0, err
    assert "'Bio' -> 'Biology'  (--replace; anywhere)" in out
