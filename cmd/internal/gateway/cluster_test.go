package gateway

import (
	"context"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/store/storetest"
)

// clusterNode is one gateway of a test cluster, with its in-memory MQTT
// listener.
type clusterNode struct {
	g    *Gateway
	pipe *broker.PipeListener
	stop func()
}

// startClusterNode runs gateway node of a cluster on the database url,
// alerting the mock 119 at capURL; the cluster's timings are short.
func startClusterNode(t *testing.T, node, dbURL, capURL string) *clusterNode {
	t.Helper()
	return startClusterNodeWith(t, node, dbURL, capURL, nil)
}

// startClusterNodeWith is startClusterNode with its options and tuning
// changed by adjust (nil: none).
func startClusterNodeWith(t *testing.T, node, dbURL, capURL string, adjust func(*Options, *Tuning)) *clusterNode {
	t.Helper()
	pipe := broker.NewPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{
		DataDir: t.TempDir(), DatabaseURL: dbURL, MQTTAddr: broker.ListenerOff, Listener: pipe,
		AdminToken: "cluster-test-admin-token-0123456789", HeartbeatTimeout: 10 * time.Minute,
		SecretKey: strings.Repeat("ab", 32),
		Channels:  ChannelOptions{CAPURLs: []string{capURL}, CAPAnswerToken: "cluster-test-answer-token-0123", CallInterval: 10 * time.Millisecond, FakeTwilio: true},
		Broker:    broker.Config{Node: node},
		Cluster:   ClusterOptions{Enabled: true, Renew: 200 * time.Millisecond, TTL: time.Second, Scan: 300 * time.Millisecond},
	}
	tune := Tuning{Dispatch: func(c *dispatch.Config) { c.PollInterval = 50 * time.Millisecond }}
	if adjust != nil {
		adjust(&o, &tune)
	}
	g, err := NewTuned(ctx, o, tune,
		zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node", node).Logger())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	n := &clusterNode{g: g, pipe: pipe}
	n.stop = runGateway(t, ctx, cancel, g, 15*time.Second)
	return n
}

// connectHub connects hub to node n with paho (clean session false, as
// hubs do) and returns the client.
func (n *clusterNode) connectHub(t *testing.T, hub devices.HubID, secret string) mqtt.Client {
	t.Helper()
	return connectVia(t, n.g.opts.Broker.Node, hub, secret, n.pipe.Dial, false)
}

// connectVia connects hub with paho (clean session false, as hubs do)
// through dial. With reconnect, paho dials again whenever the session
// ends, as a hub behind HAProxy does, and resends what was not
// acknowledged.
func connectVia(t *testing.T, where string, hub devices.HubID, secret string, dial func() (net.Conn, error), reconnect bool) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(hub)).SetUsername(string(hub)).SetPassword(secret).
		SetCleanSession(false).SetAutoReconnect(reconnect).SetMaxReconnectInterval(200 * time.Millisecond).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return dial() })
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", where, tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

// twoClusterNodes runs gateways n1 and n2 of a cluster on one fresh
// PostgreSQL database, both alerting one mock 119.
func twoClusterNodes(t *testing.T) (a, b *clusterNode, mock *receiver.Receiver) {
	t.Helper()
	sc := storetest.Postgres(t)
	mock = receiver.New(receiver.Options{XSDPath: "../../../../shared/spec/CAP-v1.2.xsd", Logger: zerolog.Nop()})
	srv := httptest.NewServer(mock.Handler())
	t.Cleanup(srv.Close)
	return startClusterNode(t, "n1", sc.DatabaseURL, srv.URL+"/cap"), startClusterNode(t, "n2", sc.DatabaseURL, srv.URL+"/cap"), mock
}

