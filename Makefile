# Two commands do all set-up on a fresh machine:
#   make book   builds the executed book into _build/html (creates .venv and installs requirements first)
#   make test   runs the unit tests, every chapter under nbval, and the papermill/build checks
#   make bench  benchmarks attacks, training and constructions against torchattacks (benchmarks/RESULTS.md);
#               on a GPU the same command measures the GPU (BENCH_ARGS="--device cpu" forces the CPU)
#   make browser-test   opens every page of the built book in headless Chromium, offline (after make book)
#   make assignments    otter assign on every assignment (student notebook, solutions, autograder zip) and the
#                       exercise pages (book/teacher.md; installs requirements-teaching.txt first); every
#                       autograder zip carries the pagutils wheel of the checkout (as make dist builds it)
#   make dist   the pagutils wheel of the checkout, _build/dist/pagutils-<version>-py3-none-any.whl (offline)
#   make student-book   builds the book with every exercise solution hidden into _build/student
#   make pdf    the whole executed book as one PDF, _build/latex/book.pdf, through XeLaTeX (needs Debian's TeX Live:
#               apt-get install texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-fonts-extra
#               latexmk fonts-freefont-otf; run make book first and the notebooks come from its execution cache)
#   make lock   regenerates the locks from the requirements files (uv pip compile --generate-hashes, for CPython
#               3.11 on Linux x86_64, LOCK_PYTHON; torch from PyPI): requirements.lock (book and tests), then
#               requirements-teaching.lock, requirements-scale.lock and requirements-attacks.lock constrained
#               by it, so that installing an extra never changes a base pin. It keeps every pin the locks already
#               hold that still satisfies the requirements; LOCK_ARGS=--upgrade (or --upgrade-package torch) moves
#               them. It installs uv into the venv, for this target only. Every other target installs from the
#               locks, in pip's hash-checking mode, and then pagutils itself with --no-deps.
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
TEACH_STAMP := $(VENV)/.teaching-installed
SCALE_STAMP := $(VENV)/.scale-installed
LOCK_PYTHON ?= 3.11.7
UV_VERSION  ?= 0.13.9
NODE_STAMP := node_modules/.installed
BIN     := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# ../shared/data (beside the checkout) is used when present and PAGUTILS_DATA_DIR is unset
export PAGUTILS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: setup book test unit notebooks bench clean browser-test assignments student-book pdf lock dist

# requirements-attacks.lock (torchattacks, for the chapters' attack ladder and the benchmarks) with --no-deps:
# torchattacks 3.5.1 pins requests~=2.25.1, which breaks Sphinx; what it and scipy need is in requirements.lock
$(STAMP): requirements.lock requirements-attacks.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install --require-hashes -r requirements.lock
	$(BIN)/pip install --no-deps --require-hashes -r requirements-attacks.lock
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
$(TEACH_STAMP): $(STAMP) requirements-teaching.lock
	$(BIN)/pip install --require-hashes -r requirements-teaching.lock
	touch $(TEACH_STAMP)

# submitit, for pagutils.scale.prefill's SLURM job arrays (and its local executor in tests/test_scale.py)
$(SCALE_STAMP): $(STAMP) requirements-scale.lock
	$(BIN)/pip install --require-hashes -r requirements-scale.lock
	touch $(SCALE_STAMP)

# ASSIGN_ARGS=--pdfs adds otter's solutions PDFs (needs `.venv/bin/playwright install chromium` once). The build
# puts the wheel of the checkout (make dist) into every autograder zip, which installs pagutils from it.
assignments: $(TEACH_STAMP)
	$(BIN)/python assignments/teaching.py build $(ASSIGN_ARGS)
	$(BIN)/python assignments/teaching.py pages

# The pagutils wheel, built from a copy of the checkout's package with .venv's setuptools (no network, no
# build/ folder left behind); the autograder zips carry it, and `pip install` of it is how pagutils goes elsewhere
dist: $(STAMP)
	$(BIN)/python assignments/teaching.py dist

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

# make test runs tests/ and then the chapters under nbval, NB_WORKERS chapters at a time (pytest-xdist; each
# worker runs whole notebooks, in book/conftest.py's order, each kernel on NB_THREADS threads). On 2 cores the
# chapters ran cold in 913 s so, against about 1,046 s one at a time on two threads: a one-thread kernel is about
# 1.7 times slower, and two of them together still finish sooner. NB_WORKERS=0 runs them one at a time in
# pytest's own process. Both parts always run; make test fails when either does.
NB_WORKERS ?= 2
NB_THREADS ?= 1
NBVAL = $(BIN)/pytest book --nbval-lax --nbval-cell-timeout=1800 -ra --durations=30 \
	-n $(NB_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(STAMP) $(NODE_STAMP) $(TEACH_STAMP) $(SCALE_STAMP)
	status=0; \
	$(BIN)/pytest tests -ra --durations=30 || status=1; \
	OMP_NUM_THREADS=$(NB_THREADS) MKL_NUM_THREADS=$(NB_THREADS) $(NBVAL) || status=1; \
	exit $$status

unit: $(STAMP) $(SCALE_STAMP)
	$(BIN)/pytest tests -ra

notebooks: $(STAMP)
	OMP_NUM_THREADS=$(NB_THREADS) MKL_NUM_THREADS=$(NB_THREADS) $(NBVAL)

bench: $(STAMP)
	PAG_PROGRESS=0 $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf _build

# The locks (see the header). An existing lock is uv's preference, so only what the requirements files changed
# moves; the extras' locks are constrained by requirements.lock; requirements-attacks.lock is locked without
# dependencies, as make bench installs it.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
	--python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple \
	--custom-compile-command "make lock" $(LOCK_ARGS)

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-teaching.txt --constraint requirements.lock -o requirements-teaching.lock
	$(UV_COMPILE) requirements-scale.txt --constraint requirements.lock -o requirements-scale.lock
	$(UV_COMPILE) requirements-attacks.txt --no-deps --constraint requirements.lock -o requirements-attacks.lock
