# Two commands do all the set-up on a fresh machine (Python 3.11+ and make):
#   make run    virtualenv, runtime requirements, migrations, demo data, server on 127.0.0.1:8000
#   make test   virtualenv, runtime and dev requirements, then the whole test suite (SQLite;
#               PostgreSQL too when DATABASE_URL points at one)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# One stamp per set of requirements, named after their checksum: a changed file reinstalls.
# requirements-dev.txt starts with -r requirements.txt, so the dev stamp builds on the runtime one.
RUN_STAMP := $(VENV)/.installed-run-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PIP       := $(BIN)/python -m pip install --quiet --disable-pip-version-check
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint format schema bench clean

# Runtime requirements only (make run).
$(RUN_STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "需要 Python 3.11+ / Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r requirements.txt
	@rm -f $(VENV)/.installed-run-* $(VENV)/.installed-dev-*
	@touch $@

# The dev tools on top (test, lint, format, schema); the runtime ones are already satisfied.
$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	@rm -f $(VENV)/.installed-dev-*
	@touch $@

.local/secret_key:
	@mkdir -p .local
	@$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	@chmod 600 $@

run: $(RUN_STAMP) .local/secret_key
	@LOG_FORMAT=text SECRET_KEY=$$(cat .local/secret_key) $(BIN)/python manage.py migrate --no-input -v 0
	@LOG_FORMAT=text SECRET_KEY=$$(cat .local/secret_key) $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  API      http://$(HOST):$(PORT)/api/v1/"
	@echo "  文档 Docs http://$(HOST):$(PORT)/api/docs/"
	@echo "  后台 Admin http://$(HOST):$(PORT)/admin/"
	@echo ""
	@LOG_FORMAT=text SECRET_KEY=$$(cat .local/secret_key) $(BIN)/python manage.py runserver --insecure $(HOST):$(PORT)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(DEV_STAMP)
	SECRET_KEY=schema $(BIN)/python manage.py spectacular --validate --fail-on-warn --file openapi.yaml

clean:
	rm -rf $(VENV) .local db.sqlite3* .test-db.sqlite3*
