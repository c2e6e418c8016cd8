#!/usr/bin/env bash
# Make sure a RabbitMQ answers at the AMQP URL given ($1, else $EYEFLOW_RABBITMQ_URL, else
# amqp://guest:guest@127.0.0.1:5672): when none does on this machine, start the local
# rabbitmq-server — bound to loopback only — and, when it is not installed and we are root on
# Debian/Ubuntu, install it with apt-get first. Like scripts/ensure-redis.sh for Redis.
set -euo pipefail
URL="${1:-${EYEFLOW_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672}}"
hostport="${URL#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5672

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

answers && exit 0
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "No RabbitMQ answers at $host:$port. Start one there, or point the URL at a running RabbitMQ." >&2; exit 1 ;;
esac

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing rabbitmq-server (apt-get) ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  else
    cat >&2 <<MSG
No RabbitMQ answers on $host:$port and rabbitmq-server is not installed.
Install it (Debian/Ubuntu: sudo apt-get install -y rabbitmq-server; macOS: brew install rabbitmq)
or point the URL at a RabbitMQ you can reach, then run this again.
MSG
    exit 1
  fi
  answers && exit 0   # the package started its own service
fi

echo "Starting a local rabbitmq-server on $host:$port (loopback only)"
# Loopback only: AMQP, the Erlang distribution port and epmd. A job may run up to the 30-minute
# time limit with its message unacked; RabbitMQ's default consumer_timeout (30 min) would close
# the channel right there, so it is the visibility timeout's hour, as on Redis.
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -kernel inet_dist_use_interface {127,0,0,1} -rabbit consumer_timeout 3600000"
if ! rabbitmq-server -detached; then
  echo "rabbitmq-server would not start (it needs root or the rabbitmq user)" >&2
  exit 1
fi
for _ in $(seq 1 120); do   # a RabbitMQ boots in 5-20 s
  answers && exit 0
  sleep 0.5
done
echo "rabbitmq-server did not answer on $host:$port within 60 s; see its logs (/var/log/rabbitmq/)" >&2
exit 1
