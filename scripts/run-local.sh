#!/usr/bin/env bash
# `make run`: the whole gateway on this machine, each service its own process, Ctrl-C stops all.
# Every GATEWAY_* variable already set by the caller wins over the demo defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

: "${GATEWAY_DATA_DIR:=var/data}"
: "${GATEWAY_ROUTES_FILE:=config/routes.yaml}"
: "${GATEWAY_TLS_CERT_FILE:=var/pki/server.pem}"
: "${GATEWAY_TLS_KEY_FILE:=var/pki/server.key}"
: "${GATEWAY_CLIENT_CA_FILE:=var/pki/client-ca.pem}"
: "${GATEWAY_CRL_FILES:=var/pki/crl-bundle.pem}"
# The demo certificates name CRL URLs on 127.0.0.1:9199 that nothing serves; the bundle covers them.
: "${GATEWAY_CRL_FETCH:=false}"
: "${GATEWAY_FTPS_PORT:=6371}"
: "${GATEWAY_LOG_FORMAT:=console}"
# The demo talks to the local RabbitMQ with its default account; deployments must not.
: "${GATEWAY_DEMO:=true}"
export GATEWAY_DATA_DIR GATEWAY_ROUTES_FILE GATEWAY_TLS_CERT_FILE GATEWAY_TLS_KEY_FILE GATEWAY_CLIENT_CA_FILE \
  GATEWAY_CRL_FILES GATEWAY_CRL_FETCH GATEWAY_FTPS_PORT GATEWAY_LOG_FORMAT GATEWAY_DEMO

scripts/ensure-rabbitmq.sh
$bin/gateway-pki demo --dir var/pki
mkdir -p "$GATEWAY_DATA_DIR"

declare -A names=()  # pid -> service
# shellcheck disable=SC2329  # invoked by the trap below
stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping the gateway"
  (( ${#names[@]} )) && kill -TERM "${!names[@]}" 2>/dev/null
  wait
}
trap stop_all INT TERM EXIT
start() {
  local name=$1; shift
  # Console logs from every service in one terminal, each line tagged with its service. The
  # process substitution keeps $! the service's own pid, to stop it and to name it when it exits.
  "$@" > >(sed -u "s/^/$(printf '%-17s' "[$name]") /") 2>&1 &
  names[$!]=$name
}
start demo-backend $bin/gateway-demo-backend
start router $bin/gateway-router
start status $bin/gateway-status
# Every installed adapter (each folder under services/adapters), on the port its settings name.
for adapter in $($bin/gateway-adapter list); do
  start "adapter-$adapter" $bin/gateway-adapter run "$adapter"
done
start ingress $bin/gateway-ingress

for _ in $(seq 1 60); do
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$GATEWAY_FTPS_PORT" 2>/dev/null && break
  sleep 0.5
done
pki=var/pki/clients
cat <<TXT

  ftps-gateway is running: FTPS on 127.0.0.1:$GATEWAY_FTPS_PORT, metrics on :9101 and up (/metrics).
  Client certificates: $pki/ (see $pki/index.json); the CA your client should trust: var/pki/server-ca.pem

  Upload a file as an employee of CVR 30808460 to the heartbeat service:
    echo hello > /tmp/tx-\$\$.txt
    curl --ssl-reqd --cacert var/pki/server-ca.pem --cert $pki/employee.pem --key $pki/employee.key \\
         -u anonymous:guest -T /tmp/tx-\$\$.txt ftp://127.0.0.1:$GATEWAY_FTPS_PORT/heartbeat/

  Read the company's /out (status files appear within a second):
    curl --ssl-reqd --cacert var/pki/server-ca.pem --cert $pki/employee.pem --key $pki/employee.key \\
         -u anonymous:guest ftp://127.0.0.1:$GATEWAY_FTPS_PORT/%2Fout/

  Press Ctrl-C to stop everything.

TXT
# Any service that ends stops the whole gateway, and says which one it was.
set +e
wait -n -p finished "${!names[@]}"
code=$?
set -e
echo "make run: ${names[$finished]:-a service} exited with status $code; stopping the others" >&2
exit 1
