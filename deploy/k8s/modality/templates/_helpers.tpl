{{/* Names, labels and images shared by every template. */}}

{{- define "modality.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modality.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>; call with (dict "root" $ "component" "gateway"). */}}
{{- define "modality.componentName" -}}
{{- printf "%s-%s" (include "modality.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modality.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "modality.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modality
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "modality.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modality.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modality.componentLabels" -}}
{{ include "modality.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A Modality image: (dict "root" $ "name" "gateway"). */}}
{{- define "modality.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .name $tag -}}
{{- end -}}

{{- define "modality.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modality.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modality.secretName" -}}
{{- default (include "modality.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "modality.configMapName" -}}
{{- include "modality.fullname" . -}}
{{- end -}}

{{/* host:port of Triton's gRPC endpoint, as MODALITY_CLASSIFIER_TRITON_URL wants it. */}}
{{- define "modality.tritonUrl" -}}
{{- printf "%s:%d" (include "modality.componentName" (dict "root" . "component" "triton")) (int .Values.triton.ports.grpc) -}}
{{- end -}}

{{/*
Environment variables read from the Secret: (dict "root" $ "required" (list ...) "optional" (list ...)).
Required keys fail the pod at start if missing from the Secret; optional ones may be absent.
*/}}
{{- define "modality.secretEnv" -}}
{{- $secret := include "modality.secretName" .root -}}
{{- range .required }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
{{- end }}
{{- range .optional }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end -}}
