package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

const guardianPhone = "+821098765432"

// chain is a whole gateway in-process with a real mock 119 receiver (CAP
// validated against the official schema), the built-in fake Twilio, and a
// hub connected through the broker with paho.
type chain struct {
	g        *Gateway
	pipe     *broker.PipeListener
	mock119  *receiver.Receiver
	hub      devices.HubID
	secret   string
	commands chan devices.Command
	stop     func() // stops the gateway (also done when the test ends)
}

func startChain(t *testing.T, sc store.Config, fallWindow time.Duration) *chain {
	t.Helper()
	return startChainTuned(t, sc, fallWindow, nil)
}

// startChainTuned is startChain with the engine's configuration tuned
// further (tune may be nil).
func startChainTuned(t *testing.T, sc store.Config, fallWindow time.Duration, tune func(*detectors.EngineConfig)) *chain {
	t.Helper()
	c, ctx, cancel := newChain(t, sc, fallWindow, tune)
	c.stop = runGateway(t, ctx, cancel, c.g, 10*time.Second)
	res, err := c.g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "김순자", Language: "ko", BirthDate: "1941-03-02",
		Address:   devices.Address{Line1: "서울특별시 종로구 세종대로 175", Floor: "3", Unit: "301", Lat: 37.5725, Lon: 126.9769},
		Guardians: []devices.Guardian{{Name: "박민수", Relation: "아들", Phone: guardianPhone, Language: "ko", Order: 1}},
		Consent:   devices.Consent{ShareMedicalWith119: true, NotifyGuardians: true}})
	if err != nil {
		t.Fatal(err)
	}
	c.secret = devices.NewSecret()
	h, err := c.g.Store.Registry().CreateHub(ctx, devices.Hub{ResidentID: res.ID, SecretHash: devices.HashHubSecret(c.secret), InstalledAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c.hub = h.ID
	return c
}

// newChain builds the gateway of a chain (not yet run; no hub yet) on sc,
// and the context that Run is to be given.
func newChain(t *testing.T, sc store.Config, fallWindow time.Duration, tune func(*detectors.EngineConfig)) (*chain, context.Context, context.CancelFunc) {
	t.Helper()
	mock := receiver.New(receiver.Options{XSDPath: "../../../../shared/spec/CAP-v1.2.xsd", Logger: zerolog.Nop()})
	srv := httptest.NewServer(mock.Handler())
	t.Cleanup(srv.Close)

	policies := dispatch.DefaultPolicies()
	fallPolicy := policies.Causes[detectors.CauseFall]
	fallPolicy.Verify = &dispatch.Verify{Window: dispatch.Duration(fallWindow)}
	policies.Causes[detectors.CauseFall] = fallPolicy

	pipe := broker.NewPipeListener()
	dataDir := sc.DataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := NewTuned(ctx, Options{
		DataDir: dataDir, DatabaseURL: sc.DatabaseURL, MQTTAddr: broker.ListenerOff, Listener: pipe,
		HTTPAddr: "127.0.0.1:0", AdminToken: "chain-test-admin-token-0123456789", HeartbeatTimeout: 10 * time.Minute,
		Channels: ChannelOptions{CAPURLs: []string{srv.URL + "/cap"}, CallInterval: 10 * time.Millisecond, FakeTwilio: true},
	}, Tuning{
		Engine: func(c *detectors.EngineConfig) {
			c.Thresholds.FallCancelWindow = fallWindow
			if tune != nil {
				tune(c)
			}
		},
		Dispatch: func(c *dispatch.Config) {
			c.Policies = policies
			c.PollInterval = 50 * time.Millisecond
		},
	}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	return &chain{g: g, pipe: pipe, mock119: mock, commands: make(chan devices.Command, 16)}, ctx, cancel
}

// connect connects the hub with paho and subscribes to its commands.
func (c *chain) connect(t *testing.T) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(c.hub)).SetUsername(string(c.hub)).SetPassword(c.secret).
		SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return c.pipe.Dial() })
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	tok := cl.Subscribe(devices.Topic(c.hub, devices.ChanCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		if cmd, err := devices.DecodeCommand(m.Payload()); err == nil {
			c.commands <- cmd
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return cl
}

func (c *chain) publishEvent(t *testing.T, cl mqtt.Client, e devices.Event) {
	t.Helper()
	tok := cl.Publish(devices.Topic(c.hub, devices.ChanEvents), 1, false, devices.EncodeEvent(e))
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", e.Kind, tok.Error())
	}
}

func (c *chain) incident(t *testing.T, cause detectors.Cause) (dispatch.Incident, bool) {
	t.Helper()
	list, err := c.g.Dispatch.ListIncidents(context.Background(), dispatch.IncidentQuery{Hub: c.hub, Cause: cause})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		return dispatch.Incident{}, false
	}
	if len(list) > 1 {
		t.Fatalf("%d incidents of cause %s for one episode", len(list), cause)
	}
	return list[0], true
}

