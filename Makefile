# Everything a fresh machine needs: `make demo` runs a real migration in a sandbox, `make test` runs the
# linters (ruff, ruff format, mypy --strict) and the suite twice (compiled core, then WFUWP_NO_EXTENSIONS=1).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: deps test lint test-compiled test-python demo bench clean

$(VENV)/.installed: pyproject.toml setup.py wfuwp/_fastreplace.pyx scripts/ensure-system-deps
	./scripts/ensure-system-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77'
	$(PY) -m pip install -q -e '.[test]'
	touch $@

deps: $(VENV)/.installed

# -k: one run shows every failure, of the linters and of both cores.
test: deps
	$(MAKE) -k lint test-compiled test-python

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict

# pytest loads the system OpenSSL before any test code runs; preloading the driver's own OpenSSL lets
# its C extension load (scripts/driver_preload.py says why), and the guard test checks that it did.
TEST_ENV = LD_PRELOAD="$$($(PY) scripts/driver_preload.py)" WFUWP_EXPECT_C_DRIVER=1

test-compiled: deps
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test-python: deps
	$(TEST_ENV) WFUWP_NO_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

# Scripts and benchmarks are modules run from the repository root, so they import devtools/ (the
# sandbox servers, the network generator, the S3 server) without touching sys.path.
demo: deps
	$(PY) -m scripts.demo

bench: deps
	$(PY) -m benchmarks.bench_replace
	$(PY) -m benchmarks.bench_migrate --size 200MB

clean:
	rm -rf $(VENV) build *.egg-info wfuwp/*.so wfuwp/_fastreplace.c .demo
