{{- define "acs-smtp-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "acs-smtp-operator.fullname" -}}
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

{{- define "acs-smtp-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "acs-smtp-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "acs-smtp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "acs-smtp-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "acs-smtp-operator.serviceAccountName" -}}
{{- default (include "acs-smtp-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "acs-smtp-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The rules the operator needs on the namespaces it watches: the same in a ClusterRole or a Role. */}}
{{- define "acs-smtp-operator.watchRules" -}}
# The custom resources: watch them, keep the finalizer and kopf's annotations on them.
- apiGroups: [acssmtp.io]
  resources: [acssmtpcredentials]
  verbs: [get, list, watch, patch]
# Their status: conditions, expiry, the key ledger.
- apiGroups: [acssmtp.io]
  resources: [acssmtpcredentials/status]
  verbs: [get, patch]
# The Secrets' ownerReference blocks the credential's deletion until they are gone (blockOwnerDeletion): with the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift's default) that asks for this.
- apiGroups: [acssmtp.io]
  resources: [acssmtpcredentials/finalizers]
  verbs: [update]
# The SMTP Secrets it writes (watched to heal an out-of-band deletion at once).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update]
# Events on the custom resources.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# Rolling restarts of spec.restartTargets, and waiting for them.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, patch]
# Restart targets given by a label selector: the workloads it matches, listed (no watch).
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [list]
{{- end }}
