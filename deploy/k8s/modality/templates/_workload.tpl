{{/*
Deployment of one Modality service. Call with a dict:
  root       $
  component  "gateway"
  values     .Values.gateway
  ports      list of (dict "name" "http" "port" 8000); the first one serves /health
  secretRequired / secretOptional   Secret keys exposed as env (see modality.secretEnv)
  metricsPort  port name Prometheus scrapes (defaults to the first port)
*/}}
{{- define "modality.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $name := include "modality.componentName" (dict "root" $root "component" .component) -}}
{{- $probePort := (index .ports 0).name -}}
{{- $metricsPort := default $probePort .metricsPort -}}
{{- $metricsPortNumber := 0 -}}
{{- range .ports }}{{ if eq .name $metricsPort }}{{ $metricsPortNumber = .port }}{{ end }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "modality.componentLabels" (dict "root" $root "component" .component) | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "modality.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "modality.componentLabels" (dict "root" $root "component" .component) | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- if $root.Values.prometheusAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $metricsPortNumber | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "modality.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "modality.image" (dict "root" $root "name" $v.image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          envFrom:
            - configMapRef:
                name: {{ include "modality.configMapName" $root }}
          {{- $secretEnv := include "modality.secretEnv" (dict "root" $root "required" (default (list) .secretRequired) "optional" (default (list) .secretOptional)) | trim }}
          {{- if or $secretEnv $v.extraEnv }}
          env:
            {{- with $secretEnv }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          startupProbe:
            httpGet: {path: /health, port: {{ $probePort }}}
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          readinessProbe:
            httpGet: {path: /health, port: {{ $probePort }}}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          livenessProbe:
            httpGet: {path: /health, port: {{ $probePort }}}
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          {{- if $v.preStopSleepSeconds }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $v.preStopSleepSeconds | quote }}]
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/*
ClusterIP Service: (dict "root" $ "component" "gateway" "suffix" "" "ports" (list ...) "spec" .Values.gateway.service).
*/}}
{{- define "modality.service" -}}
{{- $root := .root -}}
{{- $base := include "modality.componentName" (dict "root" $root "component" .component) -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ if .suffix }}{{ printf "%s-%s" $base .suffix | trunc 63 | trimSuffix "-" }}{{ else }}{{ $base }}{{ end }}
  labels:
    {{- include "modality.componentLabels" (dict "root" $root "component" .component) | nindent 4 }}
  {{- with (and .spec .spec.annotations) }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ default "ClusterIP" (and .spec .spec.type) }}
  selector:
    {{- include "modality.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler on CPU: (dict "root" $ "component" "gateway" "values" .Values.gateway). */}}
{{- define "modality.hpa" -}}
{{- $name := include "modality.componentName" (dict "root" .root "component" .component) -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "modality.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}
