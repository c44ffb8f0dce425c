package gateway

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// TestDemoKeepsItsHubOnline is `make run` followed by the banner's SOS
// command: the demo hub is kept online by its simulated home, so pressing
// SOS as the hub (a connection that comes and goes, as mosquitto_pub's
// does) raises the SOS and nothing else. Before, the demo's hub was only
// what mosquitto_pub connected for a moment, and a minute later the health
// monitor reported it offline. The offline grace is short here (2 s) so
// that the test waits seconds, not minutes.
func TestDemoKeepsItsHubOnline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mqttAddr := ln.Addr().String()
	ln.Close()
	const grace = 2 * time.Second
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := NewTuned(ctx, Options{
		DataDir: dataDir, MQTTAddr: mqttAddr, HTTPAddr: "127.0.0.1:0", AdminToken: "demo-test-admin-token-0123456789",
		Demo: true, Channels: ChannelOptions{FakeTwilio: true, CallInterval: 10 * time.Millisecond},
	}, Tuning{
		Health: func(c *health.Config) { c.OfflineGrace, c.OnlineHold, c.RestartGrace = grace, grace, grace },
	}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, ctx, cancel, g, 20*time.Second)

	var d demoHub
	waitFor(t, 10*time.Second, "the demo home", func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, demoFile))
		return err == nil && json.Unmarshal(b, &d) == nil
	})
	online := func() bool { h, ok := g.Health.Health(d.HubID); return ok && h.Online }
	waitFor(t, 20*time.Second, "the simulated hub online", online)

	// The banner's SOS, as mosquitto_pub sends it: connect as the hub
	// (taking its session over), publish at QoS 1, disconnect.
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID(string(d.HubID)).
		SetUsername(string(d.HubID)).SetPassword(d.Secret).SetAutoReconnect(false)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as the hub: %v", tok.Error())
	}
	now := time.Now().UnixMilli()
	sos := `{"v":1,"id":"sos-test-` + time.Now().Format("150405.000") + `","ts":` + jsonInt(now) + `,"kind":"sos","sensor":"pendant-1"}`
	if tok := cl.Publish(devices.Topic(d.HubID, devices.ChanEvents), 1, false, sos); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish SOS: %v", tok.Error())
	}
	cl.Disconnect(100)

	incidents := func(cause detectors.Cause) []dispatch.Incident {
		list, err := g.Store.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Hub: d.HubID, Cause: cause})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	waitFor(t, 20*time.Second, "the SOS incident", func() bool { return len(incidents(detectors.CauseSOS)) == 1 })
	// The simulated hub comes back within seconds; well past the grace, the
	// hub is online and nothing but the SOS was raised.
	waitFor(t, 20*time.Second, "the simulated hub back online", online)
	time.Sleep(3 * grace)
	if list := incidents(detectors.CauseHubOffline); len(list) != 0 {
		t.Errorf("the demo raised hub_offline by itself: %+v", list[0])
	}
	if h, _ := g.Health.Health(d.HubID); !h.Online || len(h.Faults) != 0 {
		t.Errorf("demo hub health %+v", h)
	}
	all, err := g.Store.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Hub: d.HubID})
	if err != nil {
		t.Fatal(err)
	}
	var causes []string
	for _, inc := range all {
		causes = append(causes, string(inc.Cause))
	}
	if strings.Join(causes, ",") != "sos" {
		t.Errorf("incidents of the demo hub: %v, want only the SOS", causes)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDemoBanner(t *testing.T) {
	d := demoHub{ResidentID: "res-1", HubID: "hub-1", Secret: "s3cret"}
	o := Options{DataDir: "/var/dolbom", Channels: ChannelOptions{CAPURLs: []string{"http://127.0.0.1:8119/cap"}}}
	b := demoBanner(o, "[::]:8080", "tok", "http://127.0.0.1:40001", "/var/dolbom/demo-hub.json", "127.0.0.1:1883", true, d, time.UnixMilli(1700000000000))
	for _, want := range []string{
		"curl -s http://127.0.0.1:8119/alerts",
		"curl -s http://127.0.0.1:40001/fake/messages", "http://127.0.0.1:40001/fake/calls", `"fake Twilio SMS"`,
		"simulated home keeps hub hub-1 online",
		`-t dolbom/v1/hub-1/events -m '{"v":1,"id":"sos-1700000000000"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "/heartbeat") {
		t.Errorf("the banner still offers a one-shot heartbeat (a hub that comes and goes):\n%s", b)
	}
	for listen, want := range map[string]string{":1883": "127.0.0.1:1883", "0.0.0.0:1884": "127.0.0.1:1884", "10.0.0.5:1883": "10.0.0.5:1883"} {
		if got, ok := demoMQTT(listen); !ok || got != want {
			t.Errorf("demoMQTT(%q) = %q, %v; want %q", listen, got, ok, want)
		}
	}
	if _, ok := demoMQTT("off"); ok {
		t.Errorf("demoMQTT(off) dials")
	}
}
