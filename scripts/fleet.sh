#!/usr/bin/env bash
# Bring the whole fleet up locally (gateway, interactive worker, batch worker, beat, Flower) on
# the embedded offline provider, run the seed's example intent through it, and leave it running.
#   scripts/fleet.sh up | down | status | flower-auth
# FLEET_RUN_DIR (default .run) holds the pid files, logs and Flower's generated password.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${FLEET_RUN_DIR:-.run}"
mkdir -p "$RUN"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
# The broker: REDIS_URL's Redis unless BROKER_URL (environment, else .env) names another, e.g.
# amqp://guest:guest@127.0.0.1:5672// for RabbitMQ.
BROKER_URL="${BROKER_URL:-}"
[ -z "$BROKER_URL" ] && [ -f .env ] && BROKER_URL=$(sed -n 's/^BROKER_URL=//p' .env | tail -n 1)
GATEWAY_PORT="${GATEWAY_PORT:-8000}"
FLOWER_PORT="${FLOWER_PORT:-5555}"
GATEWAY="http://127.0.0.1:${GATEWAY_PORT}"

start() {  # name, command...
  local name=$1; shift
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "$RUN/$name.pid"))"; return
  fi
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  echo "  $name started (pid $!, log $RUN/$name.log)"
}

down() {  # SIGTERM every process (workers: Celery's soft shutdown), then wait until all are gone
  local pids=()
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      pids+=("$pid"); echo "  stopping $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
  done
  # Workers get WORKER_SOFT_SHUTDOWN_SECONDS (20) to finish; past 45 s, SIGKILL what is left.
  local waited=0
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 450 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -0 "$pid" 2>/dev/null && { kill -9 "$pid" 2>/dev/null || true; echo "  killed pid $pid"; }
  done
  [ ${#pids[@]} -gt 0 ] && echo "  all stopped" || echo "  nothing was running"
}

env_file_value() {  # NAME: its last value in .env, if any
  [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1 || true
}

flower_auth() {  # Flower's user:password: FLOWER_BASIC_AUTH (environment, else .env), else one
  # generated on first use and kept in $RUN/flower-auth (mode 600), so re-runs keep it.
  local auth="${FLOWER_BASIC_AUTH:-}"
  [ -n "$auth" ] || auth=$(env_file_value FLOWER_BASIC_AUTH)
  if [ -z "$auth" ]; then
    if [ ! -s "$RUN/flower-auth" ]; then
      local password
      password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
      (umask 077; echo "admin:$password" >"$RUN/flower-auth")
    fi
    auth=$(cat "$RUN/flower-auth")
  fi
  echo "$auth"
}

flower_login() {  # how to sign in to Flower, for people: a generated password is shown
  if [ -z "${FLOWER_BASIC_AUTH:-}" ] && [ -z "$(env_file_value FLOWER_BASIC_AUTH)" ]; then
    echo "user:password $(flower_auth) (generated, kept in $RUN/flower-auth)"
  else
    echo "user ${1%%:*}, the password FLOWER_BASIC_AUTH sets"
  fi
}

broker_label() {  # the broker, credentials masked
  if [ -n "$BROKER_URL" ]; then echo "$BROKER_URL" | sed -E 's#://[^@/]*@#://***@#'; else echo "REDIS_URL"; fi
}

status() {  # always exits 0: "not running" is an answer, not an error
  local any=0
  for p in "$RUN"/*.pid; do
    [ -e "$p" ] || continue
    any=1
    n=$(basename "$p" .pid)
    if kill -0 "$(cat "$p")" 2>/dev/null; then echo "$n running"; else echo "$n dead"; fi
  done
  [ "$any" -eq 1 ] || echo "fleet not running (make up starts it)"
  if [ -f "$RUN/flower.pid" ] && kill -0 "$(cat "$RUN/flower.pid")" 2>/dev/null; then
    echo "flower: http://127.0.0.1:$FLOWER_PORT — $(flower_login "$(flower_auth)")"
  fi
  echo "broker: $(broker_label)"
  [ -x .venv/bin/python ] || { echo "  (no .venv yet: queue depths after make up)"; return 0; }
  # Queue depths through core/broker.py: Redis lists or RabbitMQ's passive queue.declare alike.
  BROKER_URL="$BROKER_URL" .venv/bin/python - 2>/dev/null <<'PY' || echo "  (broker unreachable)"
from eyeflow_worker.core.broker import queue_depths_reader
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.routing import all_queues
from eyeflow_worker.core.settings import load_settings

settings = load_settings()
depths = queue_depths_reader(settings, lambda url: get_redis(settings, url))(all_queues(settings))
for queue, depth in depths.items():
    print(f"  {queue}: {depth} waiting")
PY
}

wait_ready() {
  for _ in $(seq 1 120); do
    if curl -fsS "$GATEWAY/health" 2>/dev/null | .venv/bin/python -c \
        'import json,sys; sys.exit(0 if json.load(sys.stdin)["workers"]["online"] >= 2 else 1)' 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "The fleet did not become ready in 60 s; see the logs in $RUN/" >&2
  return 1
}

up() {
  echo "Installing runtime dependencies into .venv ..."
  scripts/venv.sh requirements.txt
  scripts/ensure-redis.sh
  case "$BROKER_URL" in
    amqp://*|amqps://*|pyamqp://*) scripts/ensure-rabbitmq.sh "$BROKER_URL" ;;
  esac
  echo "Starting the fleet (Redis: $REDIS_URL; broker: $(broker_label)) ..."
  start gateway .venv/bin/uvicorn --factory api_gateway.main:create_app --host 127.0.0.1 --port "$GATEWAY_PORT"
  # REMAP_SIGTERM=SIGQUIT: `make down`'s SIGTERM is Celery's soft shutdown, which hands jobs
  # still running after WORKER_SOFT_SHUTDOWN_SECONDS back to the broker at once.
  REMAP_SIGTERM=SIGQUIT start worker-interactive .venv/bin/python -m eyeflow_worker.worker interactive
  REMAP_SIGTERM=SIGQUIT start worker-batch .venv/bin/python -m eyeflow_worker.worker batch
  # LOG_FORMAT=json: beat's start-up banner (printed, not logged) is left out, as the workers'.
  quiet=()
  [ "${LOG_FORMAT:-$(env_file_value LOG_FORMAT)}" = "json" ] && quiet=(--quiet)
  start beat .venv/bin/celery -A eyeflow_worker.celery_app "${quiet[@]}" beat --schedule "$RUN/celerybeat-schedule"
  # Basic auth, as in compose: Flower reads FLOWER_BASIC_AUTH from its environment (not the
  # command line, where `ps` would show the password).
  flower_credentials=$(flower_auth)
  FLOWER_BASIC_AUTH="$flower_credentials" start flower .venv/bin/celery -A eyeflow_worker.celery_app flower --address=127.0.0.1 --port="$FLOWER_PORT"
  wait_ready || { down; exit 1; }
  echo
  echo "Submitting the seed's example intent (POST /api/rules/generate?wait=30):"
  token="${GATEWAY_API_TOKEN:-}"
  [ -z "$token" ] && [ -f .env ] && token=$(sed -n 's/^GATEWAY_API_TOKEN=//p' .env | tail -n 1)
  auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  if ! curl -fsS -X POST "$GATEWAY/api/rules/generate?wait=30" "${auth[@]}" \
    -H 'Content-Type: application/json' -H 'X-User-ID: system' \
    -d '{"user_intent": "Alert team when database memory exceeds 85%"}' | .venv/bin/python -m json.tool; then
    echo "The example request failed; the fleet is still up — see $RUN/*.log" >&2
  fi
  if [ "${LLM_PROVIDER:-offline}" = "offline" ] && [ -z "${NESTJS_SERVER_URL:-}" ]; then
    serving="embedded offline provider: deterministic drafting, no LLM, no key"
  elif [ -n "${NESTJS_SERVER_URL:-}" ]; then
    serving="configuration per tenant from NestJS at $NESTJS_SERVER_URL"
  else
    serving="provider ${LLM_PROVIDER}, model ${LLM_MODEL:-its default}"
  fi
  cat <<MSG

The fleet is up ($serving):
  gateway   $GATEWAY
  API docs  $GATEWAY/docs
  Flower    http://127.0.0.1:$FLOWER_PORT  ($(flower_login "$flower_credentials"))
  logs      $RUN/*.log
Try:  curl -X POST '$GATEWAY/api/rules/generate?wait=30' -H 'Content-Type: application/json' \\
        -d '{"user_intent": "Notify ops when CPU is above 90%"}'
Stop: make down
MSG
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  flower-auth) flower_auth ;;
  *) echo "usage: $0 up|down|status|flower-auth" >&2; exit 2 ;;
esac
