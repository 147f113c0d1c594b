"""Benchmarks, run as modules from the repository root: `python -m benchmarks.bench_migrate --size 200MB`.

Not part of the installed package; the network generator and the servers they use are in devtools/.
"""
