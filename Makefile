PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo.db

.PHONY: demo test lint format bench clean docs-screenshots

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/lifecycle --db $(DEMO_DB) import sample_catalog
	$(BIN)/lifecycle --db $(DEMO_DB) overview
	$(BIN)/lifecycle --db $(DEMO_DB) audit --policy policies --fail-on never
	@echo; echo '== a reprocessing plan, previewed: Run-2 2018 data with release 25 (exit 1 = blockers) =='
	$(BIN)/lifecycle --db $(DEMO_DB) plan reprocess --select scope=data18_13TeV \
	    --chain r15800,p6800:DAOD_PHYSLITE --conditions CONDBR2-BLKPA-RUN2-09 \
	    --name run2-release25 --policy policies; [ $$? -le 1 ]
	@echo; echo '== what if BNL-OSG2 burned down? (exit 1 = something lost for good) =='
	$(BIN)/lifecycle --db $(DEMO_DB) simulate loss --site BNL-OSG2 --policy policies; [ $$? -le 1 ]
	@echo; echo '== the report: one HTML page for data managers (exit 1 = errors found) =='
	$(BIN)/lifecycle --db $(DEMO_DB) report --policy policies -o demo-report.html; [ $$? -le 1 ]
	@echo "open $(CURDIR)/demo-report.html in a browser"
	@echo; echo '== repairing the planted problems, previewed: the new replicas and why (exit 1 = something cannot be repaired) =='
	$(BIN)/lifecycle --db $(DEMO_DB) repair --policy policies; [ $$? -le 1 ]

# one PNG per section of the sample catalog's report, under docs/ (needs /usr/bin/chromium)
docs-screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check lifecycle tests benchmarks docs
	$(BIN)/ruff format --check lifecycle tests benchmarks docs
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layers.py

format: $(STAMP)
	$(BIN)/ruff check --fix lifecycle tests benchmarks docs
	$(BIN)/ruff format lifecycle tests benchmarks docs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_provenance.py
	$(BIN)/python benchmarks/bench_expire.py
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_plan.py

clean:
	rm -rf $(VENV) $(DEMO_DB) demo-report.html *.egg-info .pytest_cache .ruff_cache
