# One command to run the cluster, one to test it. `make setup` is idempotent and fast when
# nothing changed, so `run` and `test` always call it first.

VENV := .venv
PYTEST_ARGS ?=

.PHONY: setup run test lint bench fuzz clean

setup:
	deploy/setup-local.sh

run: setup
	$(VENV)/bin/ffcluster up

PYTEST := $(VENV)/bin/pytest -q -p no:cacheprovider

# Everything but the tests that time what they prove runs two at a time; those run alone
# after (the `serial` mark, tests/conftest.py). With PYTEST_ARGS, one plain run of them.
test: setup lint
ifeq ($(strip $(PYTEST_ARGS)),)
	$(PYTEST) -n 2 -m "not serial"
	$(PYTEST) -m serial
else
	$(PYTEST) $(PYTEST_ARGS)
endif

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python -m bench

# The API fuzz at full size (200 generated cases per operation, with and without the token,
# at least 1,000 requests each); `make test` runs the same two tests at 25 cases.
fuzz: setup
	FUZZ_MAX_EXAMPLES=200 FUZZ_MIN_REQUESTS=1000 $(PYTEST) tests/chaos/test_api_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -not -path "./.git/*" -exec rm -rf {} +
