package main

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// haproxyConfig is what one HAProxy in front of the gateways needs to know.
// The cluster harness writes one per HAProxy process and deploy/haproxy.cfg
// is the same template with the deployment's values
// (TestDeployHAProxyIsTheTemplate), so that what the harness measures is
// what an operator runs.
type haproxyConfig struct {
	Header string // comment lines at the top (without "#")
	// MaxConn bounds this process's sessions: each takes 2 descriptors,
	// and a process has at most 20,000 on the build machines.
	MaxConn    int
	StatsSock  string // admin socket path; empty: none
	MQTTBind   string // the front ends hubs and browsers connect to
	HTTPBind   string
	Source     string // local address towards the gateways; empty: the system's
	ServerConn int    // maxconn per gateway: what its --max-hubs lets in
	Servers    []haproxyServer
}

type haproxyServer struct {
	Name     string
	Host     string // address or DNS name
	MQTTPort int
	HTTPPort int // where /readyz answers
}

// The MQTT back end sends each hub's own address to the gateway first
// (send-proxy-v2, the PROXY protocol; dolbomd --mqtt-proxy-from names this
// HAProxy): without it every hub behind one HAProxy shared one address,
// and the gateway's per-address CONNECT limit throttled them all together
// after a node's death. The health check goes to the HTTP port, without it.
//
// The health check asks each gateway's /readyz (200 only once its
// detectors have loaded and while it is not draining): a node that stops
// answering it (dead, SIGSTOPped, draining at SIGTERM) is marked down after
// 2 failures a second apart, and on-marked-down shutdown-sessions closes the
// hubs' sessions to it, so that they reconnect through HAProxy to a live
// node instead of waiting for their own keepalive (90 s). MQTT sessions
// last hours: leastconn, not round robin, spreads them, and timeouts are
// longer than 1.5 x the hubs' 60 s keepalive.
const haproxyTemplate = `{{range .HeaderLines}}# {{.}}
{{end}}global
    maxconn {{.MaxConn}}
{{- if .StatsSock}}
    stats socket {{.StatsSock}} mode 600 level admin
{{- end}}

defaults
    mode tcp
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout check 1s
    option redispatch
    retries 2
    option clitcpka
    option srvtcpka

frontend mqtt
    bind {{.MQTTBind}}
    default_backend gateways_mqtt

frontend http
    bind {{.HTTPBind}}
    default_backend gateways_http

backend gateways_mqtt
{{- template "checked" .}}
{{- range .Servers}}
    server {{.Name}} {{.Host}}:{{.MQTTPort}} check port {{.HTTPPort}} maxconn {{$.ServerConn}} send-proxy-v2
{{- end}}

backend gateways_http
{{- template "checked" .}}
{{- range .Servers}}
    server {{.Name}} {{.Host}}:{{.HTTPPort}} check
{{- end}}
`

// haproxyChecked is both back ends' balancing and health check.
const haproxyChecked = `{{define "checked"}}
    balance leastconn
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host dolbom
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2 on-marked-down shutdown-sessions init-addr last,libc,none{{if .Source}} source {{.Source}}{{end}}
{{- end}}`

var haproxyTmpl = template.Must(template.Must(template.New("haproxy.cfg").Parse(haproxyTemplate)).Parse(haproxyChecked))

// HeaderLines splits Header for the template.
func (c haproxyConfig) HeaderLines() []string {
	if c.Header == "" {
		return nil
	}
	return strings.Split(c.Header, "\n")
}

// render writes the configuration; bad values are refused here rather than
// by haproxy -c with a less direct message.
func (c haproxyConfig) render() ([]byte, error) {
	if c.MaxConn <= 0 || c.ServerConn <= 0 {
		return nil, fmt.Errorf("haproxy config: maxconn %d and server maxconn %d must be positive", c.MaxConn, c.ServerConn)
	}
	if len(c.Servers) == 0 {
		return nil, fmt.Errorf("haproxy config: no gateways")
	}
	var b bytes.Buffer
	if err := haproxyTmpl.Execute(&b, c); err != nil {
		return nil, fmt.Errorf("haproxy config: %w", err)
	}
	return b.Bytes(), nil
}

// deployHAProxy is deploy/haproxy.cfg: three gateways gw1..gw3 by name (the
// compose file's services, or hosts of that name), MQTT over TLS on 8883
// and HTTP on 8080, one HAProxy for up to 9,500 hubs (20,000 descriptors).
func deployHAProxy() haproxyConfig {
	c := haproxyConfig{
		Header: `HAProxy in front of several dolbomd gateways on one PostgreSQL (docs/cluster.md).
Generated from the template of "dolbom-sim cluster" (cmd/dolbom-sim/cluster_haproxy.go);
TestDeployHAProxyIsTheTemplate keeps the two the same: change the template, then run
  go test ./cmd/dolbom-sim -run TestDeployHAProxyIsTheTemplate -update-deploy
Check it with: haproxy -c -f deploy/haproxy.cfg
MQTT over TLS passes through (TCP mode): the gateways hold the certificate.
Each MQTT connection starts with the hub's own address (send-proxy-v2): start
the gateways with DOLBOM_MQTT_PROXY_FROM set to this HAProxy's address.
HTTP (API, consoles, Twilio's callbacks) is on :8080 for an HTTPS proxy on
this machine: publish it on loopback only (deploy/compose.cluster.yaml does).
One HAProxy process carries about 9,500 hubs (2 descriptors each under a
20,000 limit): run one per 9,500 hubs, each on its own address.`,
		MaxConn:    9500,
		StatsSock:  "/var/lib/haproxy/admin.sock", // exists in Debian's package and the haproxy image
		MQTTBind:   ":8883",
		HTTPBind:   ":8080",
		ServerConn: 19000,
	}
	for i := 1; i <= 3; i++ {
		c.Servers = append(c.Servers, haproxyServer{Name: fmt.Sprintf("gw%d", i), Host: fmt.Sprintf("gw%d", i), MQTTPort: 8883, HTTPPort: 8080})
	}
	return c
}
