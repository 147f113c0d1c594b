"""Developer scripts, run as modules from the repository root.

`python -m scripts.demo`, `python -m scripts.gen_cli_docs`.

Not part of the installed package. scripts/driver_preload.py is a plain script (the Makefile runs it by path).
"""
