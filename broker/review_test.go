package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// waitDisconnects waits until hub has had n disconnects reported.
func (e *env) waitDisconnects(t *testing.T, hub devices.HubID, n int) {
	t.Helper()
	waitFor(t, func() bool {
		got := 0
		for _, c := range e.ingest.connections(hub) {
			if !c.Connected {
				got++
			}
		}
		return got >= n
	})
}

func TestReconnectLoopKeepsOneExpiryEntry(t *testing.T) {
	e := startEnv(t, Config{})
	const loops = 200
	for i := range loops {
		c := e.hub(4, hubA, secretA) // persistent session: each leaves one behind
		c.conn.Close()
		e.waitDisconnects(t, hubA, i+1)
	}
	if n := e.s.expiry.len(); n != 1 {
		t.Errorf("expiry queue holds %d entries after %d reconnects, want 1", n, loops)
	}
}

func TestSessionExpiryFollowsLastDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, Config{SessionExpiry: time.Minute})
		defer e.stop()
		c := e.hub(4, hubA, secretA)
		c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
		c.conn.Close()
		synctest.Wait()
		time.Sleep(30 * time.Second)
		c = e.hub(4, hubA, secretA)
		c.conn.Close()
		synctest.Wait()
		time.Sleep(31 * time.Second) // past the first deadline, not the second
		synctest.Wait()
		if _, ok := e.s.mq.Clients.Get(string(hubA)); !ok {
			t.Fatal("session expired at the first disconnect's deadline")
		}
		if n := e.s.expiry.len(); n != 1 {
			t.Errorf("expiry queue holds %d entries, want 1 (queued again)", n)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if _, ok := e.s.mq.Clients.Get(string(hubA)); ok {
			t.Error("session kept past the last disconnect's expiry")
		}
		if got := value(e.s.m.sessionsExpired); got != 1 {
			t.Errorf("sessions_expired = %v, want 1", got)
		}
	})
}

func TestGarbageFloodIsSilencedThenDisconnected(t *testing.T) {
	onBothPaths(t, Config{RefusalsRate: 0.001, RefusalsBurst: 2, MaxSilentRefusals: 3}, func(t *testing.T, e *env) {
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		c.subscribe(1, devices.Topic(hubA, devices.ChanRejects))
		events := devices.Topic(hubA, devices.ChanEvents)
		id := uint16(10)
		garbage := func() packets.Packet {
			t.Helper()
			id++
			c.publish(events, []byte(`{"v":1,`), 1, id)
			return c.expect(packets.Puback)
		}
		for range 2 { // within the refusals budget: explained
			id++
			c.publish(events, []byte(`{"v":1,`), 1, id)
			if ack, _ := c.ackAndReject(); ack.ReasonCode != packets.ErrPayloadFormatInvalid.Code {
				t.Errorf("PUBACK %#x", ack.ReasonCode)
			}
		}
		for range 2 { // past it: silent, still acknowledged
			if ack := garbage(); ack.ReasonCode != packets.ErrPayloadFormatInvalid.Code {
				t.Errorf("PUBACK %#x", ack.ReasonCode)
			}
		}
		if got := value(e.s.m.rejectsSilenced); got != 2 {
			t.Errorf("rejects_silenced = %v, want 2", got)
		}
		// The garbage spent no event tokens: a real emergency goes through at
		// once, and ends the run of refusals.
		c.publish(events, eventPayload("sos-real", devices.EventSOS), 1, 99)
		if ack := c.expect(packets.Puback); ack.ReasonCode != 0 {
			t.Fatalf("emergency after garbage: PUBACK %#x", ack.ReasonCode)
		}
		garbage()
		garbage()
		id++
		c.publish(events, []byte(`{"v":1,`), 1, id) // the third silent refusal in a row
		if d := c.expect(packets.Disconnect); d.ReasonCode != packets.ErrQuotaExceeded.Code {
			t.Errorf("DISCONNECT %#x, want quota exceeded", d.ReasonCode)
		}
		if got := value(e.s.m.refusalKicks); got != 1 {
			t.Errorf("refusal_disconnects = %v, want 1", got)
		}
		if n := len(e.ingest.events()); n != 1 {
			t.Errorf("ingested %d events, want the emergency", n)
		}
	})
}

func TestForeignTopicFloodIsDisconnected(t *testing.T) {
	onBothPaths(t, Config{RefusalsRate: 0.001, RefusalsBurst: 1, MaxSilentRefusals: 2}, func(t *testing.T, e *env) {
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		for i := uint16(1); i <= 3; i++ {
			c.publish(devices.Topic(hubB, devices.ChanEvents), eventPayload("x", devices.EventMotion), 1, i)
		}
		if d := c.expect(packets.Disconnect); d.ReasonCode != packets.ErrQuotaExceeded.Code {
			t.Errorf("DISCONNECT %#x, want quota exceeded", d.ReasonCode)
		}
	})
}

