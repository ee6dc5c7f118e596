# The README's two commands: `make demo` and `make test`.  Each one alone sets
# up .venv (and, as root, the apt packages) on a fresh machine, then runs.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.govkit-installed

.PHONY: demo test install benchmarks clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

clean:
	rm -rf $(VENV) demo-output .pytest_cache
