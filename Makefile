# Two entry points for a fresh machine with Python 3.11:
#   make book   -> .venv + dependencies, then the HTML book in _build/html
#   make test   -> the same set-up, the strict book build, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfsvm-installed
# A CPU build of torch; on the project's machines this version is on local disk.
TORCH  := torch==2.13.0
JB_FLAGS := --builder html -n -W --keep-going

.PHONY: venv book test reproduce clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[book,dev]"
	touch $@

book: venv
	$(BIN)/jupyter-book build . $(JB_FLAGS)

test: book
	$(BIN)/python -m pytest

reproduce: venv
	$(BIN)/python -m tfsvm.reproduce --scale paper --out results

clean:
	rm -rf _build
