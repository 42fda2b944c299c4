{{/* Names and labels, as prometheus-node-exporter's chart builds them. */}}
{{- define "nodex.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nodex.fullname" -}}
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

{{- define "nodex.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "nodex.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodex.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nodex.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "nodex.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: monitoring
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "nodex.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nodex.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "nodex.image" -}}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether nodex gets --web.config.file. */}}
{{- define "nodex.webConfig.enabled" -}}
{{- $w := .Values.webConfig }}
{{- if or $w.existingSecret .Values.tlsSecret.enabled $w.tlsServerConfig $w.basicAuthUsers $w.httpServerConfig }}true{{ end }}
{{- end }}

{{- define "nodex.webConfig.secretName" -}}
{{- default (printf "%s-web-config" (include "nodex.fullname" .)) .Values.webConfig.existingSecret }}
{{- end }}

{{/* The web configuration the chart writes (exporter-toolkit format). */}}
{{- define "nodex.webConfig.content" -}}
{{- $w := .Values.webConfig }}
{{- $cfg := dict }}
{{- $tls := deepCopy (default dict $w.tlsServerConfig) }}
{{- if .Values.tlsSecret.enabled }}
{{- $_ := set $tls "cert_file" (printf "/etc/nodex/tls/%s" .Values.tlsSecret.certItem) }}
{{- $_ := set $tls "key_file" (printf "/etc/nodex/tls/%s" .Values.tlsSecret.keyItem) }}
{{- with .Values.tlsSecret.caItem }}
{{- $_ := set $tls "client_ca_file" (printf "/etc/nodex/tls/%s" .) }}
{{- if not (hasKey $tls "client_auth_type") }}
{{- $_ := set $tls "client_auth_type" "RequireAndVerifyClientCert" }}
{{- end }}
{{- end }}
{{- end }}
{{- if $tls }}{{ $_ := set $cfg "tls_server_config" $tls }}{{ end }}
{{- with $w.basicAuthUsers }}{{ $_ := set $cfg "basic_auth_users" . }}{{ end }}
{{- with $w.httpServerConfig }}{{ $_ := set $cfg "http_server_config" . }}{{ end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The probes' handler: HTTPS when serving TLS, the TCP port when basic auth answers 401. */}}
{{- define "nodex.probeHandler" -}}
{{- $w := .Values.webConfig }}
{{- if or $w.basicAuthUsers $w.existingSecret }}
tcpSocket:
  port: {{ .Values.service.portName }}
{{- else }}
httpGet:
  path: /
  port: {{ .Values.service.portName }}
  {{- if or .Values.tlsSecret.enabled $w.tlsServerConfig }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end }}

{{/* One scrape endpoint of the ServiceMonitor or PodMonitor. Arguments: root, monitor values,
     the port key ("port" for both kinds), job name, the params and interval. */}}
{{- define "nodex.monitorEndpoint" -}}
{{- $m := .m }}
- port: {{ .root.Values.service.portName }}
  scheme: {{ $m.scheme }}
  {{- with $m.path }}
  path: {{ . }}
  {{- end }}
  {{- with .interval }}
  interval: {{ . }}
  {{- end }}
  {{- with $m.scrapeTimeout }}
  scrapeTimeout: {{ . }}
  {{- end }}
  {{- if .honorLabels }}
  honorLabels: true
  {{- end }}
  {{- with $m.basicAuth }}
  basicAuth:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $m.tlsConfig }}
  tlsConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .params }}
  params:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if or .job $m.relabelings }}
  relabelings:
    {{- with .job }}
    - targetLabel: job
      replacement: {{ . }}
    {{- end }}
    {{- if .job }}
    - sourceLabels: [__meta_kubernetes_pod_node_name]
      targetLabel: {{ .instanceLabel }}
    {{- end }}
    {{- with $m.relabelings }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- with $m.metricRelabelings }}
  metricRelabelings:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The endpoints list: one per job with splitJobs, else one for everything. */}}
{{- define "nodex.monitorEndpoints" -}}
{{- $m := .m }}
{{- if $m.splitJobs }}
{{- include "nodex.monitorEndpoint" (dict "root" .root "m" $m "job" "node-exporter" "instanceLabel" "instance" "interval" $m.interval "params" (dict "exclude[]" .root.Values.containerCollectors)) }}
{{ include "nodex.monitorEndpoint" (dict "root" .root "m" $m "job" "cadvisor" "instanceLabel" "node" "honorLabels" true "interval" $m.containerInterval "params" (dict "collect[]" .root.Values.containerCollectors)) }}
{{- else }}
{{- include "nodex.monitorEndpoint" (dict "root" .root "m" $m "interval" $m.interval "honorLabels" true) }}
{{- end }}
{{- end }}
