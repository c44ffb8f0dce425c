package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// hubConn is a paho hub connection that reports when the gateway drops it.
type hubConn struct {
	mqtt.Client
	lost chan error
}

// dial connects the chain's hub once; the CONNACK's refusal is the error.
func (c *chain) dial() (*hubConn, error) {
	h := &hubConn{lost: make(chan error, 1)}
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(c.hub)).SetUsername(string(c.hub)).SetPassword(c.secret).
		SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
		SetConnectTimeout(30 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { h.lost <- err }).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return c.pipe.Dial() })
	h.Client = mqtt.NewClient(opts)
	tok := h.Connect()
	if !tok.WaitTimeout(40 * time.Second) {
		return nil, errors.New("no CONNACK within 40s")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return h, nil
}

// redial connects the hub, retrying while the gateway refuses, for up to d.
func (c *chain) redial(t *testing.T, d time.Duration) *hubConn {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		h, err := c.dial()
		if err == nil {
			t.Cleanup(func() { h.Disconnect(100) })
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub could not reconnect within %s: %v", d, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// publish sends e at QoS 1 and waits for its PUBACK or for the gateway to
// drop the connection (no PUBACK), up to d. acked reports a PUBACK.
func (h *hubConn) publish(hub devices.HubID, e devices.Event, d time.Duration) (acked bool, err error) {
	tok := h.Publish(devices.Topic(hub, devices.ChanEvents), 1, false, devices.EncodeEvent(e))
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return false, err
		}
		return true, nil
	case err := <-h.lost:
		// paho keeps the message for a resend (no clean session): the
		// token stays open.
		return false, fmt.Errorf("disconnected without a PUBACK: %w", err)
	case <-time.After(d):
		return false, fmt.Errorf("neither a PUBACK nor a disconnect within %s", d)
	}
}

// readyz asks /readyz once; the client gives up after 15 s.
func readyz(addr string) (status int, body string, took time.Duration, err error) {
	start := time.Now()
	cl := &http.Client{Timeout: 15 * time.Second}
	resp, err := cl.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start), nil
}

