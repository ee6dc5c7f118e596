# The README's commands: `make demo`, `make test` and `make lint`.  Each one
# alone sets up .venv (and, as root, the apt packages) on a fresh machine, then runs.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.govkit-installed
# pytest-xdist worker processes for `make test` (the suite is sized for 2 cores); each
# module runs on one worker (--dist loadscope), so module fixtures (trained models,
# a Dask cluster, OCR engines) are built once
WORKERS ?= 2

.PHONY: demo test lint install benchmarks clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) --dist loadscope

# Static gates (configured in pyproject.toml): ruff lint, ruff format, mypy.
# All three run; the target fails if any of them found something.
lint: $(STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

# Quick CPU figures from the benchmark scripts at small sizes (minutes, not
# the published figures: run a script with its defaults for those, see benchmarks/RESULTS.md).
benchmarks: $(STAMP)
	$(PY) benchmarks/audit_verify.py --events 10000
	$(PY) benchmarks/deid_throughput.py --files 40 --repeats 1
	$(PY) benchmarks/explain_speed.py --device cpu --n 2
	$(PY) benchmarks/pixels_recall.py --cases 2 --engines rapidocr --no-presidio

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
