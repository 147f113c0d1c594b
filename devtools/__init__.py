"""Dev-only tooling shared by the tests, the benchmarks and the demo; never imported by `wfuwp`.

- `devtools.sandbox`: MariaDB servers for a run (the shared one at 127.0.0.1:3306 or private `mariadbd`s);
- `devtools.netgen` (with `netgen_schema`, `netgen_values`): generates a realistic multisite network and
  the rows a migration must turn it into;
- `devtools.s3server`: a local S3-compatible server (moto) in a subprocess, and a cuttable TCP proxy to it.

Import it from the repository root (`python -m scripts.demo`, `python -m benchmarks.bench_migrate`, pytest);
it is not part of the installed package.
"""

# The MySQL driver's C extension cannot load once anything has loaded the system OpenSSL (hashlib, ssl:
# boto3, urllib.request); `wfuwp` loads it first thing. Importing it here, before any devtools module
# runs, keeps the driver fast for every user of devtools whatever it imports next.
import wfuwp  # noqa: F401  (loads the MySQL driver's C extension before ssl)
