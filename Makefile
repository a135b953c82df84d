# The README's two commands: `make demo` (main job end to end, embedded store) and `make test`.
PYTHON ?= python3
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export OMP_WAIT_POLICY ?= PASSIVE
STORE ?= embedded:persona.db
NEO4J_PORT ?= 7687
STAMP := .persona/.installed

.PHONY: setup demo test test-fast neo4j-start neo4j-stop bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q -e '.[all]'
	@mkdir -p .persona && touch $(STAMP)

setup: $(STAMP)

demo: setup
	persona ingest demo --store $(STORE)
	persona train --store $(STORE)
	persona recommend --store $(STORE) --user U00001 --k 10
	persona recommend --store $(STORE) --items B000000001,B000000002,B000000003 --k 5
	persona explain --store $(STORE) --user U00001

# Starts the project's Neo4j (built from Maven Central) unless NEO4J_URI points at one already.
test: setup
	@if [ -z "$$NEO4J_URI" ]; then scripts/neo4j.sh start; fi
	NEO4J_URI=$${NEO4J_URI:-bolt://127.0.0.1:$(NEO4J_PORT)} $(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PYTHON) -m pytest -m "not slow and not neo4j and not browser" $(PYTEST_ARGS)

neo4j-start:
	scripts/neo4j.sh start

neo4j-stop:
	scripts/neo4j.sh stop

bench: setup
	$(PYTHON) bench/run_all.py $(BENCH_ARGS)

lint:
	ruff check .
	$(PYTHON) -m mypy

clean:
	rm -rf persona.db persona.db.* .persona
