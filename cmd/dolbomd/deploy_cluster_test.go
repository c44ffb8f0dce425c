package main

// Tests of the cluster's deployment files: deploy/compose.cluster.yaml
// (three gateways, HAProxy, PostgreSQL) and deploy/dolbomd@.service.
// deploy/haproxy.cfg itself is checked by cmd/dolbom-sim, whose harness
// writes it from the same template (TestHAProxyConfigValid).

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestClusterComposeIsSecureAndShared: the cluster compose file is as
// secure as the single gateway's, its gateways share every setting of the
// database but their node name, and HAProxy is the only way in.
func TestClusterComposeIsSecureAndShared(t *testing.T) {
	c, raw := loadComposeFile(t, "../../deploy/compose.cluster.yaml")
	checkComposeSecure(t, c, raw)
	checkComposePostgres(t, c)

	cfg, err := os.ReadFile("../../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	backends := regexp.MustCompile(`(?m)^\s+server (\S+) (\S+):8883 `).FindAllStringSubmatch(string(cfg), -1)
	if len(backends) == 0 {
		t.Fatal("deploy/haproxy.cfg has no MQTT over TLS (8883) back ends")
	}
	var gateways []string
	nodes := map[string]string{}
	var first string
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "gw") {
			continue
		}
		gateways = append(gateways, name)
		checkGatewaySecure(t, name, s)
		if len(s.Ports) > 0 {
			t.Errorf("gateway %s publishes ports %v: hubs and browsers come through HAProxy", name, s.Ports)
		}
		o := composeGatewayOptions(t, s)
		if o.Node == "" {
			t.Errorf("gateway %s has no DOLBOM_NODE", name)
		}
		if other, dup := nodes[o.Node]; dup {
			t.Errorf("gateways %s and %s are both node %q", name, other, o.Node)
		}
		nodes[o.Node] = name
		// Everything but the node name is the database's, shared: the
		// same environment and the same secret files.
		env := s.env(t)
		delete(env, "DOLBOM_NODE")
		shared := fmt.Sprint(env, s.secretPaths(t))
		if first == "" {
			first = shared
		} else if shared != first {
			t.Errorf("gateway %s's settings differ from another gateway's: every gateway of a database needs the same\n%s\n%s", name, shared, first)
		}
	}
	slices.Sort(gateways)
	if len(gateways) < 3 {
		t.Fatalf("gateways %v: want three", gateways)
	}
	var servers []string
	for _, b := range backends {
		servers = append(servers, b[2])
	}
	slices.Sort(servers)
	if !slices.Equal(servers, gateways) {
		t.Errorf("HAProxy's servers %v are not the compose file's gateways %v", servers, gateways)
	}
	hp, ok := c.Services["haproxy"]
	if !ok {
		t.Fatal("no haproxy service")
	}
	published := map[string]bool{}
	for _, p := range hp.published(t) {
		published[p.target] = true
	}
	if !published["8883"] || !published["8080"] {
		t.Errorf("HAProxy publishes %v: want MQTT over TLS (8883) and HTTP on loopback (8080)", published)
	}
}

// TestServiceTemplateIsOnePerNode: deploy/dolbomd@.service runs one
// gateway per instance name, with its own node name, data folder and
// optional addresses, and the settings shared by all from one file.
func TestServiceTemplateIsOnePerNode(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/dolbomd@.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	exec := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(unit)
	if exec == nil {
		t.Fatal("no ExecStart")
	}
	// Settings come from the environment files; without a Twilio account
	// dolbomd wants the fake named.
	env := map[string]string{"DOLBOM_TWILIO": "fake"}
	o, err := parseOptions(strings.Fields(exec[1])[1:], func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("dolbomd refuses the unit's arguments: %v", err)
	}
	if o.Node != "%i" || !strings.HasSuffix(o.DataDir, "/%i") {
		t.Errorf("node %q, data folder %q: want the instance name in both", o.Node, o.DataDir)
	}
	for _, want := range []string{
		"EnvironmentFile=/etc/dolbom/dolbomd.env",
		"EnvironmentFile=-/etc/dolbom/dolbomd-%i.env",
		"StateDirectory=dolbom/%i",
		"ReadWritePaths=/var/lib/dolbom/%i",
		"Restart=always",
	} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
