# Every target creates the virtualenv on first use: a fresh machine needs nothing but python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench spec clean

$(STAMP): pyproject.toml docker/install.sh
	# The same script builds the Docker image: CPU torch first, then the package.
	sh docker/install.sh $(VENV) dev --editable
	touch $(STAMP)

install: $(STAMP)

## run: the REST service on http://127.0.0.1:8000/v1 (gunicorn; migrations applied at start)
run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/quizsvc serve $(SERVE_ARGS)

## test: lint, format check, type check, then the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest $(PYTEST_ARGS)

## spec: regenerate the committed OpenAPI document after changing the API
spec: $(STAMP)
	$(BIN)/quizsvc openapi --output api_spec/openapi.yaml

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache instance
