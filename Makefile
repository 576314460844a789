PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo.db

.PHONY: demo test lint format bench clean docs-screenshots

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 2; }
	@echo "== creating $(VENV) and installing lifecycle with its dependencies (about a minute, once) =="
	$(PYTHON) -m venv $(VENV)

# The first install shows a dot per package pip collects (its full log: $(VENV)/install.log, shown
# on failure); once it is done, the stamp makes every later run skip it, fast and quiet.
$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing (a dot per package; the log goes to $(VENV)/install.log)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@( $(BIN)/python -m pip install -e '.[dev]' 2>&1; echo $$? > $(VENV)/install.status ) \
	    | tee $(VENV)/install.log | awk '/^Collecting /{ printf "."; fflush() } END { print "" }'
	@status=$$(cat $(VENV)/install.status); rm -f $(VENV)/install.status; \
	if [ "$$status" != 0 ]; then tail -n 20 $(VENV)/install.log >&2; \
	    echo "make: pip install failed (exit $$status); see $(VENV)/install.log" >&2; exit 1; fi
	@echo "installed: $$(grep -c '^Collecting ' $(VENV)/install.log) packages"
	@touch $(STAMP)

demo: $(STAMP)
	@echo "== the demo: sample_catalog/ loaded into $(DEMO_DB), then overview, audit, a plan, a loss, the report, repair (a few seconds) =="
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
	@echo; echo '== what to try next (more in README.md, "Using it"; . .venv/bin/activate puts lifecycle on the path) =='
	@echo '  .venv/bin/lifecycle --db $(DEMO_DB) datasets show data18_13TeV.00357772.physics_Main.merge.AOD.r13286_p4910'
	@echo '  .venv/bin/lifecycle --db $(DEMO_DB) lineage data15_13TeV:data15_13TeV.00279169.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p6026'
	@echo '  .venv/bin/lifecycle --db $(DEMO_DB) expire'

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
