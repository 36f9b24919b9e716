{{/* Names, labels and the values every template derives from. */}}

{{- define "csi-driver-erofs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "csi-driver-erofs.fullname" -}}
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

{{- define "csi-driver-erofs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "csi-driver-erofs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "csi-driver-erofs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "csi-driver-erofs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: csi-driver-erofs
{{- end -}}

{{- define "csi-driver-erofs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "csi-driver-erofs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The plugin image: repository@digest when a digest is given, else repository:tag (appVersion by default). */}}
{{- define "csi-driver-erofs.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The host directory of the plugin socket, and the socket kubelet dials. */}}
{{- define "csi-driver-erofs.socketDir" -}}
{{- printf "%s/plugins/%s" .Values.kubeletDir .Values.driverName -}}
{{- end -}}

{{- define "csi-driver-erofs.socketPath" -}}
{{- printf "%s/csi.sock" (include "csi-driver-erofs.socketDir" .) -}}
{{- end -}}

{{/*
A size as a byte count: an integer, or digits with K, M, G or T (binary, as the plugin's
--store-budget reads them). The schema has already checked the syntax.
*/}}
{{- define "csi-driver-erofs.bytes" -}}
{{- $v := . -}}
{{- if kindIs "string" $v -}}
{{- $digits := regexFind "^[0-9]+" $v -}}
{{- $unit := upper (trimPrefix $digits $v) -}}
{{- $shift := dict "" 1 "K" 1024 "M" 1048576 "G" 1073741824 "T" 1099511627776 -}}
{{- printf "%d" (mul (atoi $digits) (get $shift $unit)) -}}
{{- else -}}
{{- printf "%d" (int64 $v) -}}
{{- end -}}
{{- end -}}

{{/* The CA bundle's source ("configMap", "secret" or ""), and the file the plugin reads. */}}
{{- define "csi-driver-erofs.caSource" -}}
{{- if .Values.caBundle.existingSecret -}}secret
{{- else if or .Values.caBundle.existingConfigMap .Values.caBundle.pem -}}configMap
{{- end -}}
{{- end -}}

{{- define "csi-driver-erofs.caDir" -}}/etc/csi-driver-erofs/ca{{- end -}}

{{/* Checks that span several values (the schema checks each value on its own). */}}
{{- define "csi-driver-erofs.validate" -}}
{{- $ports := list (int .Values.metricsPort) (int .Values.sidecars.livenessProbe.healthPort) (int .Values.sidecars.nodeDriverRegistrar.healthPort) -}}
{{- if ne (len (uniq $ports)) 3 -}}
{{- fail (printf "metricsPort (%d), sidecars.livenessProbe.healthPort (%d) and sidecars.nodeDriverRegistrar.healthPort (%d) must differ: the containers share the pod's network" (index $ports 0) (index $ports 1) (index $ports 2)) -}}
{{- end -}}
{{- $ca := 0 -}}
{{- range $k := list "pem" "existingConfigMap" "existingSecret" -}}
{{- if get $.Values.caBundle $k -}}{{- $ca = add1 $ca -}}{{- end -}}
{{- end -}}
{{- if gt $ca 1 -}}
{{- fail "caBundle: give at most one of pem, existingConfigMap and existingSecret" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled -}}
{{- fail "metrics: enable serviceMonitor or podMonitor, not both (Prometheus would scrape every plugin twice)" -}}
{{- end -}}
{{- if eq (clean .Values.imageRoot) (clean .Values.stateDir) -}}
{{- fail "imageRoot must differ from stateDir (it may be a directory inside it, as by default)" -}}
{{- end -}}
{{- $socket := include "csi-driver-erofs.socketPath" . -}}
{{- if gt (len $socket) 107 -}}
{{- fail (printf "the plugin socket %s is longer than a unix socket address allows (107 bytes): shorten kubeletDir or driverName" $socket) -}}
{{- end -}}
{{- end -}}
