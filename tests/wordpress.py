"""Real WordPress (Debian's package, its own PHP) against a test database: build a network with
WordPress's own installer, and read a site back as a request to its URL would.

    net = Network(server, "wp_prod", "example.test")
    install_network(net, [WpSite(2, "example.test", "/biology/", "Biology")])
    seen = read_site(net, "https://pprd.example.test/biology/")   # what WordPress reports, as a dict

`tests/wordpress_boot.php` does the PHP side; the database password goes to it in an environment
variable, never in its arguments. `wordpress_available()` says whether the package is installed
(scripts/ensure-system-deps installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.sandbox import MariaDBServer

WORDPRESS = Path("/usr/share/wordpress")
BOOT = Path(__file__).with_name("wordpress_boot.php")
_MARK = "WFUWP-JSON:"


def wordpress_available() -> bool:
    """Whether php and Debian's wordpress package (with php-mysql) are installed."""
    return shutil.which("php") is not None and (WORDPRESS / "wp-settings.php").is_file()


@dataclass(frozen=True)
class Network:
    """A WordPress network in one database of a server: its main domain and kind."""

    server: MariaDBServer
    database: str
    domain: str
    subdomain: bool = False
    prefix: str = "wp_"


@dataclass(frozen=True)
class WpSite:
    """A site of a network: its blog id, domain and path (a domain of its own is a mapped domain)."""

    id: int
    domain: str
    path: str
    title: str


def run_wordpress(network: Network, action: str, url: str, **extra: Any) -> dict[str, Any]:
    """Boot WordPress as a request to `url` and run `action` (install, populate, read); its answer."""
    config = {
        "database": network.database,
        "user": network.server.user,
        "host": network.server.host,
        "port": network.server.port,
        "prefix": network.prefix,
        "subdomain": network.subdomain,
        "network_domain": network.domain,
        "url": url,
        **extra,
    }
    env = {**os.environ, "WFUWP_WP_DB_PASSWORD": network.server.password}
    done = subprocess.run(
        ["php", str(BOOT), action, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    answers = [line[len(_MARK) :] for line in done.stdout.splitlines() if line.startswith(_MARK)]
    if done.returncode != 0 or len(answers) != 1:
        raise AssertionError(
            f"WordPress {action} at {url} exited {done.returncode} without an answer:\n"
            f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
        )
    answer: dict[str, Any] = json.loads(answers[0])
    return answer


def install_network(network: Network, sites: Sequence[WpSite]) -> None:
    """Install WordPress into the (empty) database, make it a network, and create `sites` in it."""
    main = f"https://{network.domain}"
    run_wordpress(network, "install", main)
    run_wordpress(
        network,
        "populate",
        main + "/",
        sites=[{"id": s.id, "domain": s.domain, "path": s.path, "title": s.title} for s in sites],
    )


def read_site(network: Network, url: str) -> dict[str, Any]:
    """What WordPress reports for a request to `url`: blog_id, siteurl, home, serialized_options,
    broken_options (serialized ones get_option() could not unserialize), permalinks (post id -> URL)."""
    return run_wordpress(network, "read", url)
