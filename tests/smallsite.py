"""The small multisite network of the engine tests: site 43 with every table shape, and a target network.

`build_site` writes the source network (site 43, site 430, network tables) into a database, `target_network`
the target's own tables; `PAIRS` are the replacements between them and `db_of` a `wfuwp.Database` for one
of them. Shared by tests/test_migrate.py and the tests built on it (restore, faults, preflight, ...).
"""

from __future__ import annotations

import wfuwp
from devtools.sandbox import MariaDBServer
from tests.dbutil import run_sql

PAIRS = [("https://www.example.edu", "https://pprd.example.edu"), ("www.example.edu", "pprd.example.edu")]

SERIALIZED = b'a:2:{s:3:"url";s:27:"https://www.example.edu/bio";s:1:"n";i:5;}'
SERIALIZED_EXPECTED = b'a:2:{s:3:"url";s:28:"https://pprd.example.edu/bio";s:1:"n";i:5;}'


def build_site(
    server: MariaDBServer, db: str, *, host: str = "www.example.edu", with_430: bool = True
) -> None:
    """A small multisite network: site 43 with every table shape, site 430, network tables."""
    run_sql(
        server,
        db,
        "CREATE TABLE wp_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
        f"INSERT INTO wp_blogs VALUES (1, '{host}', '/'), (43, '{host}', '/bio/'), (430, '{host}', '/chem/')",
        "CREATE TABLE wp_users (ID INT PRIMARY KEY, user_url VARCHAR(200))",
        f"INSERT INTO wp_users VALUES (1, 'https://{host}/me')",
        "CREATE TABLE wp_43_options (option_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
        " option_name VARCHAR(191) UNIQUE, option_value LONGTEXT, autoload VARCHAR(20))"
        " ENGINE=InnoDB AUTO_INCREMENT=500",
        f"INSERT INTO wp_43_options (option_name, option_value, autoload) VALUES"
        f" ('siteurl', 'https://{host}/bio', 'yes'), ('home', 'https://{host}/bio', 'yes'),"
        f" ('widget', '{SERIALIZED.decode().replace(chr(39), chr(39) * 2)}', 'yes'),"
        f" ('json', '{{\"u\":\"https:\\\\/\\\\/{host}\\\\/x\"}}', 'no'), ('zero', '0', 'no')",
        # No primary key: two identical rows must both arrive.
        "CREATE TABLE wp_43_log (msg TEXT, at DATETIME) ENGINE=InnoDB",
        f"INSERT INTO wp_43_log VALUES ('visit https://{host}/', '0000-00-00 00:00:00'),"
        f" ('visit https://{host}/', '0000-00-00 00:00:00'), (NULL, NULL)",
        # Composite and text keys.
        "CREATE TABLE wp_43_term_relationships (object_id BIGINT, term_taxonomy_id BIGINT, note VARCHAR(100),"
        " PRIMARY KEY (object_id, term_taxonomy_id))",
        f"INSERT INTO wp_43_term_relationships VALUES (1, 2, '{host}'), (1, 3, 'none')",
        "CREATE TABLE wp_43_redirects (source VARCHAR(190) PRIMARY KEY, target TEXT)",
        f"INSERT INTO wp_43_redirects VALUES ('/old', 'https://{host}/new')",
        # latin1 table holding UTF-8 bytes (double-encoded WordPress installs).
        "CREATE TABLE wp_43_legacy (id INT PRIMARY KEY, body TEXT) CHARACTER SET latin1",
        # ON UPDATE CURRENT_TIMESTAMP, generated columns, blobs, bits, enums, floats.
        "CREATE TABLE wp_43_shapes (id INT PRIMARY KEY, url VARCHAR(200),"
        " changed TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,"
        " url_len INT AS (CHAR_LENGTH(url)) VIRTUAL, url_upper VARCHAR(200) AS (UPPER(url)) STORED,"
        " img BLOB, hash BINARY(4), flags BIT(3), kind ENUM('a','b'), ratio DOUBLE, price DECIMAL(8,2))",
        f"INSERT INTO wp_43_shapes (id, url, changed, img, hash, flags, kind, ratio, price) VALUES"
        f" (1, 'https://{host}/a', '2001-02-03 04:05:06', 'https://{host}/\\0\\Z', 0x00FF10AA, b'101', 'b',"
        " 0.1, 12.50)",
        "CREATE TABLE wp_43_myisam (id INT PRIMARY KEY, body TEXT) ENGINE=MyISAM",
        f"INSERT INTO wp_43_myisam VALUES (1, '{host}')",
    )
    conn = server.connect(database=db)
    try:
        conn.cmd_query(b"SET NAMES binary")
        conn.cmd_query(b"INSERT INTO wp_43_legacy VALUES (1, 'caf\xc3\xa9 https://" + host.encode() + b"')")
    finally:
        conn.close()
    if with_430:
        run_sql(
            server,
            db,
            "CREATE TABLE wp_430_posts (ID INT PRIMARY KEY, guid VARCHAR(200))",
            f"INSERT INTO wp_430_posts VALUES (1, 'https://{host}/chem/?p=1')",
        )


def target_network(server: MariaDBServer, db: str) -> None:
    """The target network: its own wp_blogs and an older copy of site 43 with a target-only table."""
    run_sql(
        server,
        db,
        "CREATE TABLE wp_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
        "INSERT INTO wp_blogs VALUES (1, 'pprd.example.edu', '/'), (43, 'pprd.example.edu', '/bio/')",
        "CREATE TABLE wp_43_options (option_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
        " option_name VARCHAR(191) UNIQUE, option_value LONGTEXT, autoload VARCHAR(20))",
        "INSERT INTO wp_43_options (option_name, option_value, autoload) VALUES"
        " ('siteurl', 'https://pprd.example.edu/bio', 'yes'), ('old', 'stale', 'no')",
        "CREATE TABLE wp_43_only_here (id INT PRIMARY KEY)",
        "INSERT INTO wp_43_only_here VALUES (7)",
    )


def db_of(server: MariaDBServer, database: str, name: str) -> wfuwp.Database:
    return wfuwp.Database(host=server.host, port=server.port, user="root", database=database, name=name)
