#!/usr/bin/env bash
# Install the test dependencies, run the static checks, then the whole suite against the real
# Redis in a shuffled order (pytest-randomly: no test may depend on another having run; repeat an
# order with `--randomly-seed=N` from the run's header line, or `-p no:randomly` to turn it off).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
REDIS_URL="${EYEFLOW_TEST_REDIS:-redis://127.0.0.1:6379}/0" scripts/ensure-redis.sh
exec .venv/bin/python -m pytest "$@"