func TestReadingsTokenTakenBeforeDecoding(t *testing.T) {
	onBothPaths(t, Config{ReadingsRate: 0.001, ReadingsBurst: 2}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		syntax := e.s.m.rejected.WithLabelValues(string(devices.CodeSyntax))
		limited := e.s.m.rejected.WithLabelValues(string(devices.CodeRateLimited))
		for i := uint16(1); i <= 3; i++ {
			c.publish(devices.Topic(hubA, devices.ChanReadings), []byte("garbage"), 1, i)
			c.expect(packets.Puback)
		}
		if s, l := value(syntax), value(limited); s != 2 || l != 1 {
			t.Errorf("rejected syntax %v, rate_limited %v; want 2 and 1 (the third not decoded)", s, l)
		}
	})
}

func TestEventsReceivedByKind(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		for i, k := range []devices.EventKind{devices.EventSOS, devices.EventMotion, devices.EventMotion} {
			c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("e"+itoa(int64(i)), k), 1, uint16(i+1))
			c.expect(packets.Puback)
		}
		if s, m := value(e.s.m.eventsReceived[devices.EventSOS]), value(e.s.m.eventsReceived[devices.EventMotion]); s != 1 || m != 2 {
			t.Errorf("events_received sos %v motion %v, want 1 and 2", s, m)
		}
		if len(e.s.m.eventsReceived) != len(devices.EventKinds) {
			t.Errorf("%d kinds resolved, want all %d", len(e.s.m.eventsReceived), len(devices.EventKinds))
		}
	})
}

// An emergency at QoS 0 whose PUBACK is held for the rate limit when the
// broker shuts down is lost: nobody will send it again.
func TestHeldQoS0EmergencyLostAtShutdownIsCounted(t *testing.T) {
	onBothPaths(t, Config{EventsRate: 0.001, EventsBurst: 1, ShutdownTimeout: 100 * time.Millisecond}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		events := devices.Topic(hubA, devices.ChanEvents)
		c.publish(events, eventPayload("sos-1", devices.EventSOS), 0, 0)
		c.publish(events, eventPayload("sos-2", devices.EventSOS), 0, 0)
		waitFor(t, func() bool { return value(e.s.m.acksHeld) == 1 })
		e.stop()
		waitFor(t, func() bool { return value(e.s.m.eventsDropped) == 1 })
	})
}

func TestMaximumQoS1(t *testing.T) {
	e := startEnv(t, Config{})
	c, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, clean: true})
	defer c.conn.Close()
	if !ack.Properties.MaximumQosFlag || ack.Properties.MaximumQos != 1 {
		t.Errorf("CONNACK maximum QoS flag %v value %d, want 1", ack.Properties.MaximumQosFlag, ack.Properties.MaximumQos)
	}
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: devices.Topic(hubA, devices.ChanCmd), Qos: 2}}})
	if sub := c.expect(packets.Suback); sub.ReasonCodes[0] != 1 {
		t.Errorf("QoS 2 subscription granted %d, want 1", sub.ReasonCodes[0])
	}
	// A QoS 2 publish is taken as QoS 1: PUBACK, no PUBREC.
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-q2", devices.EventSOS), 2, 7)
	if pk := c.expect(packets.Puback); pk.PacketID != 7 || pk.ReasonCode != 0 {
		t.Errorf("PUBACK id %d code %#x", pk.PacketID, pk.ReasonCode)
	}
	// A will at QoS 2 is refused by mochi before OnConnect.
	c2, ack := e.dialRaw(connectOpts{v: 5, id: "hub-b", user: "hub-b", pass: secretB, clean: true,
		will: devices.Topic(hubB, devices.ChanStatus), willQoS: 2})
	c2.conn.Close()
	if ack.ReasonCode != packets.ErrQosNotSupported.Code {
		t.Errorf("QoS 2 will: CONNACK %#x", ack.ReasonCode)
	}
}

func TestRefusalsBeforeOnConnectAreCounted(t *testing.T) {
	e := startEnv(t, Config{TCPAddr: "127.0.0.1:0", ConnectTimeout: 100 * time.Millisecond})
	tests := []struct {
		name   string
		reason string
		do     func(t *testing.T)
	}{
		{"silent socket", refuseConnectTimeout, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.s.Addr("tcp"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == nil {
				t.Error("read a byte from a connection that sent nothing")
			}
		}},
		{"closed at once", refuseNoConnect, func(t *testing.T) {
			conn, err := e.pipe.Dial()
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
		}},
		{"PINGREQ first", refuseMalformed, func(t *testing.T) {
			conn, err := e.pipe.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = conn.Write([]byte{0xC0, 0x00})
		}},
		{"will at QoS 2", refuseInvalid, func(t *testing.T) {
			c, _ := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, clean: true,
				will: devices.Topic(hubA, devices.ChanStatus), willQoS: 2})
			c.conn.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counter := e.s.m.refused.WithLabelValues(tc.reason)
			before := value(counter)
			tc.do(t)
			waitFor(t, func() bool { return value(counter) == before+1 })
		})
	}
}

