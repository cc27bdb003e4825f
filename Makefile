# One command to run the cluster, one to test it. `make setup` is idempotent and fast when
# nothing changed, so `run` and `test` always call it first.

VENV := .venv
PYTEST_ARGS ?=

.PHONY: setup run test lint bench clean

setup:
	deploy/setup-local.sh

run: setup
	$(VENV)/bin/ffcluster up

test: setup lint
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -not -path "./.git/*" -exec rm -rf {} +
