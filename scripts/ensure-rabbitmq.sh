#!/usr/bin/env bash
# Makes sure the RabbitMQ the gateway talks to is up: starts a local one if it is installed but
# stopped, installs it from Debian's packages if missing, and fails with a clear message otherwise.
set -euo pipefail
url=${GATEWAY_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
hostport=${url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=${hostport##*:}; [ "$port" = "$hostport" ] && port=5672

reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; }

if reachable; then exit 0; fi
case "$host" in
  127.*|localhost) ;;
  *) echo "ensure-rabbitmq: RabbitMQ at $host:$port is not reachable (GATEWAY_AMQP_URL); start it or fix the URL." >&2; exit 1 ;;
esac
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-rabbitmq: installing rabbitmq-server from Debian packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  else
    echo "ensure-rabbitmq: RabbitMQ is not running on $host:$port and rabbitmq-server is not installed." >&2
    echo "  Install it (apt-get install rabbitmq-server) or point GATEWAY_AMQP_URL at a running broker." >&2
    exit 1
  fi
fi
echo "ensure-rabbitmq: starting RabbitMQ"
rabbitmq-server -detached >/dev/null 2>&1 || true
for _ in $(seq 1 90); do
  if reachable; then echo "ensure-rabbitmq: RabbitMQ is up on $host:$port"; exit 0; fi
  sleep 1
done
echo "ensure-rabbitmq: RabbitMQ did not come up on $host:$port within 90 s; see /var/log/rabbitmq/." >&2
exit 1
