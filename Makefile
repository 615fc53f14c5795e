# The same targets people and CI run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
CORPUS ?= $(SHARED)/data/arxiv-cs-daily/papers.jsonl.gz
DB ?= paperfeed.db

.PHONY: install test lint demo bench clean docs

# Debian packages the tests drive: the browser for the end-to-end tests, wrk for the bench.
SYSTEM_PACKAGES := chromium wrk

$(BIN)/paperfeed: pyproject.toml
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "install these Debian packages first:$$missing" >&2; exit 1; fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/paperfeed

# The trainer's test needs PyTorch; the demo does not, so only the tests install it.
$(VENV)/.train: $(BIN)/paperfeed
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $@

test: install $(VENV)/.train
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The CLI reference, written from the commands themselves.
docs: install
	$(BIN)/python -m paperfeed.cli.reference > docs/cli.md

# Loads the corpus and the seeds (half a minute), then serves at http://127.0.0.1:8000 while
# the papers are embedded in the background (keyword search works from the start). The demo
# corpus is a frozen one and the machine may be offline: no daily sync (see the README).
demo: install
	$(BIN)/paperfeed --db $(DB) ingest $(CORPUS) $(SHARED)/seeds
	$(BIN)/paperfeed --db $(DB) profile create "LLM inference" --kind topic --description \
		"Efficient inference of large language models: quantization, KV cache, speculative decoding"
	$(BIN)/paperfeed --db $(DB) profile create "Robot learning" --kind topic --description \
		"Robot learning: manipulation, grasping, imitation learning and locomotion policies"
	$(BIN)/paperfeed --db $(DB) stats
	$(BIN)/paperfeed --db $(DB) serve --host 127.0.0.1 --port 8000 --no-sync

bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/bench_ingest.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_store.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_ray.py --corpus $(CORPUS) --scaling 3000
	$(BIN)/python bench/bench_scale.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_embed.py --corpus $(CORPUS) --csfcube $(SHARED)/data/csfcube
	$(BIN)/python bench/bench_representation.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_search.py --corpus $(CORPUS) --db bench-search.db
	$(BIN)/python bench/bench_web.py --db bench-search.db --seeds $(SHARED)/seeds
	$(BIN)/python bench/bench_recommend.py --db bench-search.db --corpus $(CORPUS) --profiles 500
	$(BIN)/python bench/bibtex_roundtrip.py --db bench-search.db
	$(BIN)/python bench/bench_sync.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_match.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_match.py --corpus $(CORPUS) --since 2025-03-01 --until 2025-12-31 \
		--papers 15000 --reviewers 20000 --min-papers 3

clean:
	rm -rf $(VENV) $(DB) $(DB)-wal $(DB)-shm $(DB).*.usearch* $(DB).lexical $(DB).secret bench-search.db* test-artifacts
