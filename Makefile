# Two commands do all set-up on a fresh machine:
#   make book   builds the executed book into _build/html (creates .venv and installs requirements first)
#   make test   runs the unit tests, every chapter under nbval, and the papermill/build checks
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
BIN     := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# ../shared/data (beside the checkout) is used when present and PAGUTILS_DATA_DIR is unset
export PAGUTILS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: setup book test unit notebooks clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	PAG_PROGRESS=0 $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Book built: open _build/html/index.html"

test: $(STAMP)
	$(BIN)/pytest tests book --nbval-lax --nbval-cell-timeout=1800 -ra

unit: $(STAMP)
	$(BIN)/pytest tests -ra

notebooks: $(STAMP)
	$(BIN)/pytest book --nbval-lax --nbval-cell-timeout=1800 -ra

clean:
	rm -rf _build