// runGateway runs g until the test ends or stop is called (then cancel
// stops it and its error fails the test) and waits up to ready for it to be
// ready (0: does not wait).
func runGateway(t *testing.T, ctx context.Context, cancel context.CancelFunc, g *Gateway, ready time.Duration) (stop func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if ready > 0 {
		waitFor(t, ready, "gateway ready", func() bool { return g.Ready(ctx) == nil })
	}
	return stop
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chainBackends() map[string]func(testing.TB) store.Config {
	return map[string]func(testing.TB) store.Config{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
}

// onChainBackends runs test as a subtest on each back end of chainBackends.
func onChainBackends(t *testing.T, test func(t *testing.T, cfg func(testing.TB) store.Config)) {
	t.Helper()
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) { test(t, cfg) })
	}
}

// An SOS from a hub, published twice with one event id, reaches 119 as one
// CAP alert that validates against the official schema, and the guardians
// are called; 119's answer is not needed for that.
func TestChainSOSReaches119Once(t *testing.T) {
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) {
			c := startChain(t, cfg(t), 2*time.Second)
			c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human", After: 10 * time.Millisecond})
			cl := c.connect(t)
			sos := devices.Event{ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}
			c.publishEvent(t, cl, sos)
			c.publishEvent(t, cl, sos) // a redelivery
			waitFor(t, 10*time.Second, "the CAP alert at the mock 119", func() bool { return c.mock119.Stats().Received >= 1 })
			waitFor(t, 10*time.Second, "the guardian's SMS and call", func() bool {
				return len(c.g.FakeTwilio.Messages()) >= 1 && len(c.g.FakeTwilio.Calls()) >= 1
			})
			time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
			st := c.mock119.Stats()
			if st.Received != 1 || st.Duplicates != 0 || st.Invalid != 0 {
				t.Fatalf("mock 119 stats %+v: want exactly one valid alert", st)
			}
			alerts := c.mock119.Alerts()
			body, _ := json.Marshal(alerts)
			if !strings.Contains(string(body), "김순자") || !strings.Contains(string(body), "301") {
				t.Errorf("the CAP alert does not name the resident and unit: %s", body)
			}
			inc, ok := c.incident(t, detectors.CauseSOS)
			if !ok || inc.Priority != 1 || !inc.Alerted119 {
				t.Fatalf("SOS incident %+v", inc)
			}
		})
	}
}

