# The two commands: `make demo` (install + quickstart) and `make test` (install dev + lint +
# the layer contract + tests).
# On a current .venv both skip the install: the stamp files are newer than pyproject/constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := -q --disable-pip-version-check --progress-bar off -c constraints.txt

.PHONY: demo test lint format bench clean

demo: $(VENV)/.installed
	$(BIN)/vislab quickstart

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

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
	rm -rf $(VENV) runs .pytest_cache
