# Two entry points for a fresh machine: `make demo` (no servers) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export KERAS_BACKEND ?= jax

.PHONY: demo test test-servers lint bench clean

$(BIN)/capplan: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/capplan
	$(BIN)/capplan demo --output demo-output

# InfluxDB from Debian; Kapacitor 1.5.9 built from its Go module with Debian's Go 1.19 (cached).
test-servers:
	@if ! command -v influxd >/dev/null || [ ! -x /usr/lib/go-1.19/bin/go ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq influxdb influxdb-client golang-1.19-go; \
	fi
	bash scripts/build-kapacitor.sh

lint: $(BIN)/capplan
	$(BIN)/ruff check capplan tests scripts bench
	$(BIN)/ruff format --check capplan tests scripts bench

# pytest starts InfluxDB and Kapacitor on free loopback ports and stops them even when tests fail.
test: $(BIN)/capplan test-servers lint
	$(BIN)/pytest

# The reference methods pin pandas < 3: they get their own environment.
BENCH := .venv-bench/bin
$(BENCH)/python: pyproject.toml setup.py
	$(PYTHON) -m venv .venv-bench
	$(BENCH)/pip install -q --upgrade pip
	$(BENCH)/pip install -q -e '.[bench]'
	touch $@

bench: $(BENCH)/python
	$(BENCH)/python -m bench.accuracy

clean:
	rm -rf $(VENV) .venv-bench demo-output build *.egg-info
