# The two commands: `make run` and `make test`. Everything else follows from them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK := deploy/requirements.lock
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test test-lowest lock check bench messages clean

# What `make run` needs: the portal's packages at the versions of the lock file, as a
# deployment installs them (docs/deployment.md), then the project itself.
$(RUN_STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Antrean needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(RUN_STAMP)

# The suite runs on those same versions, plus the test extra.
$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/antrean run

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast part of the suite with every direct dependency at its lower bound, in
# .venv-lowest (.ci/run runs it after `make test`).
test-lowest:
	$(PYTHON) .ci/lowest $(PYTEST_ARGS)

# Re-resolve the portal's dependencies within pyproject.toml's ranges, newest first,
# with pip-tools in a clean virtualenv, and write them to the lock file with the
# SHA-256 of every file PyPI has of each version (any platform's wheel), so pip
# installs from it in hash-checking mode.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip pip-tools
	.venv-lock/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe \
	  --strip-extras --no-header --no-emit-index-url --no-emit-find-links \
	  --output-file $(LOCK).new pyproject.toml
	{ echo '# What a deployment installs: every package the portal runs on, at the versions this'; \
	  echo '# release is tested with, each file by its hash.'; \
	  echo '# pip install -r $(LOCK) && pip install --no-deps .'; \
	  echo '# Made with `make lock` (pip-compile --generate-hashes, in a clean virtualenv).'; \
	  cat $(LOCK).new; } > $(LOCK)
	rm -rf .venv-lock $(LOCK).new

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every benchmark prints its table; each compares against figures measured in
# the same run. The scheduling bench skips PostgreSQL when none answers.
bench: install
	$(PY) -m bench
	$(PY) -m bench.notify
	$(PY) -m bench.schedule
	$(PY) -m bench.gate
	$(PY) -m bench.export
	$(PY) -m bench.eta
	$(PY) -m bench.million
	$(PY) -m bench.day

# Re-extract the translatable text and merge it into the English catalogue.
messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -w 100 -o portal/locale/messages.pot .
	$(VENV)/bin/pybabel update -i portal/locale/messages.pot -d portal/locale -D messages --no-fuzzy-matching --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) .venv-lowest .venv-lock var .pytest_cache .mypy_cache .ruff_cache