// waitReadyz polls /readyz until it answers want, for up to d. Every answer
// must come within answerIn: /readyz must never hang.
func waitReadyz(t *testing.T, addr string, want int, d, answerIn time.Duration) (body string, ok bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		status, body, took, err := readyz(addr)
		if err != nil || took > answerIn {
			t.Errorf("/readyz took %s (more than %s): %v", took.Round(time.Millisecond), answerIn, err)
		}
		if status == want {
			return body, true
		}
		if time.Now().After(deadline) {
			t.Errorf("/readyz still %d %q after %s; want %d", status, body, d, want)
			return body, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A gateway on the embedded store whose disk fills up (a real tmpfs): the
// event that cannot be committed gets no PUBACK and the hub is told the
// server is busy, /readyz says 503 and why, and once space returns, without
// a restart, /readyz is 200 again, the hub reconnects, its resent event is
// acknowledged and an SOS reaches an incident.
func TestDiskFullReadyzAndHubsRecover(t *testing.T) {
	dir := storetest.Tmpfs(t, 48<<20)
	sc := storetest.SQLite(t)
	sc.DataDir = dir
	c := startChain(t, sc, 2*time.Second)
	var freeOnce sync.Once
	free := func() {}
	t.Cleanup(func() { freeOnce.Do(free) }) // before the gateway stops
	addr := c.g.HTTPAddr()
	if _, ok := waitReadyz(t, addr, http.StatusOK, 10*time.Second, 5*time.Second); !ok {
		t.FailNow()
	}
	h := c.redial(t, 10*time.Second)

	if fi, err := os.Stat(store.SQLitePath(dir) + "-wal"); err == nil {
		t.Logf("WAL %d KiB before the fill", fi.Size()>>10)
	}
	free = storetest.FillDisk(t, dir, 0)
	var failed devices.Event
	for i := 0; ; i++ {
		// Commits succeed while the WAL reuses its file (a few hundred
		// KiB); past the rate limit's burst a refused event would be
		// acknowledged too.
		if i >= 150 {
			t.Fatalf("%d events acknowledged on a full disk", i)
		}
		e := devices.Event{ID: devices.EventID(fmt.Sprintf("door-%d", i)), Kind: devices.EventDoorOpen, Sensor: "door-1",
			At: time.Now(), Detail: []byte(`{"note":"` + strings.Repeat("x", 2000) + `"}`)}
		acked, err := h.publish(c.hub, e, 30*time.Second)
		if !acked {
			if !strings.Contains(err.Error(), "disconnected") {
				t.Fatalf("event %d on the full disk: %v; want no PUBACK and a disconnect", i, err)
			}
			t.Logf("event %d on the full disk: %v", i, err)
			failed = e
			break
		}
	}
	body, _ := waitReadyz(t, addr, http.StatusServiceUnavailable, 30*time.Second, 5*time.Second)
	if !strings.Contains(body, "full") {
		t.Errorf("/readyz says %q while the disk is full; want the reason (disk full)", body)
	}

	freeOnce.Do(free)
	waitReadyz(t, addr, http.StatusOK, 60*time.Second, 5*time.Second)
	h = c.redial(t, 60*time.Second)
	if acked, err := h.publish(c.hub, failed, 30*time.Second); !acked {
		t.Fatalf("resent event after space returned: %v", err)
	}
	sos := devices.Event{ID: "sos-after-full", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}
	if acked, err := h.publish(c.hub, sos, 30*time.Second); !acked {
		t.Fatalf("SOS after space returned: %v", err)
	}
	waitFor(t, 30*time.Second, "the SOS incident", func() bool { _, ok := c.incident(t, detectors.CauseSOS); return ok })
}

// A gateway whose PostgreSQL server hangs (SIGSTOP of the postmaster and
// its backends; the connections stay open and nothing answers): /readyz
// answers 503 within seconds, an SOS published meanwhile is not
// acknowledged late but refused (no PUBACK, the hub is disconnected) within
// the hub's PUBACK timeout, a reconnecting hub is refused at once as
// "server unavailable", and once the server continues, without a restart,
// /readyz is 200, the hub reconnects, its resent SOS is acknowledged and
// becomes exactly one incident, even if the server committed the first
// attempt after the gateway gave up on it.
func TestPostgresHangHubsToldBusyThenRecover(t *testing.T) {
	pg := storetest.PrivatePostgres(t)
	c := startChain(t, store.Config{DatabaseURL: pg.URL}, 2*time.Second)
	t.Cleanup(func() { pg.Continue(t) }) // before the gateway stops
	addr := c.g.HTTPAddr()
	if _, ok := waitReadyz(t, addr, http.StatusOK, 10*time.Second, 5*time.Second); !ok {
		t.FailNow()
	}
	h := c.redial(t, 10*time.Second)
	warm := devices.Event{ID: "door-1", Kind: devices.EventDoorOpen, Sensor: "door-1", At: time.Now()}
	if acked, err := h.publish(c.hub, warm, 10*time.Second); !acked {
		t.Fatalf("event before the hang: %v", err)
	}

	pg.Stop(t)
	stopped := time.Now()
	// The SOS goes out at once, so that its commit is under way when the
	// server stops answering (the server commits it when it continues).
	sos := devices.Event{ID: "sos-hang", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}
	type outcome struct {
		acked bool
		err   error
		took  time.Duration
	}
	sent := make(chan outcome, 1)
	go func() {
		start := time.Now()
		// The hubs give up on a PUBACK after 30 s (docs/protocol.md).
		acked, err := h.publish(c.hub, sos, 30*time.Second)
		sent <- outcome{acked, err, time.Since(start)}
	}()

	body, _ := waitReadyz(t, addr, http.StatusServiceUnavailable, 20*time.Second, 5*time.Second)
	if !strings.Contains(body, "store") {
		t.Errorf("/readyz says %q while PostgreSQL hangs; want the store named as the reason", body)
	}
	t.Logf("/readyz while PostgreSQL hangs: %s", body)

	o := <-sent
	switch {
	case o.acked:
		t.Errorf("SOS acknowledged while the database hangs (after %s)", o.took.Round(time.Millisecond))
	case !strings.Contains(o.err.Error(), "disconnected"):
		t.Errorf("SOS during the hang: %v; want no PUBACK and a disconnect within the hubs' PUBACK timeout", o.err)
	default:
		t.Logf("SOS refused after %s: %v", o.took.Round(time.Millisecond), o.err)
	}

	start := time.Now()
	_, err := c.dial()
	took := time.Since(start)
	switch {
	case err == nil:
		t.Errorf("a hub was let in while the database hangs")
	case !errors.Is(err, packets.ErrorRefusedServerUnavailable):
		t.Errorf("reconnect during the hang: %v after %s; want CONNACK server unavailable", err, took.Round(time.Millisecond))
	case took > 10*time.Second:
		t.Errorf("reconnect refused only after %s; want at once", took.Round(time.Millisecond))
	default:
		t.Logf("reconnect refused after %s: %v", took.Round(time.Millisecond), err)
	}
	// Hang on past the broker's ack timeout, as the reported hang did
	// (41 s): /readyz keeps answering, at once, 503.
	for time.Since(stopped) < 30*time.Second {
		if status, body, took, err := readyz(addr); err != nil || took > 5*time.Second || status != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the hang: %d %q after %s: %v", status, body, took.Round(time.Millisecond), err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("PostgreSQL stopped for %s", time.Since(stopped).Round(time.Second))
	pg.Continue(t)

	waitReadyz(t, addr, http.StatusOK, 60*time.Second, 5*time.Second)
	h = c.redial(t, 60*time.Second)
	if acked, err := h.publish(c.hub, sos, 30*time.Second); !acked {
		t.Fatalf("resent SOS after the server continued: %v", err)
	}
	waitFor(t, 30*time.Second, "the SOS incident", func() bool { _, ok := c.incident(t, detectors.CauseSOS); return ok })
	events, err := c.g.Store.Journal().ListEvents(context.Background(), store.EventQuery{Hub: c.hub, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.ID == sos.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("SOS stored %d times", n)
	}
}
