"""Dev tooling stays apart from the product and from the tests, and keeps the MySQL driver fast.

- devtools/ (sandbox servers, network generator, S3 server) is shared by tests, benchmarks and the demo;
  `wfuwp` never imports it, and nothing outside tests/ imports from tests/.
- No test module imports from another test module (shared helpers live in helper modules).
- Nothing edits sys.path: scripts and benchmarks run as modules from the repository root.
- Importing devtools, the demo or a benchmark in a fresh process, with no LD_PRELOAD, leaves the driver
  on its C extension (any of them importing hashlib/ssl before wfuwp would make it 4-6x slower).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_files(*folders: str) -> list[Path]:
    files = sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folders}"
    return files


def package_of(path: Path) -> list[str]:
    """The dotted package of a file under the repository root, as parts (tests/x.py -> ['tests'])."""
    return list(path.relative_to(ROOT).parent.parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file imports, relative imports made absolute (`from . import x` gives `pkg.x`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package_of(path)
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                module = ".".join(p for p in (base, node.module) if p)
            else:
                module = node.module or ""
            yield module
            for alias in node.names:  # `from tests import test_x` imports a module too
                yield f"{module}.{alias.name}"


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_scripts_benchmarks_and_devtools_do_not_import_tests() -> None:
    offenders = [
        f"{rel(path)} imports {module}"
        for path in python_files("scripts", "benchmarks", "devtools")
        for module in imported_modules(path)
        if is_under(module, "tests")
    ]
    assert offenders == []


def test_wfuwp_does_not_import_dev_tooling() -> None:
    offenders = [
        f"{rel(path)} imports {module}"
        for path in python_files("wfuwp")
        for module in imported_modules(path)
        if any(is_under(module, dev) for dev in ("devtools", "tests", "benchmarks", "scripts"))
    ]
    assert offenders == []


def test_no_test_module_imports_another_test_module() -> None:
    offenders = [
        f"{rel(path)} imports {module}"
        for path in python_files("tests")
        for module in imported_modules(path)
        if any(part.startswith("test_") for part in module.split("."))
    ]
    assert offenders == []


def test_nothing_edits_sys_path() -> None:
    offenders = []
    for path in python_files("scripts", "benchmarks", "devtools", "tests"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            # sys.path.insert(...), sys.path.append(...), sys.path += ..., sys.path = ...
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "path"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                offenders.append(f"{rel(path)}:{node.lineno}")
    assert offenders == []


@pytest.mark.skipif(
    importlib.util.find_spec("_mysql_connector") is None, reason="the driver has no C extension here"
)
@pytest.mark.parametrize(
    "modules",
    [
        "devtools.netgen, devtools.sandbox, devtools.s3server, wfuwp",
        "devtools.s3server, devtools.sandbox, devtools.netgen, wfuwp",
        "devtools.sandbox, devtools.s3server, devtools.netgen, wfuwp",
        "scripts.demo, wfuwp",
        "benchmarks.bench_migrate, wfuwp",
    ],
)
def test_importing_dev_tooling_first_keeps_the_c_driver(modules: str) -> None:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)  # what a developer's shell has: no preloaded OpenSSL
    out = subprocess.run(
        [sys.executable, "-c", f"import {modules}; print(wfuwp.DRIVER)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "c"
    assert "Warning" not in out.stderr, out.stderr
    assert "extension" not in out.stderr.lower(), out.stderr
