#!/usr/bin/env bash
# Install the test dependencies and run the whole suite against the real Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
REDIS_URL="${EYEFLOW_TEST_REDIS:-redis://127.0.0.1:6379}/0" scripts/ensure-redis.sh
exec .venv/bin/python -m pytest "$@"
