#!/usr/bin/env bash
# The static checks CI holds: ruff (style, complexity, no print, no unused arguments), mypy
# --strict, and the import-linter contracts that keep the house plan (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
echo "lint: ruff" && .venv/bin/ruff check --quiet .
echo "lint: mypy --strict" && .venv/bin/mypy eyeflow_worker api_gateway celeryconfig.py
echo "lint: import contracts" && .venv/bin/lint-imports --no-cache | tail -n 6
