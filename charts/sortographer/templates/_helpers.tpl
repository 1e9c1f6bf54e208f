{{/*
fullname prefixes every resource: the release name, followed by the chart name unless the
release name already contains it ("sortographer" -> sortographer-operator, ...).
*/}}
{{- define "sortographer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sortographer.operatorName" -}}
{{ include "sortographer.fullname" . }}-operator
{{- end -}}

{{- define "sortographer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "sortographer.operatorName" .) .Values.serviceAccount.name }}
{{- else -}}
{{ required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/*
selectorLabels pick the operator's pods. app.kubernetes.io/name is fixed (not
nameOverride): a Gallery's Redis NetworkPolicy admits the operator's backlog scaler by it
(api/v1alpha1.OperatorName).
*/}}
{{- define "sortographer.selectorLabels" -}}
app.kubernetes.io/name: sortographer-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sortographer.labels" -}}
{{ include "sortographer.selectorLabels" . }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sortographer
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "sortographer.image" -}}
{{- include "sortographer.reference" (dict "registry" .Values.image.registry "image" .Values.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/*
galleryImage is the operator's default gallery image (RELATED_IMAGE_GALLERY).
*/}}
{{- define "sortographer.galleryImage" -}}
{{- include "sortographer.reference" (dict "registry" (default .Values.image.registry .Values.galleryImage.registry) "image" .Values.galleryImage "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/*
reference is [registry/]repository then @digest, or :tag (default: appVersion).
*/}}
{{- define "sortographer.reference" -}}
{{- $repo := .image.repository -}}
{{- if .registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" .registry) $repo -}}{{- end -}}
{{- if .image.digest -}}
{{ $repo }}@{{ .image.digest }}
{{- else -}}
{{ $repo }}:{{ default .appVersion .image.tag }}
{{- end -}}
{{- end -}}

{{/*
managedRepository is a managed image's repository under managedImages.registry.
*/}}
{{- define "sortographer.managedRepository" -}}
{{- if .registry -}}{{ trimSuffix "/" .registry }}/{{ .repository }}{{- else -}}{{ .repository }}{{- end -}}
{{- end -}}

{{/*
rbacRules are the operator's rules, read from files/rbac/role.yaml: a copy of
config/rbac/role.yaml, which controller-gen generates from the controller's
+kubebuilder:rbac markers (`make chart-sync` refreshes it; test/chart fails on drift).
*/}}
{{- define "sortographer.rbacRules" -}}
{{- $role := .Files.Get "files/rbac/role.yaml" | fromYaml -}}
{{- required "files/rbac/role.yaml has no rules: run make chart-sync" $role.rules | toYaml -}}
{{- end -}}

{{/* validate fails the render on combinations the schema cannot express clearly. */}}
{{- define "sortographer.validate" -}}
{{- if and (eq .Values.rbac.scope "namespace") (empty .Values.watchNamespaces) -}}
{{- fail "rbac.scope=namespace needs watchNamespaces: the operator may only watch the namespaces it has Roles in" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- end -}}
