.PHONY: up down status test lint bench

up:      ## install, bring the whole fleet up locally and run the seed's example through it
	scripts/fleet.sh up

down:    ## stop the local fleet
	scripts/fleet.sh down

status:
	scripts/fleet.sh status

test:    ## install the test dependencies and run the whole suite
	scripts/test.sh

lint:    ## ruff + mypy --strict + import-linter contracts (installs the tools if needed)
	scripts/lint.sh

bench:
	.venv/bin/python bench/roundtrip_bench.py
	.venv/bin/python bench/conditions_bench.py
	.venv/bin/python bench/quality_bench.py
	.venv/bin/python bench/ratelimit_bench.py
	.venv/bin/python bench/fairness_bench.py
	.venv/bin/python bench/interactive_bench.py
	.venv/bin/python bench/economy_bench.py
