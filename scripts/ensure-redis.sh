#!/usr/bin/env bash
# Make sure a Redis answers on $REDIS_URL; start a local redis-server when none does.
set -euo pipefail
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${REDIS_URL#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379

if command -v redis-cli >/dev/null 2>&1 && redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  exit 0
fi
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  exit 0   # something listens there; redis-cli is just not installed
fi
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "No Redis answers at $host:$port (REDIS_URL). Start one there, or point REDIS_URL at a running Redis." >&2; exit 1 ;;
esac
if ! command -v redis-server >/dev/null 2>&1; then
  cat >&2 <<MSG
No Redis answers on $host:$port and redis-server is not installed.
Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)
or set REDIS_URL to a Redis you can reach, then run this again.
MSG
  exit 1
fi
echo "Starting a local redis-server on $host:$port"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null
for _ in $(seq 1 50); do
  redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "redis-server did not answer on $host:$port" >&2
exit 1
