# Two entry points for a fresh machine with Python 3.11:
#   make book   -> .venv + dependencies, then the HTML book in _build/html
#   make test   -> the same set-up, the library tests, the strict book build, then the book and site tests
#   make check  -> the set-up and the library tests only (minutes; no book build)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfsvm-installed
# A CPU build of torch; on the project's machines this version is on local disk.
TORCH  := torch==2.13.0
JB_FLAGS := --builder html -n -W --keep-going
# MathJax served by the site itself (from the npm registry), so pages render offline.
MATHJAX := _mathjax/mathjax/tex-mml-chtml.js

.PHONY: venv book check test reproduce assignments grade clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[book,dev]"
	touch $@

$(MATHJAX): $(STAMP)
	npm install --no-save --no-audit --no-fund --prefix $(VENV)/npm mathjax@3.2.2
	mkdir -p _mathjax/mathjax
	cp -r $(VENV)/npm/node_modules/mathjax/es5/. _mathjax/mathjax/

# Student and autograder notebooks from the single sources in assignments/ (the book links the student ones).
assignments: venv
	$(BIN)/python assignments/build.py

# Batch-grade a folder of submissions locally (otter run per notebook, one gradebook CSV):
#   make grade ASSIGNMENT=part1-att-svm SUBMISSIONS=dir
# It runs the students' code unsandboxed: trusted code only (see assignments/README.md).
grade: assignments
	$(BIN)/python assignments/grade.py --assignment "$(ASSIGNMENT)" "$(SUBMISSIONS)"

book: venv $(MATHJAX) assignments
	$(BIN)/jupyter-book build . $(JB_FLAGS)

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core

# Library and chapter-claim tests: no book build needed, so a broken library fails in minutes.
check: venv
	$(BIN)/python -m pytest tests/lib tests/chapters

# The library tests first, then the book and the tests that need its sources or the built site.
test: check book $(CHROMIUM)
	$(BIN)/python -m pytest tests/book tests/site

reproduce: venv
	$(BIN)/python -m tfsvm.reproduce --scale paper --out results

clean:
	rm -rf _build assignments/dist
