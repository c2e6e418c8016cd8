#!/usr/bin/env bash
# Create .venv (once) and install the given requirements file into it (quietly, idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
