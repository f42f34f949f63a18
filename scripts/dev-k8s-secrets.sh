#!/usr/bin/env bash
# Development PKI for a local cluster (kind/minikube; skaffold profile "dev" runs this first):
# a throw-away CA that signs the FTPS server certificate and an OCES2-style function
# certificate for `helm test`, stored as the Secrets the chart expects for release NAME:
#   NAME-server-tls (kubernetes.io/tls), NAME-client-ca (ca.pem), NAME-test-client
#   (tls.crt, tls.key, ca.crt). Never use these outside a development cluster.
# Usage: scripts/dev-k8s-secrets.sh [release-name] [namespace]    (DRY_RUN=1: print the YAML)
set -euo pipefail

release=${1:-ftps-gateway}
namespace=${2:-ftps-gateway}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${DEV_PKI_DIR:-$repo/var/k8s-pki}
mkdir -p "$dir"
cd "$dir"

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/C=DK/O=ftps-gateway dev/CN=ftps-gateway dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
fi
if [[ ! -f server.pem ]]; then
  sans="DNS:localhost,IP:127.0.0.1,DNS:*.${namespace}.svc,DNS:*.${namespace}.svc.cluster.local"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/C=DK/O=ftps-gateway dev/CN=ftps-gateway.local" \
    -keyout server.key -out server.csr 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 -out server.pem \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$sans") 2>/dev/null
fi
if [[ ! -f test-client.pem ]]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/C=DK/O=ftps-gateway dev/CN=helm test/serialNumber=CVR:12345678-FID:1" \
    -keyout test-client.key -out test-client.csr 2>/dev/null
  openssl x509 -req -in test-client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 -out test-client.pem \
    -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') 2>/dev/null
fi

apply() {
  if [[ ${DRY_RUN:-0} == 1 ]]; then
    cat
  else
    kubectl apply -n "$namespace" -f -
  fi
}
{
  [[ ${DRY_RUN:-0} == 1 ]] || kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl_create() { kubectl create -n "$namespace" --dry-run=client -o yaml "$@"; }
  if ! command -v kubectl >/dev/null; then
    echo "dev-k8s-secrets: kubectl not found" >&2
    exit 1
  fi
  kubectl_create secret tls "$release-server-tls" --cert=server.pem --key=server.key | apply
  kubectl_create secret generic "$release-client-ca" --from-file=ca.pem=ca.pem | apply
  kubectl_create secret generic "$release-test-client" --from-file=tls.crt=test-client.pem \
    --from-file=tls.key=test-client.key --from-file=ca.crt=ca.pem | apply
}
echo "dev-k8s-secrets: Secrets for release $release in namespace $namespace are in place (PKI in $dir)" >&2
