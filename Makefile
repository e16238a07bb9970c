# channel-agents: the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# First interpreter >= 3.12 among the candidates (pyenv shims fail for a missing
# version, so each is run, not just looked up).
FIND_PYTHON := for c in python3.12 python3.13 /usr/bin/python3.13 python3; do \
  if $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$c; break; fi; done

.PHONY: install demo test lint format bench validate clean

$(STAMP): pyproject.toml
	@py=$$($(FIND_PYTHON)); \
	if [ -z "$$py" ]; then \
	  echo "channel-agents needs Python >= 3.12 (Mesa 3.5 does). Install python3.12 (pyenv install 3.12, or apt-get install python3.13) and run make again." >&2; exit 2; fi; \
	echo "Using $$py ($$($$py --version))"; \
	$$py -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask,sensitivity,viz,rl]'
	$(PY) -m channel_agents.viz.assets
	@echo "Compiling the period kernels (numba, once per machine; cached)"
	$(VENV)/bin/channel-agents run configs/beer_game.yaml --periods 2 --json > /dev/null
	$(VENV)/bin/channel-agents run configs/beer_game.yaml --periods 2 --json \
	  --set 'defaults.ordering={policy: s_S, s: 10, S: 40}' > /dev/null
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@mkdir -p results
	$(VENV)/bin/channel-agents compare configs/three_tier.yaml --replications 20 --plot results/siloed_vs_cooperative.png

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks

validate: $(STAMP)
	$(VENV)/bin/channel-agents validate

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache
