"""Real WordPress reads the migrated site (issue 10): Debian's WordPress 6.1, with its own PHP, boots
against the target database as a request to the site's new URL.

Four networks are made by WordPress's own installer (wp_install, install_network, populate_network,
wp_insert_site): a subdirectory network in prod and in pprd, each with the main site, a subdirectory
site and a domain-mapped site (its wp_blogs.domain a domain of its own), and a subdomain network in
both. Sites 1, 2 and 3 and the subdomain site move prod -> pprd with `migrate_site(replacements=None)`,
which derives the pairs from both networks; then WordPress must find the site at its pprd URL and
report the pprd URLs for siteurl, home and every published post, and unserialize every serialized
option of the site, exactly as it did for the source at the prod URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import wfuwp
from tests.smallsite import db_of
from tests.wordpress import Network, WpSite, install_network, read_site, wordpress_available

pytestmark = pytest.mark.skipif(
    not wordpress_available(),
    reason="Debian's wordpress and php are not installed (scripts/ensure-system-deps)",
)


@dataclass(frozen=True)
class Case:
    """One site: which networks it moves between, and its URL in each."""

    site_id: int
    networks: str  # "subdirectory" or "subdomain"
    source_url: str
    target_url: str


CASES = {
    "main site": Case(1, "subdirectory", "https://example.test", "https://pprd.example.test"),
    "subdirectory site": Case(2, "subdirectory", "https://example.test/biology", "https://pprd.example.test/biology"),
    "domain-mapped site": Case(3, "subdirectory", "https://dept.example.org", "https://pprd.dept.example.org"),
    "subdomain site": Case(2, "subdomain", "https://chem.example.net", "https://chem.pprd.example.net"),
}  # fmt: skip


def _sites(domain: str, mapped: str) -> list[WpSite]:
    return [
        WpSite(1, domain, "/", "Main"),
        WpSite(2, domain, "/biology/", "Biology"),
        WpSite(3, mapped, "/", "Department"),
    ]


@pytest.fixture(scope="module")
def migrated(mariadb) -> Iterator[dict[str, tuple[dict[str, Any], dict[str, Any], wfuwp.MigrationReport]]]:
    """Per case: what WordPress read from the source site, from the migrated one, and the migration."""
    names: list[str] = []

    def database(stem: str) -> str:
        name = f"wfuwp_wp_{stem}_{uuid.uuid4().hex[:8]}"
        conn = mariadb.connect()
        try:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()
        names.append(name)
        return name

    networks = {
        "subdirectory": (
            Network(mariadb, database("prod"), "example.test"),
            Network(mariadb, database("pprd"), "pprd.example.test"),
        ),
        "subdomain": (
            Network(mariadb, database("prodsub"), "example.net", subdomain=True),
            Network(mariadb, database("pprdsub"), "pprd.example.net", subdomain=True),
        ),
    }
    try:
        prod, pprd = networks["subdirectory"]
        install_network(prod, _sites("example.test", "dept.example.org"))
        install_network(pprd, _sites("pprd.example.test", "pprd.dept.example.org"))
        prod_sub, pprd_sub = networks["subdomain"]
        install_network(prod_sub, [WpSite(2, "chem.example.net", "/", "Chemistry")])
        install_network(pprd_sub, [WpSite(2, "chem.pprd.example.net", "/", "Chemistry")])
        results = {}
        for name, case in CASES.items():
            source, target = networks[case.networks]
            before = read_site(source, case.source_url + "/")
            report = wfuwp.migrate_site(
                case.site_id,
                source=db_of(mariadb, source.database, "prod"),
                target=db_of(mariadb, target.database, "pprd"),
                replacements=None,
            )
            results[name] = (before, read_site(target, case.target_url + "/"), report)
        yield results
    finally:
        conn = mariadb.connect()
        try:
            for name in names:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


@pytest.mark.parametrize("name", list(CASES))
def test_wordpress_serves_the_migrated_site_at_its_new_url(migrated, name: str) -> None:
    case = CASES[name]
    before, after, report = migrated[name]
    assert report.status == "completed"
    # The source as WordPress saw it at the prod URL: the fixture is what the test thinks it is.
    assert (before["blog_id"], before["siteurl"], before["home"]) == (
        case.site_id,
        case.source_url,
        case.source_url,
    )
    # The request to the pprd URL finds this site, and the site says it lives there.
    assert after["blog_id"] == case.site_id
    assert after["siteurl"] == case.target_url
    assert after["home"] == case.target_url
    # Every serialized option unserializes through get_option(), the one holding URLs with new lengths.
    assert after["broken_options"] == []
    assert set(after["serialized_options"]) >= set(before["serialized_options"]) - {"rewrite_rules"}
    assert {"wfuwp_links", "sidebars_widgets", "cron"} <= set(after["serialized_options"])
    assert after["wfuwp_links"] == {
        "home": case.target_url + "/",
        "about": case.target_url + "/about/",
        "n": 3,
    }
    # Every published post has its permalink on the new host, the same path as before.
    assert before["permalinks"], "the source site has published posts"
    assert after["permalinks"] == {
        post: link.replace(case.source_url, case.target_url, 1) for post, link in before["permalinks"].items()
    }
    assert any(link == f"{case.target_url}/2024/03/news/" for link in after["permalinks"].values())
    assert not any("pprd.pprd" in link for link in after["permalinks"].values())
