"""`make demo` (`python -m scripts.demo` from the repository root): a real migration in a sandbox, through
the real command line.

Sets up a MariaDB server (the local one on 127.0.0.1:3306 when it answers, else a private one under
.demo/), a local S3-compatible server (moto), two generated multisite networks (prod at
www.example.edu, pprd at pprd.example.edu) and a sandbox config in .demo/config.json; then runs

    wfuwp migrate 43 --from prod --to pprd --yes
    wfuwp migrate list
    wfuwp migrate status <the migration's id>

and ends by saying how to keep using the sandbox. Its S3 server lives only as long as the script, so
the sandbox config is then switched to local archives (`finish`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# wfuwp first, before devtools: it loads the MySQL driver's C extension, which cannot load once anything
# has loaded the system OpenSSL (hashlib in netgen, ssl in boto3); the driver would then be 4-6x slower.
import wfuwp  # noqa: F401
from devtools.netgen import generate_network
from devtools.s3server import S3Server
from devtools.sandbox import MariaDBServer, shared_or_private
from wfuwp.config.settings import Config

ROOT = Path(__file__).resolve().parent.parent

DEMO = ROOT / ".demo"
ENVIRONMENTS = {"prod": "www.example.edu", "pprd": "pprd.example.edu"}


def wfuwp_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed `wfuwp` console script, its output going to the terminal."""
    command = [str(Path(sys.executable).parent / "wfuwp"), *args]
    print(f"\n$ {' '.join(['wfuwp', *args])}", flush=True)
    return subprocess.run(command, env=env, check=True, text=True, stdout=None)


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    server = shared_or_private(DEMO / "mariadb")
    print(f"MariaDB: {server.host}:{server.port}")
    s3 = S3Server()
    s3.start()
    print(f"S3 (moto): {s3.endpoint_url}")
    try:
        env = dict(os.environ)
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_DEFAULT_REGION": "us-east-1",
                "WFUWP_CONFIG": str(DEMO / "config.json"),
            }
        )
        os.environ.update(env)
        s3.client().create_bucket(Bucket="wfuwp-demo")

        kwargs = {"host": server.host, "port": server.port, "user": server.user, "password": server.password}
        for name, host in ENVIRONMENTS.items():
            database = f"wfuwp_demo_{name}"
            print(f"generating the {name} network ({host}) in database {database} ...", flush=True)
            generate_network(kwargs, database, sites=(1, 43, 430), source_host=host, drop_existing=True,
                             rows_scale=3.0)  # fmt: skip

        config = Config.load(DEMO / "config.json")
        for name, host in ENVIRONMENTS.items():
            for key, value in {
                "host": server.host, "port": str(server.port), "user": server.user,
                "database": f"wfuwp_demo_{name}",
                "site_host": host, "subdomain_base": host.removeprefix("www."),
            }.items():  # fmt: skip
                config.set(f"env.{name}.{key}", value)
        for key, value in {"bucket": "wfuwp-demo", "prefix": "wordpress/sql", "region": "us-east-1",
                           "endpoint_url": s3.endpoint_url}.items():  # fmt: skip
            config.set(f"s3.{key}", value)
        config.save(DEMO / "config.json")
        print(f"sandbox config: {DEMO / 'config.json'}")

        wfuwp_cli("migrate", "plan", "43", "--from", "prod", "--to", "pprd", env=env)
        wfuwp_cli("migrate", "43", "--from", "prod", "--to", "pprd", "--yes", env=env)
        wfuwp_cli("migrate", "list", env=env)
        listed = subprocess.run(
            [str(Path(sys.executable).parent / "wfuwp"), "migrate", "list", "--json"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        newest = json.loads(listed.stdout)[0]["id"]
        wfuwp_cli("migrate", "status", newest, env=env)
    finally:
        s3.stop()
    print(finish(DEMO / "config.json", server), flush=True)
    return 0


def finish(config_path: Path, server: MariaDBServer) -> str:
    """Switch the sandbox config to local archives (its S3 server has stopped); say how to keep using it."""
    config = Config.load(config_path)
    for key in ("bucket", "prefix", "region", "endpoint_url"):
        config.unset(f"s3.{key}")
    config.save(config_path)
    cli = Path(sys.executable).parent / "wfuwp"
    shown = os.path.relpath(cli) if cli.is_relative_to(Path.cwd()) else str(cli)
    if server.process is not None:
        where = (
            f"a private MariaDB server on {server.host}:{server.port} (data in {server.datadir}), which "
            f"keeps running: `kill {server.process.pid}` stops it"
        )
    else:
        where = f"the MariaDB server on {server.host}:{server.port}"
    return "\n".join(
        [
            "",
            "The demo is over; its sandbox stays for you to try more commands:",
            "",
            f"    export WFUWP_CONFIG={config_path.resolve()}",
            f"    {shown} migrate plan 43 --from prod --to pprd",
            f"    {shown} migrate 43 --from pprd --to prod --dry-run",
            f"    {shown} migrate verify 43 --env pprd",
            f"    {shown} config list",
            "",
            f"Its databases ({', '.join(f'wfuwp_demo_{name}' for name in ENVIRONMENTS)}) are on {where}.",
            "Its S3 server (moto, in memory) stopped with this script, and the archives listed above went",
            "with it: the sandbox config now keeps archives on disk instead (the per-user data directory,",
            "or --work-dir), so `migrate list` starts empty. `make demo` sets everything up again.",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
