# Two commands: `make run` (the bot) and `make test` (the tests). Everything else is optional.
PY := .venv/bin/python
RASA := .venv/bin/rasa
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONPATH := $(CURDIR)

.PHONY: setup setup-test train run cluster test test-fast validate check-policy unit stories eval bench bench-train bench-console bench-console-http transcripts soak lint clean

setup:
	@bash tools/setup.sh

train: setup
	@$(PY) -m tools.devstack train

run: setup
	@$(PY) -m tools.devstack run

# Two Rasa servers and two action servers behind nginx, under supervisord (README "make cluster").
cluster: setup
	@$(PY) -m tools.devstack cluster

# Load with faults: 500 conversations on REST, the widget and WeChat against `make cluster`'s topology,
# kill -9 of action servers and a Rasa replica midway; writes reports/soak.md and .json (~12 minutes).
# SOAK_CONVERSATIONS=, SOAK_RAMP= (seconds), SOAK_KILL= (e.g. off, or rasa-1,actions-1@+10), SOAK_OUT= change it.
soak: train
	@$(PY) -m tools.soak $(if $(SOAK_CONVERSATIONS),--conversations $(SOAK_CONVERSATIONS)) $(if $(SOAK_RAMP),--ramp $(SOAK_RAMP)) \
		$(if $(SOAK_KILL),--kill $(SOAK_KILL)) $(if $(SOAK_OUT),--out $(SOAK_OUT))

validate: setup
	@$(RASA) data validate --quiet

# The shop's policy files (policy/*.yml): prints OK, or every problem as <file>: <key>: <problem> (exit 1).
check-policy:  # `make check-policy POLICY_DIR=some/folder` checks a copy before it goes live
	@$(PY) -m bot.policy.check $(if $(POLICY_DIR),--policy-dir $(POLICY_DIR))

setup-test:
	@bash tools/setup.sh --browser

# The unit layer only (no servers, no model; under a minute): markers set by tests/conftest.py.
test-fast: setup
	@$(PY) -m pytest -m unit

unit: test-fast

# The conversation tests, plus the test stories trainers saved from real conversations (tests/trainer_stories/).
stories: train
	@$(RASA) test core --model "$$($(PY) -m tools.devstack model-path | tail -n 1)" --stories tests/test_stories.yml \
		--fail-on-prediction-errors --out reports/stories --no-plot
	@if ls tests/trainer_stories/test_*.yml >/dev/null 2>&1; then \
		$(RASA) test core --model "$$($(PY) -m tools.devstack model-path | tail -n 1)" --stories tests/trainer_stories \
			--fail-on-prediction-errors --out reports/stories/trainer --no-plot; fi

test: setup-test
	@$(PY) -m tools.devstack train
	@$(RASA) data validate --quiet
	@$(PY) -m pytest
	@$(MAKE) --no-print-directory stories

eval: train
	@$(PY) tools/eval_nlu.py --model "$$($(PY) -m tools.devstack model-path | tail -n 1)"

bench: train
	@$(PY) -m tools.bench

# A trainer's correction to a live candidate: fine-tuning (0.2 and 0.1 of the epochs) against full
# training, timed and scored; writes reports/train_bench.md (about half an hour on 2 CPUs).
bench-train: train
	@$(PY) -m tools.bench_train $(if $(RASA_CACHE),--cache $(RASA_CACHE))

# The complaint dashboard's data layer at scale: its own Redis seeded through the real stores with
# 100,000 tickets over 180 days and 10,000 handoff cases, then the projections, reports, charts, CSV
# and the agents' queue timed; writes reports/console_bench.md and .json (about 7 minutes on 2 CPUs).
# TICKETS=, CASES=, RUNS= change the sizes.
bench-console: setup
	@$(PY) -m tools.bench_console $(if $(TICKETS),--tickets $(TICKETS)) $(if $(CASES),--cases $(CASES)) $(if $(RUNS),--runs $(RUNS))

# The agents' queue and the dashboard over HTTP with 100,000 tickets and 10,000 cases (reports/console_http_bench.md).
bench-console-http: train
	@$(PY) -m tools.bench_console_http $(if $(TICKETS),--tickets $(TICKETS)) $(if $(CASES),--cases $(CASES)) $(if $(RUNS),--runs $(RUNS))

transcripts: train
	@$(PY) tools/transcripts.py

lint: setup
	@$(PY) -m ruff format --check bot actions tests tools
	@$(PY) -m ruff check bot actions tests tools
	@$(PY) -m mypy bot actions

clean:
	rm -rf models reports/stories var .pytest_cache
