"""The CLI and networks (issue 10, point 4): `restore`/`import` refuse another network's archive unless
--force, with one line naming both; `list` shows and filters by network."""

from __future__ import annotations

import orjson
import pytest

from tests.wpsite import Env, checksums, clean_environment, env
from wfuwp.archive.location import ArchiveLocation

__all__ = ["clean_environment", "env"]  # fixtures


def test_a_pprd_backup_is_refused_in_prod_unless_forced(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(capsys, "migrate", "backup", "43", "--env", "pprd", *work, "--json")
    assert code == 0, err
    backup_id = orjson.loads(out)["backup_id"]
    code, out, err = env.run(capsys, "migrate", "backup", "43", "--env", "prod", *work, "--json")
    assert code == 0, err
    prod_backup = orjson.loads(out)["backup_id"]

    # list: the network of each archive, and a filter by it.
    code, out, err = env.run(capsys, "migrate", "list", *work, "--json")
    assert code == 0, err
    domains = {i["id"]: i["target_network"]["domain"] for i in orjson.loads(out)}
    assert domains == {backup_id: "pprd.wfu.edu", prod_backup: "www.wfu.edu"}
    code, out, err = env.run(capsys, "migrate", "list", *work, "--network", "pprd.wfu.edu", "--json")
    assert [i["id"] for i in orjson.loads(out)] == [backup_id]
    code, out, err = env.run(capsys, "migrate", "list", *work)
    assert code == 0 and "network" in out and "pprd.wfu.edu" in out and "www.wfu.edu" in out
    code, out, err = env.run(capsys, "migrate", "status", backup_id, *work)
    assert f"network: pprd (wp_ on {env.pprd}, pprd.wfu.edu)" in out

    before = checksums(env.server, env.prod)
    code, out, err = env.run(capsys, "migrate", "restore", backup_id, "--env", "prod", "--yes", *work)
    assert code == 2
    [line] = err.strip().splitlines()
    assert f"was made for network pprd (wp_ on {env.pprd}, pprd.wfu.edu)" in line
    assert f"but the target is prod (wp_ on {env.prod}, www.wfu.edu)" in line and "--force" in line
    assert checksums(env.server, env.prod) == before
    assert len(ArchiveLocation.parse(env.work / "archives").list_migrations()) == 2  # no backup made

    # import of one of its objects: refused the same way.
    folder = ArchiveLocation.parse(env.work / "archives").migration(backup_id)
    [obj] = folder.objects_of("backup", "wp_43_options")
    path = str(env.work / "archives" / folder.folder / obj.name)
    into_prod = ["--env", "prod", "--site", "43", "--yes"]
    code, out, err = env.run(capsys, "migrate", "import", path, *into_prod, *work)
    assert code == 2 and "import it to its own network" in err
    assert checksums(env.server, env.prod) == before

    code, out, err = env.run(
        capsys, "migrate", "restore", backup_id, "--env", "prod", "--yes", "--force", *work
    )
    assert code == 0, err
    assert checksums(env.server, env.prod) != before
    code, out, err = env.run(capsys, "migrate", "restore", prod_backup, "--env", "prod", "--yes", *work)
    assert code == 0, err
    assert checksums(env.server, env.prod) == before
