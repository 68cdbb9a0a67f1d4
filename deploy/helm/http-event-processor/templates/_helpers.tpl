{{/* Names, labels and checks shared by the templates. */}}

{{- define "hep.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hep.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hep.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hep.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hep.labels" -}}
helm.sh/chart: {{ include "hep.chart" . }}
{{ include "hep.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{- define "hep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hep.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hep.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "hep.haproxyConfigMap" -}}
{{- default (printf "%s-haproxy" (include "hep.fullname" .)) .Values.sidecar.haproxy.existingConfigMap }}
{{- end }}

{{- define "hep.claimName" -}}
{{- default (printf "%s-data" (include "hep.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
Refuses set-ups that cannot pair: both halves of a transaction must reach the same agent.
*/}}
{{- define "hep.validate" -}}
{{- if not (has .Values.mode (list "standalone" "sidecar")) }}
{{- fail (printf "mode must be standalone or sidecar, not %q" .Values.mode) }}
{{- end }}
{{- if eq .Values.mode "standalone" }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled needs mode=sidecar: a standalone agent cannot be scaled by an HPA, because the request and response halves of one transaction would reach different replicas and never pair (README: Standalone: why one replica)" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.standalone.allowMultipleReplicas) }}
{{- fail "replicaCount > 1 in standalone mode splits request and response halves across replicas; keep 1 (one release per HAProxy), use mode=sidecar, or set standalone.allowMultipleReplicas=true after reading the README" }}
{{- end }}
{{- else }}
{{- if not .Values.sidecar.application.image.repository }}
{{- fail "mode=sidecar needs sidecar.application.image.repository (the application HAProxy fronts)" }}
{{- end }}
{{- if not (has .Values.sidecar.haproxy.configFamily (list "3.1+" "2.4-3.0")) }}
{{- fail "sidecar.haproxy.configFamily must be \"3.1+\" or \"2.4-3.0\"" }}
{{- end }}
{{- if and .Values.persistence.enabled (eq .Values.persistence.accessMode "ReadWriteOnce") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "several sidecar pods cannot share a ReadWriteOnce claim: use persistence.enabled=false (emptyDir), or a ReadWriteMany claim with persistence.subPathExpr=$(POD_NAME)" }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.enabled (not .Values.kafka.brokers) }}
{{- fail "kafka.enabled needs kafka.brokers" }}
{{- end }}
{{- end }}
