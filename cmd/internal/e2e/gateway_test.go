package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/store"
)

const (
	adminToken = "e2e-admin-token-0123456789abcdef"
	// fallWindow is both the engine's fall cancel window and dispatch's
	// verify window: short, so the test does not wait the real 30 s.
	fallWindow = time.Second
)

// site is a whole dolbomd in-process, as `dolbomd` runs it: store, broker
// (hubs connect over an in-memory listener), detectors, dispatch with a
// mock 119 that accepts and dispatches, the built-in fake Twilio, and the
// HTTP server the browser talks to.
type site struct {
	URL     string
	g       *gateway.Gateway
	st      *store.Store
	pipe    *broker.PipeListener
	mock119 *receiver.Receiver
	dataDir string

	mu         sync.Mutex
	detections []detected
}

// detected is a detection the detectors handed on, and when.
type detected struct {
	d  detectors.Detection
	at time.Time
}

func startSite(t *testing.T) *site {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	s := &site{pipe: broker.NewPipeListener(), dataDir: t.TempDir()}

	// The mock 119 answers the gateway's HTTP endpoint, whose address is
	// known only once the gateway listens: its handler is set after New.
	var handler119 http.Handler = http.NotFoundHandler()
	var h119mu sync.Mutex
	srv119 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h119mu.Lock()
		h := handler119
		h119mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv119.Close)

	policies := dispatch.DefaultPolicies()
	fall := policies.Causes[detectors.CauseFall]
	fall.Verify = &dispatch.Verify{Window: dispatch.Duration(fallWindow)}
	// The default fall goes to 119 when its window ends, and the mock 119
	// accepts (acknowledges) within 300 ms; this site's fall is left to the
	// dispatcher to acknowledge in the browser: guardians only.
	fall.Steps = []dispatch.Step{{Notify: []dispatch.Target{{To: dispatch.RoleGuardian, Via: "sms"}, {To: dispatch.RoleGuardian, Via: "voice"}}}}
	fall.Repeat = dispatch.Repeat{}
	policies.Causes[detectors.CauseFall] = fall

	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.NewTuned(ctx, gateway.Options{
		DataDir: s.dataDir, MQTTAddr: broker.ListenerOff, Listener: s.pipe,
		HTTPAddr: "127.0.0.1:0", AdminToken: adminToken, HeartbeatTimeout: 10 * time.Minute,
		ShutdownTimeout: 5 * time.Second,
		// Rollouts need a download URL to command hubs (no hub here
		// downloads: the rollouts test's hubs answer by hand).
		Firmware: gateway.FirmwareOptions{URL: "https://gw.e2e.example"},
		Channels: gateway.ChannelOptions{CAPURLs: []string{srv119.URL + "/cap"}, CallInterval: 10 * time.Millisecond, FakeTwilio: true,
			CAPAnswerToken: answerToken119},
		OnDetection: func(d detectors.Detection) {
			s.mu.Lock()
			s.detections = append(s.detections, detected{d, time.Now()})
			s.mu.Unlock()
		},
	}, gateway.Tuning{
		Engine: func(c *detectors.EngineConfig) { c.Thresholds.FallCancelWindow = fallWindow },
		Dispatch: func(c *dispatch.Config) {
			c.Policies = policies
			c.PollInterval = 50 * time.Millisecond
		},
	}, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.g, s.st, s.URL = g, g.Store, "http://"+g.HTTPAddr()
	s.mock119 = receiver.New(receiver.Options{
		XSDPath:    xsdPath(),
		AutoAccept: 300 * time.Millisecond, AutoDispatch: true,
		AnswerURL: s.URL + "/api/v1/119/answers", AnswerAuth: cap.AnswerAuth{BearerToken: answerToken119},
		Logger: zerolog.Nop(),
	})
	h119mu.Lock()
	handler119 = s.mock119.Handler()
	h119mu.Unlock()

	done, mockDone := make(chan error, 1), make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	go func() { mockDone <- s.mock119.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-mockDone
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "gateway ready", func() bool { return g.Ready(ctx) == nil })
	return s
}

// answerToken119 is the mock 119 centre's credential on the answer
// endpoint (never the admin token).
const answerToken119 = "e2e-119-answer-token-0123456789"

// xsdPath is the official CAP schema when the shared spec folder is next to
// the repository; without it the mock 119 checks structure only.
func xsdPath() string {
	const p = "../../../../shared/spec/CAP-v1.2.xsd"
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// adminPassword is the first console account's generated password, which
// dolbomd writes to the data folder at first start.
func (s *site) adminPassword(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(console.BootstrapPasswordFile(s.dataDir))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// firing returns when the detectors handed on the first firing detection
// of a cause for a hub.
func (s *site) firing(hub devices.HubID, cause detectors.Cause) (detectors.Detection, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.detections {
		if d.d.Hub == hub && d.d.Cause == cause && d.d.State == detectors.Firing {
			return d.d, d.at, true
		}
	}
	return detectors.Detection{}, time.Time{}, false
}

// home is a provisioned hub with its secret, for connecting as the hub.
type home struct {
	resident devices.Resident
	hub      devices.HubID
	secret   string
}

// provision registers a resident, a hub and its sensors in the store.
func (s *site) provision(t *testing.T, r devices.Resident, sensors ...devices.Sensor) home {
	t.Helper()
	ctx := context.Background()
	r, err := s.st.Registry().CreateResident(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	h := home{resident: r, secret: devices.NewSecret()}
	hub, err := s.st.Registry().CreateHub(ctx, devices.Hub{ResidentID: r.ID, Model: "DG-200", InstalledAt: time.Now().AddDate(-1, 0, 0),
		SecretHash: devices.HashHubSecret(h.secret)})
	if err != nil {
		t.Fatal(err)
	}
	h.hub = hub.ID
	for _, sn := range sensors {
		sn.Hub, sn.InstalledAt = hub.ID, hub.InstalledAt
		if _, err := s.st.Registry().CreateSensor(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// connect connects as the home's hub over MQTT, as real hubs do (here
// through the broker's in-memory listener), with paho.
func (s *site) connect(t *testing.T, h home) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(h.hub)).SetUsername(string(h.hub)).SetPassword(h.secret).
		SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return s.pipe.Dial() })
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", h.hub, tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

func publish(t *testing.T, cl mqtt.Client, hub devices.HubID, ch devices.Channel, payload []byte) {
	t.Helper()
	tok := cl.Publish(devices.Topic(hub, ch), 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s on %s: %v", ch, hub, tok.Error())
	}
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
