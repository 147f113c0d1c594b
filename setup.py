"""Build the optional Cython core; WFUWP_NO_EXTENSIONS=1 at build time skips it."""

import os

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("WFUWP_NO_EXTENSIONS"):
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [
            Extension(
                "wfuwp._fastreplace",
                ["wfuwp/_fastreplace.pyx"],
                libraries=["z"],
                extra_compile_args=["-O3"],
            )
        ],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    )

setup(ext_modules=ext_modules)