func TestRevokeDuringAuthentication(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run("v"+string('0'+v), func(t *testing.T) {
			e := startEnv(t, Config{})
			hold, held := make(chan struct{}), make(chan struct{}, 1)
			e.dir.mu.Lock()
			e.dir.hold, e.dir.held = hold, held
			e.dir.mu.Unlock()
			acks := make(chan packets.Packet, 1)
			conn, err := e.pipe.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			go func() {
				c, ack := connectRaw(t, conn, connectOpts{v: v, id: "hub-a", user: "hub-a", pass: secretA})
				_ = c
				acks <- ack
			}()
			<-held // the record (still enabled) is being read
			e.s.Revoke(hubA)
			e.dir.mu.Lock()
			e.dir.hold = nil
			e.dir.mu.Unlock()
			close(hold)
			ack := <-acks
			want := byte(0x87)
			if v == 4 {
				want = 0x05
			}
			if ack.ReasonCode != want {
				t.Errorf("CONNACK %#x, want %#x: a connection checked before Revoke got in", ack.ReasonCode, want)
			}
			if got := value(e.s.m.refused.WithLabelValues(refuseRevoked)); got != 1 {
				t.Errorf("refused{revoked} = %v", got)
			}
			// The next connect, against the record as it is now, works.
			c := e.hub(v, hubA, secretA)
			c.conn.Close()
		})
	}
}

// A takeover whose CONNACK cannot be written: the hub must not look online.
func TestConnackFailureAfterTakeoverReportsHubGone(t *testing.T) {
	e := startEnv(t, Config{})
	first := e.hub(5, hubA, secretA)
	defer first.conn.Close()
	conn, err := e.pipe.Dial()
	if err != nil {
		t.Fatal(err)
	}
	w := &rawClient{t: t, conn: conn, v: 5}
	w.write(connectPacket(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA}))
	conn.Close() // gone before the CONNACK
	first.expect(packets.Disconnect)
	// The old connection's taken_over and the dead one's lost may be
	// reported in either order.
	waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 3 })
	reasons := map[string]bool{}
	for _, c := range e.ingest.connections(hubA)[1:] {
		reasons[c.Reason] = !c.Connected
	}
	if !reasons["taken_over"] || !reasons["lost"] {
		t.Errorf("events %+v, want taken_over and lost", e.ingest.connections(hubA))
	}
	if n := e.s.expiry.len(); n != 1 {
		t.Errorf("expiry queue holds %d, want the dead session", n)
	}
	// The hub comes back normally.
	c := e.hub(5, hubA, secretA)
	c.conn.Close()
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dolbom test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// freePort returns a loopback address that was free a moment ago (mochi's
// WebSocket listener cannot report the port it got for ":0").
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestTLSAndWebSocketListeners(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	e := startEnv(t, Config{TLSAddr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, WSAddr: freePort(t)})
	for _, tc := range []struct {
		name, url string
		hub       devices.HubID
		secret    string
	}{
		{"tls", "ssl://" + e.s.Addr("tls"), hubA, secretA},
		{"ws", "ws://" + e.s.Addr("ws"), hubB, secretB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := func(secret string) *paho.ClientOptions {
				return paho.NewClientOptions().AddBroker(tc.url).SetTLSConfig(&tls.Config{RootCAs: pool}).
					SetClientID(string(tc.hub)).SetUsername(string(tc.hub)).SetPassword(secret).
					SetCleanSession(true).SetOrderMatters(false).SetAutoReconnect(false).
					SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
			}
			var cl paho.Client
			var err error
			// The WebSocket listener starts serving in the background.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				cl = paho.NewClient(opts(tc.secret))
				tok := cl.Connect()
				tok.WaitTimeout(5 * time.Second)
				if err = tok.Error(); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cl.Disconnect(100)
			pt := cl.Publish(devices.Topic(tc.hub, devices.ChanEvents), 1, false, eventPayload("sos-"+tc.name, devices.EventSOS))
			if !pt.WaitTimeout(5*time.Second) || pt.Error() != nil {
				t.Fatalf("SOS not acknowledged: %v", pt.Error())
			}
			e.journal.mu.Lock()
			_, ok := e.journal.events[string(tc.hub)+"/sos-"+tc.name]
			e.journal.mu.Unlock()
			if !ok {
				t.Error("acknowledged SOS is not in the journal")
			}
			bad := paho.NewClient(opts("wrong").SetClientID(string(tc.hub)))
			if tok := bad.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				bad.Disconnect(0)
				t.Error("wrong secret accepted")
			}
		})
	}
}
