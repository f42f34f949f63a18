{{/* ------------------------------------------------------------------ names */}}
{{- define "gw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ------------------------------------------------------------------ labels */}}
{{- define "gw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gw.labels" -}}
helm.sh/chart: {{ include "gw.chart" . }}
{{ include "gw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ftps-gateway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component; call with (dict "root" $ "component" "router"). */}}
{{- define "gw.componentLabels" -}}
{{ include "gw.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gw.componentSelector" -}}
{{ include "gw.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ------------------------------------------------------------------ images */}}
{{/* (dict "root" $ "image" .Values.router.image) */}}
{{- define "gw.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "gw.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------------------ secrets and config */}}
{{/* The Secret with the AMQP URL: existingSecret, else <fullname>-amqp (created by the chart
     from rabbitmq.external.url or for the bundled broker; else it must exist). */}}
{{- define "gw.amqpSecretName" -}}
{{- if and (eq .Values.rabbitmq.mode "external") .Values.rabbitmq.external.existingSecret -}}
{{- .Values.rabbitmq.external.existingSecret -}}
{{- else -}}
{{- printf "%s-amqp" (include "gw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "gw.amqpSecretKey" -}}
{{- if and (eq .Values.rabbitmq.mode "external") .Values.rabbitmq.external.existingSecret -}}
{{- .Values.rabbitmq.external.existingSecretKey -}}
{{- else -}}
amqp-url
{{- end -}}
{{- end -}}

{{- define "gw.rabbitmqClusterName" -}}
{{- printf "%s-rabbitmq" (include "gw.fullname" .) -}}
{{- end -}}

{{- define "gw.tlsSecretName" -}}
{{- .Values.ingress.tls.existingSecret | default (printf "%s-server-tls" (include "gw.fullname" .)) -}}
{{- end -}}

{{- define "gw.clientCASecretName" -}}
{{- .Values.ingress.clientCA.existingSecret | default (printf "%s-client-ca" (include "gw.fullname" .)) -}}
{{- end -}}

{{- define "gw.clientCASecretKey" -}}
{{- if .Values.ingress.clientCA.existingSecret -}}
{{- .Values.ingress.clientCA.existingSecretKey -}}
{{- else -}}
ca.pem
{{- end -}}
{{- end -}}

{{- define "gw.crlSecretName" -}}
{{- .Values.ingress.crl.existingSecret | default (printf "%s-crl" (include "gw.fullname" .)) -}}
{{- end -}}

{{/* The CRL file names, sorted, from the existing Secret's list or the inline data. */}}
{{- define "gw.crlFiles" -}}
{{- if .Values.ingress.crl.existingSecret -}}
{{- join "," (sortAlpha .Values.ingress.crl.files) -}}
{{- else -}}
{{- join "," (sortAlpha (keys .Values.ingress.crl.data)) -}}
{{- end -}}
{{- end -}}

{{/* The Secret with GATEWAY_OUTBOUND_TOKENS (JSON): existingSecret, else <fullname>-outbound-tokens. */}}
{{- define "gw.outboundTokensSecretName" -}}
{{- .Values.status.api.existingSecret | default (printf "%s-outbound-tokens" (include "gw.fullname" .)) -}}
{{- end -}}

{{- define "gw.outboundTokensSecretKey" -}}
{{- if .Values.status.api.existingSecret -}}
{{- .Values.status.api.existingSecretKey -}}
{{- else -}}
outbound-tokens
{{- end -}}
{{- end -}}

{{- define "gw.claimName" -}}
{{- .Values.storage.existingClaim | default (printf "%s-data" (include "gw.fullname" .)) -}}
{{- end -}}

{{- define "gw.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create -}}
{{- printf "%s-%s" (include "gw.fullname" .root) .component -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ pod pieces */}}
{{- define "gw.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.securityContext.runAsUser }}
  runAsGroup: {{ .Values.securityContext.runAsGroup }}
  fsGroup: {{ .Values.securityContext.fsGroup }}
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "gw.containerSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  allowPrivilegeEscalation: false
  privileged: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Environment every gateway service gets; (dict "root" $ "httpPort" 9102 "data" true "routes" true) */}}
{{- define "gw.commonEnv" -}}
- name: GATEWAY_LOG_FORMAT
  value: json
- name: GATEWAY_LOG_LEVEL
  value: {{ .root.Values.gateway.logLevel | quote }}
- name: GATEWAY_HTTP_HOST
  value: "0.0.0.0"
- name: GATEWAY_HTTP_PORT
  value: {{ .httpPort | quote }}
- name: GATEWAY_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: GATEWAY_AMQP_EXCHANGE
  value: {{ .root.Values.amqp.exchange | quote }}
- name: GATEWAY_AMQP_PREFETCH
  value: {{ .root.Values.amqp.prefetch | quote }}
{{- if eq .root.Values.rabbitmq.mode "operator" }}
- name: RABBITMQ_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "gw.rabbitmqClusterName" .root }}-default-user
      key: username
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "gw.rabbitmqClusterName" .root }}-default-user
      key: password
- name: GATEWAY_AMQP_URL
  value: "amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@{{ include "gw.rabbitmqClusterName" .root }}.{{ .root.Release.Namespace }}.svc:5672/"
{{- else }}
- name: GATEWAY_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "gw.amqpSecretName" .root }}
      key: {{ include "gw.amqpSecretKey" .root }}
{{- end }}
{{- if .data }}
- name: GATEWAY_DATA_DIR
  value: {{ .root.Values.gateway.dataDir | quote }}
{{- end }}
{{- if .routes }}
- name: GATEWAY_ROUTES_FILE
  value: /etc/gateway/routes/routes.yaml
{{- end }}
{{- with .root.Values.gateway.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "gw.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Volume mounts; (dict "root" $ "data" true "routes" true) */}}
{{- define "gw.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .data }}
- name: data
  mountPath: {{ .root.Values.gateway.dataDir }}
{{- end }}
{{- if .routes }}
- name: routes
  mountPath: /etc/gateway/routes
  readOnly: true
{{- end }}
{{- range .secretFiles }}
- name: secret-{{ . }}
  mountPath: /etc/gateway/secrets/{{ . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "gw.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if .data }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "gw.claimName" .root }}
{{- end }}
{{- if .routes }}
- name: routes
  configMap:
    name: {{ include "gw.fullname" .root }}-routes
{{- end }}
{{- range .secretFiles }}
- name: secret-{{ . }}
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Topology spread and scheduling; (dict "root" $ "component" "router" "values" .Values.router) */}}
{{- define "gw.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range list .root.Values.topologySpread.zoneKey .root.Values.topologySpread.hostKey }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "gw.componentSelector" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------------------ ingress helpers */}}
{{/* Passive range of replica i: (dict "root" $ "index" 0) -> "35000-35049" */}}
{{- define "gw.passiveRange" -}}
{{- $p := .root.Values.ingress.passivePorts -}}
{{- $low := int $p.start -}}
{{- if eq .root.Values.ingress.exposure.mode "perReplica" -}}
{{- $low = add $p.start (mul .index $p.count) | int -}}
{{- end -}}
{{- $high := add $low $p.count -1 | int -}}
{{- if gt $high 65535 -}}
{{- fail (printf "ingress.passivePorts: replica %d would need ports up to %d (> 65535)" (int .index) $high) -}}
{{- end -}}
{{- printf "%d-%d" $low $high -}}
{{- end -}}

{{/* The ingress Deployments: a list of (index, name, suffix) as JSON. */}}
{{- define "gw.ingressUnits" -}}
{{- $units := list -}}
{{- $full := include "gw.fullname" . -}}
{{- if eq .Values.ingress.exposure.mode "perReplica" -}}
{{- range $i := until (int .Values.ingress.replicas) -}}
{{- $units = append $units (dict "index" $i "name" (printf "%s-ingress-%d" $full $i) "replica" (toString $i)) -}}
{{- end -}}
{{- else -}}
{{- $units = append $units (dict "index" 0 "name" (printf "%s-ingress" $full) "replica" "") -}}
{{- end -}}
{{- toJson $units -}}
{{- end -}}

{{/* Checks that fail the render with a clear message. */}}
{{- define "gw.validate" -}}
{{- $ing := .Values.ingress -}}
{{- if and (eq $ing.exposure.mode "shared") (gt (int $ing.replicas) 1) (not $ing.exposure.allowSharedWithReplicas) -}}
{{- fail "ingress.exposure.mode=shared with more than one replica lets a data connection reach another replica (kube-proxy keeps session affinity per Service port). Use exposure.mode=perReplica, or set exposure.allowSharedWithReplicas=true if your load balancer keeps affinity across ports." -}}
{{- end -}}
{{- if and (eq $ing.exposure.mode "perReplica") $ing.exposure.replicaAddresses (ne (len $ing.exposure.replicaAddresses) (int $ing.replicas)) -}}
{{- fail (printf "ingress.exposure.replicaAddresses has %d addresses for %d replicas: give one per replica, or none" (len $ing.exposure.replicaAddresses) (int $ing.replicas)) -}}
{{- end -}}
{{- if and (not $ing.tls.existingSecret) (ne (empty $ing.tls.certificate) (empty $ing.tls.key)) -}}
{{- fail "ingress.tls: give both certificate and key, or neither (then the Secret existingSecret, or <fullname>-server-tls, must exist)" -}}
{{- end -}}
{{- if and (ne $ing.proxyProtocol.mode "off") (not $ing.proxyProtocol.trustedCIDRs) -}}
{{- fail "ingress.proxyProtocol.trustedCIDRs: PROXY headers are accepted only from trusted load balancer addresses; list them" -}}
{{- end -}}
{{- $api := .Values.status.api -}}
{{- if and $api.enabled (not $api.allowedFrom) -}}
{{- fail "status.api.allowedFrom: the outbound API is enabled; list the backends (NetworkPolicyPeers) that may call it" -}}
{{- end -}}
{{- if and $api.enabled (not $api.existingSecret) (not $api.tokens) -}}
{{- fail "status.api: the outbound API is enabled but no backend has a token; set tokens or existingSecret" -}}
{{- end -}}
{{- $adapters := include "gw.adapters" . | fromYaml -}}
{{- range $service, $route := .Values.routes -}}
{{- $adapter := index $adapters $route.adapter -}}
{{- if not (and $adapter $adapter.enabled) -}}
{{- fail (printf "routes.%s uses adapter %q, which is not enabled under adapters" $service $route.adapter) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tests.heartbeat.enabled (not .Values.tests.heartbeat.clientCertSecret) -}}
{{- fail "tests.heartbeat.clientCertSecret: name the Secret with the test client certificate (tls.crt, tls.key)" -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ adapters */}}
{{/*
Every entry under adapters, completed from adapterDefaults: each top-level key an entry sets
replaces the default's whole value (so `replicas: 0` or `autoscaling: {enabled: false}` mean
what they say); an entry without image uses ftps-gateway-adapter-<name>. YAML; use with fromYaml.
*/}}
{{- define "gw.adapters" -}}
{{- $all := dict -}}
{{- range $name, $adapter := .Values.adapters -}}
{{- $merged := deepCopy $.Values.adapterDefaults -}}
{{- range $key, $value := $adapter }}{{ $_ := set $merged $key $value }}{{ end -}}
{{- if not (hasKey $adapter "image") }}{{ $_ := set $merged "image" (dict "repository" (printf "ftps-gateway-adapter-%s" $name) "tag" "") }}{{ end -}}
{{- $_ := set $all $name $merged -}}
{{- end -}}
{{- toYaml $all -}}
{{- end -}}
