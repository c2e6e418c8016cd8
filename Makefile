.PHONY: up down status test lint bench bench-chaos secrets

up:      ## install, bring the whole fleet up locally and run the seed's example through it
	scripts/fleet.sh up

down:    ## stop the local fleet
	scripts/fleet.sh down

status:  ## which fleet processes run, and the queue depths (exit 0 when not running)
	scripts/fleet.sh status

secrets: ## write fresh secrets for docker compose to .env.compose (keeps those already there)
	scripts/secrets.sh

test:    ## install the test dependencies and run the whole suite
	scripts/test.sh

lint:    ## ruff + mypy --strict + import-linter contracts (installs the tools if needed)
	scripts/lint.sh

bench:   ## every benchmark (installs what it needs first)
	scripts/venv.sh requirements-dev.txt
	.venv/bin/python bench/hotpath_bench.py
	.venv/bin/python bench/conditions_bench.py
	.venv/bin/python bench/quality_bench.py
	.venv/bin/python bench/ratelimit_bench.py
	.venv/bin/python bench/fairness_bench.py
	.venv/bin/python bench/interactive_bench.py
	.venv/bin/python bench/economy_bench.py

bench-chaos: ## economy batches across injected worker kills (~19 minutes)
	scripts/venv.sh requirements-dev.txt
	.venv/bin/python bench/economy_chaos.py
