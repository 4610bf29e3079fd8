# The two commands a newcomer needs: `make serve` and `make test`.
# Python 3.11: the lock files are resolved for CPython 3.11 on Linux x86_64 (the CI machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Everything `make install` puts in the venv (the dependencies, the test, lint and bench
# extras, pip, setuptools and uv), each pinned with its hashes.
LOCK := requirements-dev.lock
# What the container image installs (deploy/Dockerfile): the server, nothing for development.
IMAGE_LOCK := requirements.lock
# `make lock` keeps every pin it can; `make lock LOCK_FLAGS=--upgrade` (or
# `LOCK_FLAGS='--upgrade-package ruff'`) moves pins forward.
LOCK_FLAGS ?=
COMPILE := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' $(LOCK_FLAGS)

.PHONY: install lock serve test lint bench clean

install: $(STAMP)

# Exactly the locked versions, hashes checked; the project itself without dependencies and
# built by the locked setuptools (no build isolation, which would fetch an unpinned one).
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check || { echo "pyproject.toml and $(LOCK) disagree: make lock"; exit 1; }
	touch $(STAMP)

# Re-resolve both locks after a change to the dependencies in pyproject.toml (not through
# $(STAMP), whose `pip check` fails until the lock is refreshed). The image lock is
# constrained by the development lock, so the two never disagree on a version.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)  # the locked uv
	printf 'pip\nsetuptools>=77\nuv\n' \
	  | $(COMPILE) pyproject.toml - --all-extras --output-file $(LOCK)
	printf 'pip\nsetuptools>=77\n' \
	  | $(COMPILE) pyproject.toml - --extra server --constraint $(LOCK) --output-file $(IMAGE_LOCK)

serve: $(STAMP)
	$(BIN)/altan serve

# In parallel: one pytest-xdist worker per core, each with a PostgreSQL database of its own
# (tests/support/db.py); whole files per worker, so a module's fixtures are built once.
# One file, serially: `.venv/bin/pytest tests/test_x.py` (see the README).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/append.py
	$(BIN)/python bench/proofs.py
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
