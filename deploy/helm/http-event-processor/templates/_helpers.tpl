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
{{- $pairing := include "hep.kafkaPairing" . }}
{{- if and .Values.autoscaling.enabled (not $pairing) }}
{{- fail "autoscaling.enabled in standalone mode needs kafka.enabled and kafka.pairing.enabled: without Kafka pairing the request and response halves of one transaction reach different replicas and never pair (README: Standalone: several replicas). Or use mode=sidecar" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not $pairing) (not .Values.standalone.allowMultipleReplicas) }}
{{- fail "replicaCount > 1 in standalone mode needs kafka.enabled and kafka.pairing.enabled: without Kafka pairing the halves of one transaction reach different replicas and never pair (README: Standalone: several replicas). Or keep 1, use mode=sidecar, or set standalone.allowMultipleReplicas=true after reading the README" }}
{{- end }}
{{- if and .Values.persistence.enabled (eq .Values.persistence.accessMode "ReadWriteOnce") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "several replicas cannot share a ReadWriteOnce claim: use persistence.enabled=false (emptyDir), or a ReadWriteMany claim with persistence.subPathExpr=$(POD_NAME)" }}
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
{{- if and .Values.kafka.pairing.enabled (not .Values.kafka.enabled) }}
{{- fail "kafka.pairing.enabled needs kafka.enabled and kafka.brokers" }}
{{- end }}
{{- if and .Values.kafka.enabled (not .Values.kafka.exchanges) .Values.kafka.noFileStorage }}
{{- fail "kafka.exchanges=false with kafka.noFileStorage would store nothing" }}
{{- end }}
{{- end }}

{{/*
"true" when the agent pairs through Kafka (--pairing kafka), else empty.
*/}}
{{- define "hep.kafkaPairing" -}}
{{- if and .Values.kafka.enabled .Values.kafka.pairing.enabled }}true{{ end }}
{{- end }}

{{/*
"true" for a standalone release of several replicas pairing through Kafka (HPA included): it
gets a headless Service for the fleet read and a PodDisruptionBudget.
*/}}
{{- define "hep.fleet" -}}
{{- if and (eq .Values.mode "standalone") (include "hep.kafkaPairing" .) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}true{{ end }}
{{- end }}
