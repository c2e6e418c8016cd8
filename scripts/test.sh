#!/usr/bin/env bash
# Install the test dependencies, run the static checks, then the whole suite against the real
# Redis and the real RabbitMQ in a shuffled order (pytest-randomly: no test may depend on another
# having run; repeat an order with `--randomly-seed=N` from the run's header line, or
# `-p no:randomly` to turn it off). The RabbitMQ runs use vhosts of their own (tests/brokers.py);
# a RabbitMQ that does not answer is started (and installed, as root on Debian/Ubuntu) first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
REDIS_URL="${EYEFLOW_TEST_REDIS:-redis://127.0.0.1:6379}/0" scripts/ensure-redis.sh
scripts/ensure-rabbitmq.sh "${EYEFLOW_TEST_RABBITMQ:-amqp://guest:guest@127.0.0.1:5672}"
# Here a RabbitMQ that cannot be reached fails the RabbitMQ tests instead of skipping them.
export EYEFLOW_REQUIRE_RABBITMQ=1
exec .venv/bin/python -m pytest "$@"
