# Two entry points for a fresh machine with Python 3.11:
#   make book   -> .venv + dependencies, then the HTML book in _build/html
#   make test   -> the same set-up, the library tests, the strict book build and its PDF, then the
#                  book and site tests
#   make check  -> the set-up and the library tests only (minutes; no book build)
# Publishing: make site (the deployed site: book + PDF at paper scale), make pdf, make dist.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfsvm-installed
# Pins for every install (torch==2.13.0, a CPU build; on the project's machines it is on local disk).
CONSTRAINTS := constraints.txt
JB_FLAGS := -n -W --keep-going
# MathJax served by the site itself (from the npm registry), so pages render offline.
MATHJAX := _mathjax/mathjax/tex-mml-chtml.js

.PHONY: venv book check pdf site dist test reproduce assignments grade clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[book,assignments,dev]"
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
	$(BIN)/jupyter-book build . --builder html $(JB_FLAGS)

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core

# Library and chapter-claim tests: no book build needed, so a broken library fails in minutes.
check: venv
	$(BIN)/python -m pytest tests/lib tests/chapters

# The whole book as one PDF: a single-page HTML build (same execution cache as the HTML book,
# so nothing re-runs), printed by headless Chromium; a copy is offered on the site (_build/html).
pdf: book $(CHROMIUM)
	$(BIN)/jupyter-book build . --builder singlehtml $(JB_FLAGS)
	$(BIN)/python tools/print_pdf.py _build/singlehtml _build/pdf/book.pdf
	cp _build/pdf/book.pdf _build/html/book.pdf

# What .github/workflows/book.yml deploys: the book and its PDF at the paper's trial counts.
site: export TFSVM_SCALE := paper
site: book pdf

# sdist + wheel in dist/ (what .github/workflows/release.yml publishes).
dist: venv
	$(BIN)/python -m build --outdir dist .

# The library tests first, then the book, its PDF and the tests that need its sources or the built site.
test: check book pdf $(CHROMIUM)
	$(BIN)/python -m pytest tests/book tests/site

reproduce: venv
	$(BIN)/python -m tfsvm.reproduce --scale paper --out results

clean:
	rm -rf _build assignments/dist dist build