// A fall from the wearable's own detection: the hub is asked "are you all
// right?" during the cancel window; nobody answers, so 119 is alerted and
// the guardian texted and called at once; the guardian presses 1 (on my
// way), which is recorded and stands nothing down: 119 keeps its alert (a
// relative far away does not stand 119 down for a resident who could not
// answer).
func TestChainFallCancelWindowThen119AndKeypad(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		const window = 2 * time.Second
		c := startChain(t, cfg(t), window)
		c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human", Digits: "1", After: 200 * time.Millisecond})
		cl := c.connect(t)
		fall := devices.Event{ID: "fall-1", Kind: devices.EventFall, Sensor: "wearable-1", At: time.Now(), Value: 3.1, HasValue: true}
		start := time.Now()
		c.publishEvent(t, cl, fall)

		select {
		case cmd := <-c.commands:
			if cmd.Type != devices.CmdCheckIn {
				t.Fatalf("first command %q, want check_in", cmd.Type)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the hub was not asked to check in with the resident during the cancel window")
		}
		if calls := c.g.FakeTwilio.Calls(); len(calls) != 0 {
			t.Fatalf("guardian called %d times inside the cancel window", len(calls))
		}
		waitFor(t, 15*time.Second, "the guardian's call after the window", func() bool { return len(c.g.FakeTwilio.Calls()) >= 1 })
		if since := time.Since(start); since < window {
			t.Fatalf("guardian called after %s, before the %s cancel window ended", since, window)
		}
		waitFor(t, 10*time.Second, "the guardian on the way by keypad 1", func() bool {
			inc, ok := c.incident(t, detectors.CauseFall)
			r, _ := inc.Responder("guardian-1")
			return ok && r.State == dispatch.ResponderOnTheWay
		})
		inc, _ := c.incident(t, detectors.CauseFall)
		if inc.State == dispatch.StateAcknowledged {
			t.Errorf("keypad 1 (on my way) stood the fall down")
		}
		rows, err := c.g.Dispatch.Notifications(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Channel == dispatch.Channel119 && r.State == dispatch.OutboxCancelled {
				t.Errorf("119 step %s was cancelled by the guardian's acknowledgement", r.Key)
			}
		}
		// One Alert; the guardian on the way may follow it as an Update.
		waitFor(t, 10*time.Second, "119's alert", func() bool { return c.mock119.Stats().ByType["Alert"] == 1 })
	})
}

// The same fall under a policy that tells the guardians first and 119 only
// 3 minutes later: the guardian presses 2 (I am with them), which stands
// the escalation down before 119. (Pressing 1, "on my way", does not:
// TestChainOnTheWayStill119.)
func TestChainFallCancelWindowThenKeypadStopsEscalation(t *testing.T) {
	onChainBackends(t, func(t *testing.T, cfg func(testing.TB) store.Config) {
		const window = 2 * time.Second
		c := startChain(t, cfg(t), window)
		guardiansFirst(t, c, 3*time.Minute)
		c.g.FakeTwilio.SetBehaviour(guardianPhone, fake.Behaviour{SMSStatus: "delivered", CallOutcome: "human", Digits: "2", After: 200 * time.Millisecond})
		cl := c.connect(t)
		c.publishEvent(t, cl, devices.Event{ID: "fall-1", Kind: devices.EventFall, Sensor: "wearable-1", At: time.Now(), Value: 3.1, HasValue: true})
		waitFor(t, 15*time.Second, "stood down by keypad 2", func() bool {
			inc, ok := c.incident(t, detectors.CauseFall)
			return ok && inc.State == dispatch.StateAcknowledged
		})
		inc, _ := c.incident(t, detectors.CauseFall)
		if r, _ := inc.Responder("guardian-1"); inc.AcknowledgedVia != "voice" || r.State != dispatch.ResponderOnScene {
			t.Errorf("acknowledged via %q, responder %+v; want voice, on scene", inc.AcknowledgedVia, r)
		}
		rows, err := c.g.Dispatch.Notifications(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Channel == dispatch.Channel119 && r.State != dispatch.OutboxCancelled {
				t.Errorf("119 step %s is %s after the guardian was on scene; want it cancelled", r.Key, r.State)
			}
		}
		if got := c.mock119.Stats().Received; got != 0 {
			t.Errorf("119 received %d alerts for a fall stood down on scene", got)
		}
	})
}
