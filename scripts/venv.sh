#!/usr/bin/env bash
# Create .venv (once) and install the given requirements file into it (quietly, idempotent),
# then the project itself, editable and without dependencies, for the `eyeflow` command.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r "$requirements"
if [ ! -x .venv/bin/eyeflow ]; then
  # Built with the venv's own setuptools (no build isolation, so no download once it is there);
  # an editable build needs setuptools >= 70.1 (older ones also need `wheel`).
  if ! .venv/bin/python - 2>/dev/null <<'PY'
import sys
import setuptools
sys.exit(tuple(int(part) for part in setuptools.__version__.split(".")[:2]) < (70, 1))
PY
  then
    "${pip[@]}" "setuptools==84.2.1"
  fi
  if ! log=$("${pip[@]}" --no-deps --no-build-isolation -e . 2>&1); then
    echo "$log" >&2
    exit 1
  fi
fi
