# Two commands do all set-up on a fresh machine:
#   make book   builds the executed book into _build/html (creates .venv and installs requirements first)
#   make test   runs the unit tests, every chapter under nbval, and the papermill/build checks
#   make bench  benchmarks attacks, training and constructions against torchattacks (benchmarks/RESULTS.md);
#               on a GPU the same command measures the GPU (BENCH_ARGS="--device cpu" forces the CPU)
#   make browser-test   opens every page of the built book in headless Chromium, offline (after make book)
#   make assignments    otter assign on every assignment (student notebook, solutions, autograder zip) and the
#                       exercise pages (book/teacher.md; installs requirements-teaching.txt first)
#   make student-book   builds the book with every exercise solution hidden into _build/student
#   make pdf    the whole executed book as one PDF, _build/latex/book.pdf, through XeLaTeX (needs Debian's TeX Live:
#               apt-get install texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-fonts-extra
#               latexmk fonts-freefont-otf; run make book first and the notebooks come from its execution cache)
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
TEACH_STAMP := $(VENV)/.teaching-installed
SCALE_STAMP := $(VENV)/.scale-installed
NODE_STAMP := node_modules/.installed
BIN     := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# ../shared/data (beside the checkout) is used when present and PAGUTILS_DATA_DIR is unset
export PAGUTILS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: setup book test unit notebooks bench clean browser-test assignments student-book pdf

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# MathJax, require.js and the widget manager that the HTML serves itself, and playwright-core (package.json)
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

book: $(STAMP) $(NODE_STAMP)
	PAG_PROGRESS=0 $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Book built: open _build/html/index.html"

pdf: $(STAMP) $(NODE_STAMP)
	PAG_PROGRESS=0 $(BIN)/jupyter-book build . --builder pdflatex
	@echo "PDF built: _build/latex/book.pdf"

# otter-grader and what it pulls in: only for the assignments and their tests, not for the book
$(TEACH_STAMP): $(STAMP) requirements-teaching.txt
	$(BIN)/pip install -r requirements-teaching.txt
	touch $(TEACH_STAMP)

# submitit, for pagutils.prefill's SLURM job arrays (and its local executor in tests/test_scale.py)
$(SCALE_STAMP): $(STAMP) requirements-scale.txt
	$(BIN)/pip install -r requirements-scale.txt
	touch $(SCALE_STAMP)

# ASSIGN_ARGS=--pdfs adds otter's solutions PDFs (needs `.venv/bin/playwright install chromium` once)
assignments: $(TEACH_STAMP)
	$(BIN)/python assignments/teaching.py build $(ASSIGN_ARGS)
	$(BIN)/python assignments/teaching.py pages

student-book: $(STAMP) $(NODE_STAMP)
	$(BIN)/python assignments/teaching.py student-config --out _build/student_config.yml
	PAG_PROGRESS=0 $(BIN)/jupyter-book build . -W -n --keep-going --config _build/student_config.yml --path-output _build/student
	@echo "Student edition built: open _build/student/_build/html/index.html"

# Debian's Chromium, installed on first use when missing (as root, or through sudo)
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

browser-test: $(NODE_STAMP)
	@if [ -z "$(CHROMIUM)" ] && ! command -v chromium >/dev/null; then \
	    echo "Chromium is missing: installing Debian's chromium package"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; fi
	node tests/browser/check_book.mjs _build/html _build/screenshots

test: $(STAMP) $(NODE_STAMP) $(TEACH_STAMP) $(SCALE_STAMP)
	$(BIN)/pytest tests book --nbval-lax --nbval-cell-timeout=1800 -ra

unit: $(STAMP) $(SCALE_STAMP)
	$(BIN)/pytest tests -ra

notebooks: $(STAMP)
	$(BIN)/pytest book --nbval-lax --nbval-cell-timeout=1800 -ra

$(BENCH_STAMP): $(STAMP) benchmarks/requirements.txt
	$(BIN)/pip install --no-deps -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	PAG_PROGRESS=0 $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf _build
