# Two entry points, each doing all its own set-up on a fresh clone where only Python exists:
#   make demo   - main job end to end on embedded defaults (then the encoder fine-tuned on the
#                 labels, with its none / frozen / fine-tuned ablation)
#   make test   - the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
DEMO_USERS ?= 3000
DEMO_DAYS ?= 540
DEMO_SEED ?= 7
# Three monthly backtest cutoffs whose 90-day outcome windows close inside the simulated
# 540 days starting 2025-01-01 (the simulator's default start).
DEMO_BT_START ?= 2025-12-01
DEMO_BT_END ?= 2026-01-30

.PHONY: venv demo demo-ray test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/powertier generate --users $(DEMO_USERS) --days $(DEMO_DAYS) --seed $(DEMO_SEED) --out data/raw
	$(VENV)/bin/powertier pipeline --raw data/raw
	# One Optuna trial per backtest fit: with a year of monthly training cutoffs (powertier.yaml) the
	# config's 4 trials took 180 CPU s for the three cutoffs, one trial 81 s (loaded 2-core box).
	$(VENV)/bin/powertier backtest --start $(DEMO_BT_START) --end $(DEMO_BT_END) --every 30d --trials 1
	# Demo-sized fine-tune (measured on the demo data: 223 CPU s in all, of which 87 s run the frozen layers
	# once over 3,102 texts, 26 s the one search trial, 76 s the ablation); the config defaults
	# (1,200 texts, 2 trials, 2 epochs) took over 490 CPU s there.
	$(VENV)/bin/powertier finetune --max-texts 300 --trials 1 --epochs 1

# The same demo with engine: ray on a local Ray cluster started by each command (docs/SCALE.md).
demo-ray: export POWERTIER_ENGINE := ray
demo-ray: demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf data .pytest_cache
