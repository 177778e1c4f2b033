# The two commands: `make demo` (install + quickstart) and `make test` (install dev + lint +
# the layer contract + tests, the docs' strict build, the notebooks and doctests among them).
# On a current .venv both skip the install: the stamp files are newer than pyproject/constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := -q --disable-pip-version-check --progress-bar off -c constraints.txt

.PHONY: demo test lint format bench docs docs-check clean

demo: $(VENV)/.installed
	$(BIN)/vislab quickstart

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadfile  # two processes, each test file in one: its shared model trained once

# The documentation site into site/ (open site/index.html; it works offline, without a server).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Every console block of the site run again and compared with its page (several minutes), and
# the notebooks run; `python tools/docs_console.py --write` puts today's output in the pages.
docs-check: $(VENV)/.installed-dev
	$(BIN)/python tools/docs_console.py
	$(BIN)/python tools/notebooks.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench tools

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bootstrap_speed.py
	$(BIN)/python bench/detection_eval.py
	$(BIN)/python bench/video_seek.py
	$(BIN)/python bench/caption_eval.py
	$(BIN)/python bench/quickstart_time.py
	$(BIN)/python bench/models_pick.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/estimate_speed.py
	$(BIN)/python bench/predict_throughput.py
	$(BIN)/python bench/code_throughput.py
	$(BIN)/python bench/check_scaling.py
	$(BIN)/python bench/predict_scaling.py
	$(BIN)/python bench/inspect_speed.py

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_FLAGS) -e . 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import vislab, torch, torchvision"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.created pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import vislab, torch, torchvision, pytest"
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) runs .pytest_cache site