// newClusterHub registers res and a hub of theirs through n, and returns
// the hub and its secret.
func newClusterHub(t *testing.T, n *clusterNode, res devices.Resident) (devices.HubID, string) {
	t.Helper()
	ctx := context.Background()
	r, err := n.g.Store.Registry().CreateResident(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	secret := devices.NewSecret()
	h, err := n.g.Store.Registry().CreateHub(ctx, devices.Hub{ResidentID: r.ID, SecretHash: devices.HashHubSecret(secret), InstalledAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return h.ID, secret
}

func publishSOS(t *testing.T, cl mqtt.Client, hub devices.HubID, e devices.Event) {
	t.Helper()
	tok := cl.Publish(devices.Topic(hub, devices.ChanEvents), 1, false, devices.EncodeEvent(e))
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", e.ID, tok.Error())
	}
}

// A hub that moves from gateway A to gateway B in the middle of its SOS
// (its connection to A lost, the SOS resent to B as MQTT requires) is one
// incident and one alert at 119: B loads A's state of the home, its open
// SOS episode included, and the resent SOS folds into it. A lets the home
// go without raising the hub offline, and the hub's session at A ends
// without its will.
func TestClusterMovedHubOneIncidentOneAlert(t *testing.T) {
	a, b, mock := twoClusterNodes(t)
	ctx := context.Background()
	hub, secret := newClusterHub(t, a, devices.Resident{Name: "김순자", Language: "ko",
		Address:   devices.Address{Line1: "서울특별시 종로구 세종대로 175", Unit: "301"},
		Guardians: []devices.Guardian{{Name: "박민수", Relation: "아들", Phone: guardianPhone, Language: "ko", Order: 1}},
		Consent:   devices.Consent{NotifyGuardians: true}})
	h := devices.Hub{ID: hub}
	onA := a.connectHub(t, h.ID, secret)
	sos := devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}
	publishSOS(t, onA, h.ID, sos)
	waitFor(t, 10*time.Second, "the CAP alert from A", func() bool { return mock.Stats().Received >= 1 })

	onB := b.connectHub(t, h.ID, secret) // the claim moves the home to B
	waitFor(t, 10*time.Second, "A lets the session go", func() bool { return !onA.IsConnectionOpen() })
	publishSOS(t, onB, h.ID, sos)                                                                                     // resent to the new owner
	publishSOS(t, onB, h.ID, devices.Event{ID: "sos-2", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}) // pressed again
	time.Sleep(2 * time.Second)                                                                                       // room for a second incident, alert or a false offline to show up

	list, err := b.g.Dispatch.ListIncidents(ctx, dispatch.IncidentQuery{Hub: h.ID})
	if err != nil {
		t.Fatal(err)
	}
	var sosIncidents, others []dispatch.Incident
	for _, inc := range list {
		if inc.Cause == detectors.CauseSOS {
			sosIncidents = append(sosIncidents, inc)
		} else {
			others = append(others, inc)
		}
	}
	if len(sosIncidents) != 1 {
		t.Errorf("%d SOS incidents for one emergency across two gateways, want 1: %+v", len(sosIncidents), sosIncidents)
	}
	if len(others) != 0 {
		t.Errorf("incidents besides the SOS (a released home raised something?): %+v", others)
	}
	if st := mock.Stats(); st.Received != 1 {
		t.Errorf("mock 119 received %d alerts (%+v), want 1", st.Received, st)
	}
}

// A hub disabled through gateway A while its session is on gateway B is
// dropped by B too, at once: the registry feed tells every gateway, and B
// revokes the hub's cached verification and session as A did.
func TestClusterRevokeOnAReachesB(t *testing.T) {
	a, b, _ := twoClusterNodes(t)
	ctx := context.Background()
	hub, secret := newClusterHub(t, a, devices.Resident{Name: "이영수", Language: "ko"})
	h := devices.Hub{ID: hub}
	onB := b.connectHub(t, h.ID, secret)
	// The admin disables the hub through A, as the registrar does: the
	// registry first, then the revocation.
	if err := a.g.registry().SetHubDisabled(ctx, h.ID, true); err != nil {
		t.Fatal(err)
	}
	a.g.hubControl().Revoke(h.ID)
	waitFor(t, 10*time.Second, "B drops the disabled hub's session", func() bool { return !onB.IsConnectionOpen() })
}
