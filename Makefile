# One-command setup: every target creates .venv and installs through constraints.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := web,dask,dev

.PHONY: install demo test lint bench serve lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/feocscreen screen fixtures/demo_suppliers.xlsx \
		-l fixtures/lists/simple_illustrative.csv -l fixtures/lists/csl_illustrative.csv \
		--as-of 2026-11-28 \
		-o reports/demo.xlsx --json reports/demo.json
	@echo "Report: reports/demo.xlsx   JSON: reports/demo.json"
	@echo "Upload page: $(BIN)/feocscreen serve   (then open http://127.0.0.1:8000)"

test: $(STAMP)
	-bash scripts/install-browser.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

BENCH_SIZES ?= 10k,100k

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --sizes $(BENCH_SIZES) --markdown

serve: $(STAMP)
	$(BIN)/feocscreen serve

lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^feocscreen' > constraints.txt

clean:
	rm -rf $(VENV) build dist src/*.egg-info
