"""TLS to MariaDB from the configuration: a private server that accepts only users with a client
certificate (`REQUIRE X509`), and the CLI reaching it with env.<name>.ssl_ca/ssl_cert/ssl_key."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.sandbox import MariaDBServer
from tests.dbutil import run_sql
from tests.users import users_on
from tests.wpsite import Env, clean_environment, make_network
from wfuwp.config.settings import Config

__all__ = ["clean_environment"]  # fixture


def _certificate(
    directory: Path, name: str, issuer: tuple[x509.Certificate, Any] | None, *, ca: bool = False
) -> tuple[x509.Certificate, Any]:
    """Write <name>.pem and <name>-key.pem (signed by `issuer`, or self-signed); return (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"wfuwp test {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[MariaDBServer, Path]]:
    """A private MariaDB server with TLS on; yields it and the directory of the CA and client files."""
    certs = tmp_path / "certs"
    certs.mkdir()
    authority = _certificate(certs, "ca", None, ca=True)
    _certificate(certs, "server", authority)
    _certificate(certs, "client", authority)
    server = MariaDBServer.start(
        tmp_path / "mariadb",
        extra_args=(
            f"--ssl-ca={certs / 'ca.pem'}",
            f"--ssl-cert={certs / 'server.pem'}",
            f"--ssl-key={certs / 'server-key.pem'}",
        ),
    )
    try:
        yield server, certs
    finally:
        server.stop()


def test_a_migration_reaches_a_server_that_requires_a_client_certificate(
    tls_server: tuple[MariaDBServer, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server, certs = tls_server
    run_sql(server, None, "CREATE DATABASE wordpress")
    make_network(server, "wordpress", "www.wfu.edu")
    with users_on(server) as users:
        user = users.create("GRANT SELECT ON wordpress.* TO {user}", password="tls-user-pw")
        run_sql(server, None, f"ALTER USER '{user}'@'%' REQUIRE X509")
        path = tmp_path / "config.json"
        config = Config()
        for key, value in {"host": server.host, "port": str(server.port), "user": user,
                           "database": "wordpress", "ssl_ca": str(certs / "ca.pem"),
                           "ssl_verify_identity": "true"}.items():  # fmt: skip
            config.set(f"env.prod.{key}", value)
        config.save(path)
        monkeypatch.setenv("WFUWP_ENV_PROD_PASSWORD", "tls-user-pw")
        env = Env(server, "wordpress", "", "", path, tmp_path / "work")

        # Without a client certificate the server refuses the user, even with the right password.
        code, _out, err = env.run(capsys, "migrate", "verify", "43", "--env", "prod")
        assert code == 1 and "Access denied" in err and "using password: YES" in err, err

        config.set("env.prod.ssl_cert", str(certs / "client.pem"))
        config.set("env.prod.ssl_key", str(certs / "client-key.pem"))
        config.save(path)
        code, out, err = env.run(capsys, "migrate", "verify", "43", "--env", "prod")
        assert code == 0, err
        assert "ok: every table is present and readable" in out
