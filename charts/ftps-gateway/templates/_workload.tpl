{{/*
A gateway service Deployment, its metrics Service, HPA; used by router, status and adapters.
(dict "root" $ "component" "router" "values" .Values.router "data" false "routes" true
      "env" (list ...) )
*/}}
{{- define "gw.workload" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $name := printf "%s-%s" (include "gw.fullname" $root) .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "gw.componentLabels" . | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "gw.componentSelector" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "gw.componentLabels" . | nindent 8 }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "gw.serviceAccountName" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 60
      {{- with include "gw.imagePullSecrets" $root | trim }}{{ . | nindent 6 }}{{ end }}
      {{- include "gw.podSecurityContext" $root | nindent 6 }}
      {{- with include "gw.scheduling" . | trim }}{{ . | nindent 6 }}{{ end }}
      containers:
        - name: {{ .component }}
          image: {{ include "gw.image" (dict "root" $root "image" $v.image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $v.httpPort }}
              protocol: TCP
          env:
            {{- include "gw.commonEnv" (dict "root" $root "httpPort" $v.httpPort "data" .data "routes" .routes) | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $v.envFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "gw.probes" $root | nindent 10 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          {{- include "gw.containerSecurityContext" $root | nindent 10 }}
          volumeMounts:
            {{- include "gw.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "gw.volumes" . | nindent 8 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "gw.componentLabels" . | nindent 4 }}
    ftps-gateway/metrics: "true"
spec:
  type: ClusterIP
  selector:
    {{- include "gw.componentSelector" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $v.httpPort }}
      targetPort: http
      protocol: TCP
{{- if and $v.autoscaling $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "gw.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- end -}}
