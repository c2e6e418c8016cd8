#!/usr/bin/env bash
# The static checks CI holds: ruff (style, complexity, no print, no unused arguments), mypy
# --strict, the import-linter contracts that keep the house plan (pyproject.toml), bandit and
# pip-audit (the README's "Security checks" answers what they report or cannot check).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
echo "lint: ruff" && .venv/bin/ruff check --quiet .
echo "lint: mypy --strict" && .venv/bin/mypy eyeflow_worker api_gateway celeryconfig.py
echo "lint: import contracts" && .venv/bin/lint-imports --no-cache | tail -n 6
# The code that runs (not tests, not bench). Not run: B101 (assert; ruff's S101 is off
# project-wide for the same reason), B105 and B311 (ruff's S105 and S311 flag every
# occurrence, and each one carries its reasoned `noqa`, which bandit does not read).
echo "lint: bandit" && .venv/bin/bandit --quiet --recursive --skip B101,B105,B311 \
  eyeflow_worker api_gateway celeryconfig.py
# Known vulnerabilities of every package installed in .venv (the runtime and dev pins and all
# they pull in), from PyPI's vulnerability data: --strict fails on any package it could not
# check. It asks PyPI's per-release JSON API; where that cannot be reached (no network, or a
# mirror that serves only project pages) the check says SKIPPED, loudly, and audits nothing.
echo "lint: pip-audit"
probe=$(.venv/bin/python -c 'import pip_audit; print(f"https://pypi.org/pypi/pip-audit/{pip_audit.__version__}/json")')
if .venv/bin/python - "$probe" 2>/dev/null <<'PY'
import sys
import urllib.request

urllib.request.urlopen(sys.argv[1], timeout=10).close()  # noqa: S310 - a fixed https URL
PY
then
  .venv/bin/pip-audit --strict --skip-editable --progress-spinner off
else
  echo "lint: pip-audit SKIPPED — PyPI's vulnerability service cannot be reached from here" \
    "($probe did not answer 200): no package was audited" >&2
fi
