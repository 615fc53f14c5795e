# The same targets people and CI run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
CORPUS ?= $(SHARED)/data/arxiv-cs-daily/papers.jsonl.gz
DB ?= paperfeed.db

.PHONY: install test lint demo bench clean

$(BIN)/paperfeed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/paperfeed

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

demo: install
	$(BIN)/paperfeed --db $(DB) ingest $(CORPUS)
	$(BIN)/paperfeed --db $(DB) ingest $(SHARED)/seeds
	$(BIN)/paperfeed --db $(DB) embed
	$(BIN)/paperfeed --db $(DB) stats

bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/bench_ingest.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_embed.py --corpus $(CORPUS) --csfcube $(SHARED)/data/csfcube
	$(BIN)/python bench/bench_search.py --corpus $(CORPUS) --db bench-search.db

clean:
	rm -rf $(VENV) $(DB) $(DB)-wal $(DB)-shm $(DB).*.usearch* bench-search.db*
