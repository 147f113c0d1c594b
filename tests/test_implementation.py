"""Guard: the suite runs against the core it claims to, never silently against the other twin.

`make test` runs everything twice; without these tests a broken build would make the "compiled" run
quietly test the pure-Python twin (the wrapper only warns), and the twin comparison would compare
the twin with itself.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import wfuwp
from wfuwp import _pyreplace, replace

NO_EXTENSIONS = os.environ.get("WFUWP_NO_EXTENSIONS", "") not in ("", "0")


@pytest.mark.skipif(NO_EXTENSIONS, reason="WFUWP_NO_EXTENSIONS is set: the pure-Python run")
def test_compiled_core_is_the_one_in_use() -> None:
    assert wfuwp.IMPLEMENTATION == "cython", (
        "the compiled core did not load: build it (pip install -e . or setup.py build_ext --inplace) "
        "or run with WFUWP_NO_EXTENSIONS=1"
    )
    fast = importlib.import_module("wfuwp._fastreplace")
    assert replace._core is fast


@pytest.mark.skipif(NO_EXTENSIONS, reason="WFUWP_NO_EXTENSIONS is set: the pure-Python run")
def test_compiled_core_belongs_to_this_checkout() -> None:
    # An editable install of another checkout can serve its own build of wfuwp._fastreplace to this
    # package (its import finder answers for submodules this directory lacks): the tests would then
    # exercise stale C code.
    fast = importlib.import_module("wfuwp._fastreplace")
    assert fast.__file__ is not None
    assert Path(fast.__file__).resolve().parent == Path(wfuwp.__file__).resolve().parent, (
        f"wfuwp._fastreplace was loaded from {fast.__file__}, not beside {wfuwp.__file__}: rebuild it here"
    )


@pytest.mark.skipif(not NO_EXTENSIONS, reason="WFUWP_NO_EXTENSIONS is not set: the compiled run")
def test_pure_python_twin_is_the_one_in_use() -> None:
    assert wfuwp.IMPLEMENTATION == "python"
    assert replace._core is _pyreplace


def test_twins_export_the_same_names_and_values() -> None:
    try:
        fast = importlib.import_module("wfuwp._fastreplace")
    except ImportError:
        if NO_EXTENSIONS:
            pytest.skip("compiled core not built and WFUWP_NO_EXTENSIONS is set")
        raise
    for name in (
        "HOST_START",
        "HOST_END",
        "SUBDOMAIN",
        "MAX_NESTED_SERIALIZED",
        "KIND_TEXT",
        "KIND_QUOTED",
        "KIND_HEX",
        "KIND_NUMBER",
        "STAT_NAMES",
    ):
        assert getattr(fast, name) == getattr(_pyreplace, name), name
    for method in ("replace", "render_rows", "reset_stats", "stats"):
        assert hasattr(fast.Core, method) and hasattr(_pyreplace.Core, method), method
