# Rosma: the two commands a newcomer runs (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench setup lint clean

setup:
	bash scripts/bootstrap.sh

## make demo: install what is missing, then run Mosquitto, central and one edge node with simulated devices
demo: setup
	$(PY) -m rosma.cli demo

## make lint: the lint gate (ruff check and ruff format --check), also the first step of make test
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make test: install what is missing (incl. Chromium, PostgreSQL, RabbitMQ), then the lint gate and the whole suite
test:
	bash scripts/bootstrap.sh chromium sox systemd postgresql poppler-utils rabbitmq-server
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	ROSMA_TEST_PG_URL="$${ROSMA_TEST_PG_URL:-$$(bash scripts/ensure-postgres.sh)}" \
	ESCPOS_CAPABILITIES_PICKLE_DIR="$(CURDIR)/var/escpos" \
	$(VENV)/bin/pytest -q --durations=15 $(PYTEST_ARGS)

## make bench: throughput and latency figures for docs/benchmarks.md
bench: setup
	ESCPOS_CAPABILITIES_PICKLE_DIR="$(CURDIR)/var/escpos" $(PY) -m benchmarks.run

clean:
	rm -rf var .pytest_cache
