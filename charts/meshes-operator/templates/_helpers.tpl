{{/* Names, labels and the operator's command line, shared by the templates. */}}

{{- define "meshes-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "meshes-operator.fullname" -}}
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

{{- define "meshes-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "meshes-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: meshes-operator
{{- end -}}

{{- define "meshes-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshes-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "meshes-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "meshes-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "meshes-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "meshes-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{- define "meshes-operator.leaseName" -}}
{{- default (include "meshes-operator.fullname" .) .Values.leaderElection.id -}}
{{- end -}}

{{- define "meshes-operator.defaultCredentialsNamespace" -}}
{{- default .Release.Namespace .Values.defaultCredentials.namespace -}}
{{- end -}}

{{/* Where an optional extra CA bundle is mounted. */}}
{{- define "meshes-operator.caBundlePath" -}}
/etc/meshes-operator/ca/{{ .Values.meshes.caBundle.key }}
{{- end -}}

{{/*
The operator's arguments: every `meshes-operator run` flag, rendered from values (defaults
equal the binary's, so the Deployment shows the whole configuration). Optional flags appear
only when set.
*/}}
{{- define "meshes-operator.args" -}}
- run
- --api-url={{ .Values.meshes.apiUrl }}
- --events-url={{ .Values.meshes.eventsUrl }}
- --api-rate={{ .Values.meshes.apiRate }}
- --api-burst={{ .Values.meshes.apiBurst }}
- --api-concurrency={{ .Values.meshes.apiConcurrency }}
- --api-timeout={{ .Values.meshes.apiTimeout }}
{{- with .Values.meshes.proxy }}
- --proxy={{ . }}
{{- end }}
{{- if .Values.meshes.noProxy }}
- --no-proxy
{{- end }}
{{- if or .Values.meshes.caBundle.configMap .Values.meshes.caBundle.secret }}
- --ca-bundle={{ include "meshes-operator.caBundlePath" . }}
{{- end }}
{{- if .Values.meshes.rebindByIdentity }}
- --rebind-by-identity
{{- end }}
{{- with .Values.instanceId }}
- --instance-id={{ . }}
{{- end }}
{{- with .Values.defaultCredentials.secretName }}
- --default-credentials={{ include "meshes-operator.defaultCredentialsNamespace" $ }}/{{ . }}
{{- end }}
{{- with .Values.defaultCredentials.allowedNamespaces }}
- --default-credentials-namespaces={{ join "," . }}
{{- end }}
{{- with .Values.watchNamespaces }}
- --watch-namespace={{ join "," . }}
{{- end }}
{{- with .Values.selector }}
- --selector={{ . }}
{{- end }}
- --resync-interval={{ .Values.reconcile.resyncInterval }}
- --min-resync-interval={{ .Values.reconcile.minResyncInterval }}
- --concurrency={{ .Values.reconcile.concurrency }}
- --debounce={{ .Values.reconcile.debounce }}
- --secret-grace={{ .Values.reconcile.secretGrace }}
- --dependency-requeue={{ .Values.reconcile.dependencyRequeue }}
- --deletion-release-timeout={{ .Values.reconcile.deletionReleaseTimeout }}
- --default-deletion-policy={{ .Values.reconcile.defaultDeletionPolicy }}
{{- if .Values.leaderElection.enabled }}
- --leader-elect
- --leader-election-namespace={{ include "meshes-operator.leaseNamespace" . }}
- --leader-election-id={{ include "meshes-operator.leaseName" . }}
- --lease-duration={{ .Values.leaderElection.leaseDuration }}
- --renew-deadline={{ .Values.leaderElection.renewDeadline }}
- --retry-period={{ .Values.leaderElection.retryPeriod }}
{{- end }}
- --shutdown-timeout={{ .Values.shutdownTimeoutSeconds }}s
- --kube-qps={{ .Values.kubeClient.qps }}
- --kube-burst={{ .Values.kubeClient.burst }}
- --metrics-bind-address=0.0.0.0:{{ .Values.metrics.port }}
- --health-probe-bind-address=0.0.0.0:{{ .Values.health.port }}
- --log-format={{ .Values.logging.format }}
- --log-level={{ .Values.logging.level }}
{{- end -}}
