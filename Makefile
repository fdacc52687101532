# The two commands: `make run` and `make test`. Everything else follows from them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test check bench messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Antrean needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/antrean run

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every benchmark prints its table; each compares against figures measured in
# the same run. The scheduling bench skips PostgreSQL when none answers.
bench: install
	$(PY) -m bench
	$(PY) -m bench.notify
	$(PY) -m bench.schedule
	$(PY) -m bench.export
	$(PY) -m bench.eta

# Re-extract the translatable text and merge it into the English catalogue.
messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -w 100 -o portal/locale/messages.pot .
	$(VENV)/bin/pybabel update -i portal/locale/messages.pot -d portal/locale -D messages --no-fuzzy-matching --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
