# Two commands set everything up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format system-packages migrate messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.installed

## run: install, migrate, create an admin and demo data once, start the web app and the job cluster
run: $(VENV)/.installed
	DEBUG=$${DEBUG:-true} bin/run

## test: install what the tests need (Debian packages too, when root), then run the whole suite
test: $(VENV)/.installed-test system-packages
	bin/test

# Debian packages the tests drive: Chromium for the browser tests, gettext for the catalogue check.
system-packages:
	@bin/system-packages

## lint: ruff, then the import rules of pyproject.toml [tool.importlinter]
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(VENV)/.installed
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate

## messages: refresh the Italian catalogue after changing strings (needs gettext)
messages: $(VENV)/.installed
	DEBUG=true $(BIN)/python manage.py makemessages -l it --no-obsolete --ignore=.venv --ignore=var
	DEBUG=true $(BIN)/python manage.py compilemessages -l it --ignore=.venv

clean:
	rm -rf $(VENV) var/test-media
