# Every target works as the first command on a fresh clone: it creates .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: site serve test bench clean browser-deps cjk-font

# The torch pin is installed first and on its own so pip never resolves a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

site: $(STAMP) cjk-font
	$(BIN)/mkdocs build --strict

serve: $(STAMP) cjk-font
	$(BIN)/mkdocs serve

# Figures label axes in Chinese: a CJK font (transformer_core/fonts.py finds it on Linux, macOS
# and Windows). Installed here on Debian when missing and root; otherwise a hint.
cjk-font:
	@fc-list 2>/dev/null | grep -qi "cjk" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends fonts-noto-cjk >/dev/null \
	    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends fonts-noto-cjk >/dev/null; }; \
	  else echo "figures draw Chinese labels with a CJK font: install fonts-noto-cjk (or any CJK font)"; fi; }

# Browser tests need Debian's chromium and a CJK font; installed here when missing and root.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends chromium fonts-noto-cjk >/dev/null \
	    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium fonts-noto-cjk >/dev/null; }; \
	  else echo "browser tests need: apt-get install chromium fonts-noto-cjk (they are skipped without it)"; fi; }

test: $(STAMP) browser-deps
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/build.py

clean:
	rm -rf site .cache
