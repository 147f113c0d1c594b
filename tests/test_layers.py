"""The package's shape: folders are layers that import only downward.

Each mechanism lives in one place.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wfuwp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wfuwp"

# Bottom to top (docs/architecture.md). Folders of one rank must not import each other.
LAYERS = {
    "": 0,  # wfuwp/errors.py, progress.py, report.py, _version.py and the two replacement cores
    "replace": 1,
    "mysql": 2,
    "storage": 2,
    "archive": 3,
    "config": 4,
    "ops": 5,
    "cli": 6,
}
FACADES = {"wfuwp/__init__.py", "wfuwp/__main__.py"}  # re-export or start everything


def _layer(module: str) -> str:
    """The layer folder of a dotted wfuwp module ('' for the base modules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


def _wfuwp_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every wfuwp module `path` imports, TYPE_CHECKING blocks included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "wfuwp"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wfuwp":
            if node.module == "wfuwp":  # from wfuwp import errors, _pyreplace, ...
                found += [(node.lineno, f"wfuwp.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(ROOT).as_posix() not in FACADES)


def test_every_module_imports_only_its_own_folder_or_lower_layers() -> None:
    wrong = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0] if len(rel.parts) > 1 else ""
        for line, module in _wfuwp_imports(path):
            other = _layer(module)
            if module == "wfuwp":
                wrong.append(f"{rel}:{line} imports the package facade `wfuwp`")
            elif other != own and LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{rel}:{line} ({own or 'base'}) imports {module} ({other or 'base'})")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The rule above is only as good as its parser: an upward import in every spelling is found.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from wfuwp.ops.migrate import migrate_site\nimport wfuwp.cli.main\nfrom wfuwp import report\n"
        "if TYPE_CHECKING:\n    from wfuwp.archive.manifest import Manifest\n"
    )
    found = [_layer(m) for _, m in _wfuwp_imports(probe)]
    assert found == ["ops", "cli", "", "archive"]


def test_nothing_in_the_package_or_scripts_imports_the_tests() -> None:
    # The package imports neither the tests nor the dev tooling; the scripts may use devtools/.
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]:
        banned = ("tests", "devtools") if path.is_relative_to(PACKAGE) else ("tests",)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in banned]
    assert not offenders


def _calls(attribute: str) -> set[str]:
    """The package modules that call `.<attribute>(...)` on anything."""
    modules = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == attribute
            ):
                modules.add(path.relative_to(PACKAGE).as_posix())
    return modules


def test_one_cut_over_serves_migrate_import_restore_and_rollback() -> None:
    # TargetSite's RENAME TABLE statements are run by the cut-over only.
    assert _calls("swap_back") == {"ops/cutover.py"}
    assert _calls("rename_forward") == {"mysql/target.py"}
    assert {m for m in _calls("swap") if m != "ops/migrate.py"} == {"ops/cutover.py", "ops/restore.py"}
    for module in ("ops/migrate.py", "ops/restore.py"):
        text = (PACKAGE / module).read_text()
        assert "CutOver" in text and "TargetSite" not in text, module


def test_one_place_turns_a_path_or_url_into_storage() -> None:
    # Only the storage layer tells an s3:// URL from a path.
    parsing = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if '"s3://"' in p.read_text()}
    assert parsing == {"storage/objects.py"}, parsing
    # boto3 is imported by the S3 transport alone.
    importing_boto = {
        p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "import boto3" in p.read_text()
    }
    assert importing_boto == {"storage/s3.py"}


def test_manifest_and_state_are_serialised_in_one_module() -> None:
    writers = {
        p.relative_to(PACKAGE).as_posix()
        for p in (PACKAGE / "archive").rglob("*.py")
        if "orjson.dumps" in p.read_text() or "orjson.loads" in p.read_text()
    }
    assert writers == {"archive/manifest.py"}


def test_importing_the_replacer_loads_neither_boto3_nor_the_mysql_driver() -> None:
    code = (
        "import sys, wfuwp.replace\n"
        "heavy = [m for m in ('boto3', 'botocore', 'mysql.connector', 'smart_open') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "", out.stdout


def test_the_package_exports_every_operation_and_error_lazily() -> None:
    for name in wfuwp.__all__:
        assert getattr(wfuwp, name) is not None, name
    errors = {
        name
        for name, value in vars(wfuwp.errors).items()
        if isinstance(value, type) and issubclass(value, wfuwp.WfuwpError)
    }
    assert errors <= set(wfuwp.__all__)
    for operation in ("migrate_site", "restore", "rollback", "import_sql", "export_site", "backup_site",
                      "verify_site", "preflight", "plan_for", "plan_clean", "run_clean", "sync_media",
                      "list_migrations", "ArchiveLocation", "migrate_between"):  # fmt: skip
        assert callable(getattr(wfuwp, operation)), operation
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = wfuwp.nope  # type: ignore[attr-defined]
