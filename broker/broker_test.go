package broker

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/dolbom/dolbom/devices"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func eventPayload(id string, kind devices.EventKind) []byte {
	return devices.EncodeEvent(devices.Event{ID: devices.EventID(id), Kind: kind, At: time.Now()})
}

func readingsPayload() []byte {
	now := time.Now()
	return devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: []devices.Reading{
		{Sensor: "kitchen-heat", Metric: devices.MetricTemperature, At: now, Value: 21.5, Quality: -1},
	}})
}

func (e *env) hub(v byte, hub devices.HubID, secret string) *rawClient {
	e.t.Helper()
	c, ack := e.dialRaw(connectOpts{v: v, id: string(hub), user: string(hub), pass: secret})
	if ack.ReasonCode != 0 {
		e.t.Fatalf("connect %s: code %#x", hub, ack.ReasonCode)
	}
	return c
}

func TestConnectReasonCodes(t *testing.T) {
	e := startEnv(t, Config{})
	e.dir.set("hub-off", "pw", true)
	tests := []struct {
		name       string
		o          connectOpts
		v5, v3     byte
		wantReason string
	}{
		{"good", connectOpts{id: "hub-a", user: "hub-a", pass: secretA}, 0x00, 0x00, ""},
		{"wrong password", connectOpts{id: "hub-a", user: "hub-a", pass: "nope"}, 0x86, 0x04, refuseBadPassword},
		{"unknown hub", connectOpts{id: "hub-zz", user: "hub-zz", pass: "x"}, 0x86, 0x04, refuseUnknownHub},
		{"disabled hub", connectOpts{id: "hub-off", user: "hub-off", pass: "pw"}, 0x87, 0x05, refuseDisabled},
		{"client id is not user name", connectOpts{id: "hub-a", user: "hub-b", pass: secretB}, 0x85, 0x02, refuseClientID},
		{"not a hub id", connectOpts{id: "Hub/A", user: "Hub/A", pass: "x"}, 0x85, 0x02, refuseClientID},
		{"the inline client's id", connectOpts{id: "inline", user: "inline", pass: "x"}, 0x85, 0x02, refuseClientID},
		{"will on another topic", connectOpts{id: "hub-a", user: "hub-a", pass: secretA, will: devices.Topic(hubB, devices.ChanStatus)}, 0x87, 0x05, refuseBadWill},
		{"will not retained", connectOpts{id: "hub-a", user: "hub-a", pass: secretA, will: devices.Topic(hubA, devices.ChanStatus), willNoRetain: true}, 0x87, 0x05, refuseBadWill},
		{"will not a status", connectOpts{id: "hub-a", user: "hub-a", pass: secretA, will: devices.Topic(hubA, devices.ChanStatus), willPayload: []byte(`{"v":1,"state":"asleep"}`)}, 0x87, 0x05, refuseBadWill},
		{"will of garbage", connectOpts{id: "hub-a", user: "hub-a", pass: secretA, will: devices.Topic(hubA, devices.ChanStatus), willPayload: []byte("x")}, 0x87, 0x05, refuseBadWill},
		{"good will", connectOpts{id: "hub-a", user: "hub-a", pass: secretA, will: devices.Topic(hubA, devices.ChanStatus)}, 0x00, 0x00, ""},
	}
	for _, tc := range tests {
		for _, v := range []byte{4, 5} {
			t.Run(tc.name+"/v"+string('0'+v), func(t *testing.T) {
				var before float64
				if tc.wantReason != "" {
					before = value(e.s.m.refused.WithLabelValues(tc.wantReason))
				}
				o := tc.o
				o.v, o.clean = v, true
				c, ack := e.dialRaw(o)
				defer c.conn.Close()
				want := tc.v5
				if v == 4 {
					want = tc.v3
				}
				if ack.ReasonCode != want {
					t.Fatalf("CONNACK code %#x, want %#x", ack.ReasonCode, want)
				}
				if tc.wantReason != "" {
					if got := value(e.s.m.refused.WithLabelValues(tc.wantReason)); got != before+1 {
						t.Errorf("refused{%s} went %v -> %v", tc.wantReason, before, got)
					}
					if _, err := c.readTimeout(2 * time.Second); err == nil {
						t.Error("connection still open after a refused CONNECT")
					}
				}
			})
		}
	}
}

func TestConnectStoreErrorIsServerUnavailable(t *testing.T) {
	e := startEnv(t, Config{})
	e.dir.mu.Lock()
	e.dir.err = errors.New("database is down")
	e.dir.mu.Unlock()
	for v, want := range map[byte]byte{4: 0x03, 5: 0x88} {
		c, ack := e.dialRaw(connectOpts{v: v, id: "hub-a", user: "hub-a", pass: secretA, clean: true})
		c.conn.Close()
		if ack.ReasonCode != want {
			t.Errorf("v%d: CONNACK %#x, want %#x", v, ack.ReasonCode, want)
		}
	}
}

func TestTakeoverIsNotReportedOffline(t *testing.T) {
	e := startEnv(t, Config{})
	status := devices.Topic(hubA, devices.ChanStatus)
	first, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, will: status})
	if ack.ReasonCode != 0 {
		t.Fatalf("first connect: %#x", ack.ReasonCode)
	}
	first.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
	first.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, TopicName: status, Payload: online, PacketID: 2})
	first.expect(packets.Puback)

	second, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, will: status})
	defer second.conn.Close()
	if ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("second connect: code %#x, session present %v", ack.ReasonCode, ack.SessionPresent)
	}
	if d := first.expect(packets.Disconnect); d.ReasonCode != packets.ErrSessionTakenOver.Code {
		t.Errorf("first connection: DISCONNECT %#x, want session taken over", d.ReasonCode)
	}
	waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 3 })
	// The new connection's connect may be reported before the old one's
	// disconnect: the reason tells the health monitor it is not offline.
	for _, c := range e.ingest.connections(hubA) {
		if !c.Connected && c.Reason != "taken_over" {
			t.Errorf("first connection ended as %+v, want taken_over", c)
		}
	}
	if e.s.Connected() != 1 {
		t.Errorf("Connected() = %d, want 1", e.s.Connected())
	}
	// The first connection's will ("offline") must not have been published.
	if w := e.wills.of(status); len(w) != 0 {
		t.Errorf("the taken-over connection's will was published: %s", w[0].Payload)
	}
	// The session (its subscription) moved to the new connection.
	if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
		t.Fatal(err)
	}
	if pk := second.expect(packets.Publish); pk.TopicName != devices.Topic(hubA, devices.ChanCmd) {
		t.Errorf("command arrived on %s", pk.TopicName)
	}
}

func TestCrossHubPublishAndSubscribeRefused(t *testing.T) {
	e := startEnv(t, Config{})
	other := devices.Topic(hubB, devices.ChanEvents)
	t.Run("v5", func(t *testing.T) {
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		sub := c.subscribe(1, devices.Topic(hubA, devices.ChanCmd), devices.Topic(hubA, devices.ChanRejects),
			devices.Topic(hubB, devices.ChanCmd), "dolbom/v1/#")
		if want := []byte{1, 1, 0x87, 0x87}; string(sub.ReasonCodes) != string(want) {
			t.Errorf("SUBACK codes %x, want %x", sub.ReasonCodes, want)
		}
		c.publish(other, eventPayload("e1", devices.EventSOS), 1, 2)
		ack, r := c.ackAndReject()
		if ack.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Errorf("PUBACK %#x, want not authorized", ack.ReasonCode)
		}
		if rej, _ := devices.DecodeReject(r.Payload); rej.Code != devices.CodeNotPermitted {
			t.Errorf("reject code %q", rej.Code)
		}
	})
	t.Run("v3", func(t *testing.T) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		sub := c.subscribe(1, devices.Topic(hubB, devices.ChanCmd))
		if sub.ReasonCodes[0] != 0x80 {
			t.Errorf("SUBACK code %#x, want failure 0x80", sub.ReasonCodes[0])
		}
	})
	if n, _, _ := e.journal.counts(); n != 0 {
		t.Errorf("journal took %d events from the wrong topic", n)
	}
	if got := value(e.s.m.aclDenied.WithLabelValues("publish")); got != 1 {
		t.Errorf("acl_denied{publish} = %v, want 1", got)
	}
}

func TestEventAckedOnlyAfterJournal(t *testing.T) {
	for _, path := range bothPaths {
		t.Run(path.name, func(t *testing.T) {
			for _, v := range []byte{4, 5} {
				t.Run("v"+string('0'+v), func(t *testing.T) {
					e := startEnvOn(t, Config{}, path)
					release := make(chan struct{})
					e.journal.stall, e.journal.entered = release, make(chan struct{}, 1)
					c := e.hub(v, hubA, secretA)
					defer c.conn.Close()
					c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
					<-e.journal.entered
					if pk, err := c.readTimeout(100 * time.Millisecond); err == nil {
						t.Fatalf("got packet type %d before the journal returned", pk.FixedHeader.Type)
					}
					close(release)
					ack := c.expect(packets.Puback)
					if ack.PacketID != 7 || ack.ReasonCode >= 0x80 {
						t.Errorf("PUBACK id %d code %#x", ack.PacketID, ack.ReasonCode)
					}
					waitFor(t, func() bool { return len(e.ingest.events()) == 1 })
				})
			}
		})
	}
}

func TestJournalFailureNoAckAndDisconnect(t *testing.T) {
	for _, path := range bothPaths {
		t.Run(path.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				v     byte
				fail  error
				stall bool
			}{
				{"error/v5", 5, errors.New("disk full"), false},
				{"error/v3", 4, errors.New("disk full"), false},
				{"timeout/v5", 5, nil, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := startEnvOn(t, Config{AckTimeout: 50 * time.Millisecond}, path)
					e.journal.fail = tc.fail
					if tc.stall {
						e.journal.stall = make(chan struct{})
					}
					c := e.hub(tc.v, hubA, secretA)
					defer c.conn.Close()
					c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
					for {
						pk, err := c.readTimeout(5 * time.Second)
						if err != nil {
							if errors.Is(err, errTimeout) {
								t.Fatal("still connected after the journal failed")
							}
							break // closed: what a 3.1.1 hub sees
						}
						if pk.FixedHeader.Type == packets.Puback {
							t.Fatal("PUBACK for an event the journal did not take")
						}
						if pk.FixedHeader.Type == packets.Disconnect && pk.ReasonCode != packets.ErrServerBusy.Code {
							t.Errorf("DISCONNECT %#x, want server busy", pk.ReasonCode)
						}
					}
					waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 2 })
					if r := e.ingest.connections(hubA)[1].Reason; r != "lost" {
						t.Errorf("disconnect reason %q, want lost", r)
					}
					if len(e.ingest.events()) != 0 {
						t.Error("an event the journal did not take was ingested")
					}
					if got := value(e.s.m.eventsDropped); got != 0 {
						t.Errorf("events_dropped = %v for a QoS 1 event", got)
					}
				})
			}
		})
	}
}

// A redelivery is acknowledged again and handed on marked Replayed with the
// stored journal position: the detectors skip it when they applied it, and
// apply it when a crash came between its commit and their applying it.
func TestDuplicateEventAckedAndHandedOnAsReplayed(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		p := eventPayload("sos-dup", devices.EventSOS)
		for id := uint16(1); id <= 2; id++ {
			c.publish(devices.Topic(hubA, devices.ChanEvents), p, 1, id)
			if ack := c.expect(packets.Puback); ack.PacketID != id {
				t.Fatalf("PUBACK for %d, want %d", ack.PacketID, id)
			}
		}
		stored, appends, _ := e.journal.counts()
		if stored != 1 || appends != 2 {
			t.Errorf("journal stored %d of %d appends, want 1 of 2", stored, appends)
		}
		evs := e.ingest.events()
		if len(evs) != 2 {
			t.Fatalf("handed on %d times, want twice (fresh, then the redelivery)", len(evs))
		}
		first, again := evs[0].Event, evs[1].Event
		if first.Replayed || !again.Replayed || first.Seq == 0 || again.Seq != first.Seq {
			t.Errorf("handed on %+v then %+v; want fresh then Replayed, both with the stored position", first, again)
		}
	})
}

func TestBadPayloadsRejectedHubStaysConnected(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		events := devices.Topic(hubA, devices.ChanEvents)
		readings := devices.Topic(hubA, devices.ChanReadings)
		tests := []struct {
			name    string
			topic   string
			payload string
			code    devices.ErrorCode
		}{
			{"not json", events, `{"v":1,`, devices.CodeSyntax},
			{"unknown kind", events, `{"v":1,"id":"e1","ts":` + ms(time.Now()) + `,"kind":"meteor"}`, devices.CodeUnknownKind},
			{"heart rate 900", readings, `{"v":1,"sent":` + ms(time.Now()) + `,"readings":[{"sensor":"r","metric":"heart_rate","ts":` + ms(time.Now()) + `,"value":900,"quality":1}]}`, devices.CodeOutOfRange},
			{"far future", events, `{"v":1,"id":"e2","ts":` + ms(time.Now().Add(time.Hour)) + `,"kind":"door_open"}`, devices.CodeFuture},
			{"unknown channel", devices.Topic(hubA, "cmd"), `{}`, devices.CodeNotPermitted},
		}
		for _, v := range []byte{4, 5} {
			c := e.hub(v, hubA, secretA)
			other := e.hub(v, hubB, secretB)
			c.subscribe(1, devices.Topic(hubA, devices.ChanRejects))
			for i, tc := range tests {
				t.Run(tc.name+"/v"+string('0'+v), func(t *testing.T) {
					before := value(e.s.m.rejected.WithLabelValues(string(tc.code)))
					id := uint16(10 + i)
					c.publish(tc.topic, []byte(tc.payload), 1, id)
					ack, rej := c.ackAndReject()
					wantAck := byte(0)
					if v == 5 {
						wantAck = packets.ErrPayloadFormatInvalid.Code
						if tc.code == devices.CodeNotPermitted {
							wantAck = packets.ErrNotAuthorized.Code
						}
					}
					if ack.PacketID != id || ack.ReasonCode != wantAck {
						t.Errorf("PUBACK id %d code %#x, want %d %#x", ack.PacketID, ack.ReasonCode, id, wantAck)
					}
					r, err := devices.DecodeReject(rej.Payload)
					if err != nil || r.Code != tc.code || r.Topic != tc.topic {
						t.Errorf("reject %+v (%v), want code %s", r, err, tc.code)
					}
					if got := value(e.s.m.rejected.WithLabelValues(string(tc.code))); got != before+1 {
						t.Errorf("rejected{%s} %v -> %v", tc.code, before, got)
					}
					// The other hub is unaffected.
					other.publish(devices.Topic(hubB, devices.ChanReadings), readingsPayload(), 1, id)
					if a := other.expect(packets.Puback); a.ReasonCode >= 0x80 {
						t.Errorf("other hub's PUBACK %#x", a.ReasonCode)
					}
				})
			}
			// Still connected, and a good message goes through.
			c.publish(events, eventPayload("good-"+string('0'+v), devices.EventSOS), 1, 99)
			if ack := c.expect(packets.Puback); ack.ReasonCode >= 0x80 {
				t.Errorf("v%d: good event after bad ones: PUBACK %#x", v, ack.ReasonCode)
			}
			c.conn.Close()
			other.conn.Close()
		}
		if n := value(e.s.m.refused.WithLabelValues(refuseClientID)); n != 0 {
			t.Errorf("connect refusals: %v", n)
		}
	})
}

func TestRateLimits(t *testing.T) {
	for _, path := range bothPaths {
		t.Run(path.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := startEnvOn(t, Config{ReadingsRate: 1, ReadingsBurst: 2, EventsRate: 1, EventsBurst: 2}, path)
				defer e.stop()
				c := e.hub(5, hubA, secretA)
				defer c.conn.Close()
				readings := devices.Topic(hubA, devices.ChanReadings)
				for i := uint16(1); i <= 3; i++ {
					c.publish(readings, readingsPayload(), 1, i)
					ack := c.expect(packets.Puback)
					want := byte(0)
					if i == 3 {
						want = packets.ErrQuotaExceeded.Code
					}
					if ack.ReasonCode != want {
						t.Errorf("readings %d: PUBACK %#x, want %#x", i, ack.ReasonCode, want)
					}
				}
				events := devices.Topic(hubA, devices.ChanEvents)
				c.publish(events, eventPayload("m1", devices.EventMotion), 1, 10)
				c.publish(events, eventPayload("m2", devices.EventMotion), 1, 11)
				c.publish(events, eventPayload("m3", devices.EventMotion), 1, 12)
				for i, want := range []byte{0, 0, packets.ErrQuotaExceeded.Code} {
					if ack := c.expect(packets.Puback); ack.ReasonCode != want {
						t.Errorf("event %d: PUBACK %#x, want %#x", i, ack.ReasonCode, want)
					}
				}
				// An emergency over the limit is held, not refused.
				start := time.Now()
				c.publish(events, eventPayload("sos-1", devices.EventSOS), 1, 13)
				if ack := c.expect(packets.Puback); ack.ReasonCode != 0 {
					t.Errorf("emergency over the limit: PUBACK %#x", ack.ReasonCode)
				}
				if waited := time.Since(start); waited < 500*time.Millisecond {
					t.Errorf("emergency PUBACK after %v; want it held until a token (1/s)", waited)
				}
				if got := value(e.s.m.acksHeld); got != 1 {
					t.Errorf("acks_held = %v, want 1", got)
				}
				if got := value(e.s.m.rejected.WithLabelValues(string(devices.CodeRateLimited))); got != 2 {
					t.Errorf("rejected{rate_limited} = %v, want 2", got)
				}
				c.conn.Close()
			})
		})
	}
}

func TestEmergencyAtQoS0AcceptedAndWarned(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		c.subscribe(1, devices.Topic(hubA, devices.ChanRejects))
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-q0", devices.EventSOS), 0, 0)
		r, _ := devices.DecodeReject(c.expect(packets.Publish).Payload)
		if r.Code != devices.CodeQoS || r.EventID != "sos-q0" {
			t.Errorf("reject %+v, want qos warning for sos-q0", r)
		}
		waitFor(t, func() bool { return len(e.ingest.events()) == 1 })
		if got := value(e.s.m.emergencyQoS0); got != 1 {
			t.Errorf("emergency_qos0 = %v", got)
		}
	})
}

func TestEmergencyWithBadClockAcceptedAndWarned(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		c.subscribe(1, devices.Topic(hubA, devices.ChanRejects))
		c.publish(devices.Topic(hubA, devices.ChanEvents), []byte(`{"v":1,"id":"sos-1970","ts":1000,"kind":"sos"}`), 1, 2)
		ack, rej := c.ackAndReject()
		if ack.ReasonCode != 0 {
			t.Errorf("PUBACK %#x: an emergency must be accepted", ack.ReasonCode)
		}
		if r, _ := devices.DecodeReject(rej.Payload); r.Code != devices.CodeTooOld || r.EventID != "sos-1970" {
			t.Errorf("warning %+v, want ts_too_old for sos-1970", r)
		}
		waitFor(t, func() bool { return len(e.ingest.events()) == 1 })
	})
}

func TestRevoke(t *testing.T) {
	e := startEnv(t, Config{})
	c := e.hub(5, hubA, secretA)
	e.s.Revoke(hubA)
	if d := c.expect(packets.Disconnect); d.ReasonCode != packets.ErrAdministrativeAction.Code {
		t.Errorf("DISCONNECT %#x, want administrative action", d.ReasonCode)
	}
	waitFor(t, func() bool { return len(e.ingest.connections(hubA)) == 2 })
	if r := e.ingest.connections(hubA)[1].Reason; r != "kicked" {
		t.Errorf("reason %q, want kicked", r)
	}
	// A rotated secret: the old one no longer works, even though it was cached.
	e.dir.set(hubA, "rotated", false)
	c2, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, clean: true})
	c2.conn.Close()
	if ack.ReasonCode != 0x86 {
		t.Errorf("old secret after rotation: CONNACK %#x", ack.ReasonCode)
	}
	c3, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: "rotated", clean: true})
	c3.conn.Close()
	if ack.ReasonCode != 0 {
		t.Errorf("new secret: CONNACK %#x", ack.ReasonCode)
	}
}

func TestVerifyCache(t *testing.T) {
	e := startEnv(t, Config{})
	// SHA-256 hub hashes are verified every time, without the cache.
	for range 3 {
		c := e.hub(4, hubA, secretA)
		c.conn.Close()
	}
	if fast, slow, hits := value(e.s.m.verifyFast), value(e.s.m.verifySlow), value(e.s.m.verifyCacheHits); fast != 3 || slow != 0 || hits != 0 {
		t.Errorf("sha256 %v, argon2 %v, cache %v times; want 3, 0, 0", fast, slow, hits)
	}
	// A legacy argon2id hash is verified once, then from the cache.
	e.dir.setLegacy(hubA, secretA)
	for range 3 {
		c := e.hub(4, hubA, secretA)
		c.conn.Close()
	}
	if slow, hits := value(e.s.m.verifySlow), value(e.s.m.verifyCacheHits); slow != 1 || hits != 2 {
		t.Errorf("argon2 %v times, cache %v times; want 1 and 2", slow, hits)
	}
	// A rotated legacy secret misses the cache: the old one is refused.
	e.dir.setLegacy(hubA, "rotated")
	c, ack := e.dialRaw(connectOpts{v: 5, id: "hub-a", user: "hub-a", pass: secretA, clean: true})
	c.conn.Close()
	if ack.ReasonCode != 0x86 {
		t.Errorf("old secret after rotation: CONNACK %#x, want 0x86", ack.ReasonCode)
	}
}

func TestSendCommand(t *testing.T) {
	e := startEnv(t, Config{TCPAddr: "127.0.0.1:0"})
	if err := e.s.SendCommand(context.Background(), "hub-none", devices.Command{ID: "c0", Type: devices.CmdSilence}); !errors.Is(err, ErrNoSession) {
		t.Errorf("unknown hub: %v, want ErrNoSession", err)
	}
	for _, tc := range []struct {
		name string
		open paho.OpenConnectionFunc
		hub  devices.HubID
		pass string
	}{
		{"pipe", func(*url.URL, paho.ClientOptions) (net.Conn, error) { return e.pipe.Dial() }, hubA, secretA},
		{"tcp", nil, hubB, secretB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan devices.Command, 1)
			opts := paho.NewClientOptions().AddBroker("tcp://"+e.s.Addr("tcp")).
				SetClientID(string(tc.hub)).SetUsername(string(tc.hub)).SetPassword(tc.pass).
				SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
				SetWill(devices.Topic(tc.hub, devices.ChanStatus), string(devices.EncodeStatus(devices.Status{State: devices.HubOffline})), 1, true)
			if tc.open != nil {
				opts.SetCustomOpenConnectionFn(tc.open)
			}
			cl := paho.NewClient(opts)
			if tok := cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("connect: %v", tok.Error())
			}
			defer cl.Disconnect(100)
			tok := cl.Subscribe(devices.Topic(tc.hub, devices.ChanCmd), 1, func(_ paho.Client, m paho.Message) {
				c, err := devices.DecodeCommand(m.Payload())
				if err != nil {
					t.Error(err)
				}
				got <- c
			})
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			if err := e.s.SendCommand(context.Background(), tc.hub, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-got:
				if c.ID != "c1" || c.Type != devices.CmdCheckIn {
					t.Errorf("got %+v", c)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("command did not arrive")
			}
			// The hub's events are acknowledged through paho too.
			pt := cl.Publish(devices.Topic(tc.hub, devices.ChanEvents), 1, false, eventPayload("sos-"+tc.name, devices.EventSOS))
			if !pt.WaitTimeout(5*time.Second) || pt.Error() != nil {
				t.Fatalf("publish: %v", pt.Error())
			}
		})
	}
	// A wrong secret over real TCP is refused.
	opts := paho.NewClientOptions().AddBroker("tcp://" + e.s.Addr("tcp")).SetClientID("hub-a").SetUsername("hub-a").SetPassword("wrong")
	if tok := paho.NewClient(opts).Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		t.Error("wrong secret accepted over TCP")
	}
}

func TestSessionExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, Config{SessionExpiry: time.Minute})
		defer e.stop()
		c, _ := e.dialRaw(connectOpts{v: 4, id: "hub-a", user: "hub-a", pass: secretA})
		c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
		c.conn.Close()
		synctest.Wait()
		if _, ok := e.s.mq.Clients.Get("hub-a"); !ok {
			t.Fatal("session gone at once; want it kept for its expiry")
		}
		if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdSilence}); err != nil {
			t.Errorf("command to a briefly absent hub: %v", err)
		}
		time.Sleep(61 * time.Second)
		synctest.Wait()
		if _, ok := e.s.mq.Clients.Get("hub-a"); ok {
			t.Error("session kept past its expiry")
		}
		if e.subscribedTo(hubA, devices.ChanCmd) {
			t.Error("expired session still subscribed")
		}
		if got := value(e.s.m.sessionsExpired); got != 1 {
			t.Errorf("sessions_expired = %v", got)
		}
	})
}

func TestShutdownDrainsInFlightPublish(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		release := make(chan struct{})
		e.journal.stall, e.journal.entered = release, make(chan struct{}, 1)
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-late", devices.EventSOS), 1, 1)
		<-e.journal.entered
		stopped := make(chan struct{})
		go func() { e.stop(); close(stopped) }()
		select {
		case <-stopped:
			t.Fatal("Run returned while a publish was being made durable")
		case <-time.After(100 * time.Millisecond):
		}
		if e.s.Ready() {
			t.Error("Ready during shutdown")
		}
		close(release)
		<-stopped
		if n, _, _ := e.journal.counts(); n != 1 {
			t.Errorf("journal has %d events, want the in-flight one", n)
		}
		// A gateway stopping is not a hub going offline: the detectors hear
		// nothing of it (they stop before the hubs are disconnected).
		if conns := e.ingest.connections(hubA); len(conns) != 1 || !conns[0].Connected {
			t.Errorf("connection events %+v, want only the connect", conns)
		}
		if _, err := e.pipe.Dial(); err == nil {
			t.Error("listener still accepting after shutdown")
		}
	})
}

// TestStopIntakeKeepsHubsConnected: the first step of a shutdown stops
// taking messages (no PUBACK: the hub keeps the message and resends it after
// reconnecting) and new connections, but keeps the hubs connected while the
// detectors save, so that none starts its reconnect backoff yet; Run's
// disconnect pass then closes them without publishing their wills.
func TestStopIntakeKeepsHubsConnected(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		status := devices.Topic(hubA, devices.ChanStatus)
		c, ack := e.dialRaw(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA, will: status})
		if ack.ReasonCode != 0 {
			t.Fatalf("connect: %#x", ack.ReasonCode)
		}
		defer c.conn.Close()
		online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, TopicName: status, Payload: online, PacketID: 1})
		c.expect(packets.Puback)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.s.StopIntake(ctx); err != nil {
			t.Fatal(err)
		}
		if e.s.Ready() {
			t.Error("Ready after intake stopped")
		}
		if _, err := e.pipe.Dial(); err == nil {
			t.Error("listener still accepting after intake stopped")
		}
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-after", devices.EventSOS), 1, 2)
		if _, err := c.conn.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
			t.Fatal(err)
		}
		if pk := c.expect(packets.Pingresp); pk.FixedHeader.Type != packets.Pingresp {
			t.Fatal("no PINGRESP: the hub was disconnected")
		}
		if n, _, _ := e.journal.counts(); n != 0 {
			t.Errorf("journal took %d events after intake stopped, want 0", n)
		}
		if got := value(e.s.m.notTaken); got != 1 {
			t.Errorf("not_taken_at_shutdown_total = %g, want 1", got)
		}

		e.stop()
		for {
			pk, err := c.readTimeout(5 * time.Second)
			if err != nil {
				break // closed by the disconnect pass
			}
			if pk.FixedHeader.Type == packets.Puback {
				t.Fatalf("PUBACK %d for a message sent after intake stopped", pk.PacketID)
			}
			if pk.FixedHeader.Type == packets.Disconnect {
				break
			}
		}
		if w := e.wills.of(status); len(w) != 0 {
			t.Errorf("will published at shutdown: %s", w[0].Payload)
		}
		if conns := e.ingest.connections(hubA); len(conns) != 1 {
			t.Errorf("connection events %+v, want only the connect", conns)
		}
	})
}

// ackAndReject reads a PUBACK and a PUBLISH (the reject), in whichever
// order they come: the reject is queued, the PUBACK written directly.
func (c *rawClient) ackAndReject() (ack, rej packets.Packet) {
	c.t.Helper()
	var gotAck, gotRej bool
	for !gotAck || !gotRej {
		pk, err := c.readTimeout(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for PUBACK and reject (have ack %v, reject %v: %+v): %v", gotAck, gotRej, ack, err)
		}
		switch pk.FixedHeader.Type {
		case packets.Puback:
			ack, gotAck = pk, true
		case packets.Publish:
			rej, gotRej = pk, true
		}
	}
	return ack, rej
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}

func ms(t time.Time) string {
	return itoa(t.UnixMilli())
}

// value reads a counter or gauge (testutil would add a dependency).
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// TestAdmission: CONNECTs beyond MaxConnecting wait for a slot; one that
// waits longer than AdmitWait is refused as busy and counted; a silent socket
// holds no slot; and a slot comes back as soon as the CONNACK is out.
func TestAdmission(t *testing.T) {
	e := startEnv(t, Config{MaxConnecting: 1, AdmitWait: 100 * time.Millisecond})
	// A socket that sends nothing takes no slot.
	silent, err := e.pipe.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// The first hub takes the only slot and stalls in the registry lookup.
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	e.dir.mu.Lock()
	e.dir.hold, e.dir.held = hold, held
	e.dir.mu.Unlock()
	first := make(chan packets.Packet, 1)
	go func() {
		c, ack := e.dialRaw(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA, clean: true})
		defer c.conn.Close()
		first <- ack
	}()
	<-held
	e.dir.mu.Lock()
	e.dir.hold, e.dir.held = nil, nil
	e.dir.mu.Unlock()
	// The second waits AdmitWait, then is told the server is busy.
	c2, ack := e.dialRaw(connectOpts{v: 5, id: string(hubB), user: string(hubB), pass: secretB, clean: true})
	c2.conn.Close()
	if ack.ReasonCode != packets.ErrServerBusy.Code {
		t.Errorf("CONNECT beyond MaxConnecting: CONNACK %#x, want server busy %#x", ack.ReasonCode, packets.ErrServerBusy.Code)
	}
	if n := value(e.s.m.refused.WithLabelValues(refuseAdmit)); n != 1 {
		t.Errorf("refused for admission %v times, want 1", n)
	}
	// The first completes; its slot is free again for the next hub.
	close(hold)
	if ack := <-first; ack.ReasonCode != 0 {
		t.Fatalf("first hub: CONNACK %#x", ack.ReasonCode)
	}
	waitFor(t, func() bool { return len(e.s.admit) == 0 })
	c3 := e.hub(5, hubB, secretB)
	c3.conn.Close()
}

// TestStopIntakeOutOfTime: a publish still waiting when StopIntake runs out
// of time (here a stalled journal) gives up without a PUBACK, so the hub
// resends it after reconnecting; none is acknowledged later, after the
// detectors have stopped, where it would be lost.
func TestStopIntakeOutOfTime(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		release := make(chan struct{})
		defer close(release)
		e.journal.stall, e.journal.entered = release, make(chan struct{}, 1)
		c := e.hub(5, hubA, secretA)
		defer c.conn.Close()
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-held", devices.EventSOS), 1, 1)
		<-e.journal.entered

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := e.s.StopIntake(ctx); err != nil {
			t.Fatalf("StopIntake: %v (the held publish should have given up)", err)
		}
		if n := e.s.publishing.Load(); n != 0 {
			t.Fatalf("%d publishes under way after StopIntake returned", n)
		}
		if n, _, _ := e.journal.counts(); n != 0 {
			t.Errorf("journal has %d events, want 0", n)
		}
		if pk, err := c.readTimeout(200 * time.Millisecond); err == nil && pk.FixedHeader.Type == packets.Puback {
			t.Errorf("PUBACK %d for a publish that gave up", pk.PacketID)
		}
	})
}

// TestRetainedStatusNotKept: a hub's retained status and its will are
// handled as before (the status reaches the ingester, the will is
// published), but mochi keeps no retained copy: nobody may subscribe to a
// status topic, so it would be ~1.5 KB per hub read by no one.
func TestRetainedStatusNotKept(t *testing.T) {
	e := startEnv(t, Config{})
	status := devices.Topic(hubA, devices.ChanStatus)
	for _, v := range []byte{4, 5} {
		c, ack := e.dialRaw(connectOpts{v: v, id: string(hubA), user: string(hubA), pass: secretA, will: status})
		if ack.ReasonCode != 0 {
			t.Fatalf("v%d connect: %#x", v, ack.ReasonCode)
		}
		online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, TopicName: status, Payload: online, PacketID: 1})
		c.expect(packets.Puback)
		if n := e.s.mq.Topics.Retained.Len(); n != 0 {
			t.Errorf("v%d: %d retained messages after the online status, want 0", v, n)
		}
		wills := len(e.wills.of(status))
		c.conn.Close() // abrupt: the will goes out
		waitFor(t, func() bool { return len(e.wills.of(status)) == wills+1 })
		if n := e.s.mq.Topics.Retained.Len(); n != 0 {
			t.Errorf("v%d: %d retained messages after the will, want 0", v, n)
		}
	}
	statuses := 0
	e.ingest.mu.Lock()
	for _, m := range e.ingest.msgs {
		if m.Status != nil && m.Status.State == devices.HubOnline {
			statuses++
		}
	}
	e.ingest.mu.Unlock()
	if statuses != 2 {
		t.Errorf("ingester got %d online statuses, want 2", statuses)
	}
}

// TestBatchLargerThanReadBuffer: a readings batch many times the size of
// the per-connection read buffer (512 B since issue 14) arrives whole, and
// the hub's next message after it too.
func TestBatchLargerThanReadBuffer(t *testing.T) {
	if got := (Config{}).withDefaults().ReadBufferSize; got != 512 {
		t.Fatalf("default read buffer %d B, want 512", got)
	}
	e := startEnv(t, Config{})
	c := e.hub(4, hubA, secretA)
	defer c.conn.Close()
	now := time.Now()
	rs := make([]devices.Reading, 400)
	for i := range rs {
		rs[i] = devices.Reading{Sensor: "kitchen-heat", Metric: devices.MetricTemperature, At: now.Add(time.Duration(i-len(rs)) * time.Second), Value: 21.5, Quality: -1}
	}
	batch := devices.EncodeReadings(devices.ReadingBatch{SentAt: now, Readings: rs})
	if len(batch) < 16*512 {
		t.Fatalf("batch of %d B, want one far larger than the read buffer", len(batch))
	}
	c.publish(devices.Topic(hubA, devices.ChanReadings), batch, 1, 1)
	c.expect(packets.Puback)
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-after-batch", devices.EventSOS), 1, 2)
	c.expect(packets.Puback)
	if events, _, batches := e.journal.counts(); events != 1 || batches != 1 {
		t.Errorf("journal has %d events and %d batches, want 1 and 1", events, batches)
	}
	waitFor(t, func() bool {
		e.ingest.mu.Lock()
		defer e.ingest.mu.Unlock()
		for _, m := range e.ingest.msgs {
			if m.Readings != nil && len(m.Readings.Readings) == len(rs) {
				return true
			}
		}
		return false
	})
}

// TestMessagesCarryTheConnectionsHubString pins what DecodeFrom is for: a
// hub's messages carry the very string its connect report carried (the
// connection's client id), not a fresh piece of each topic, so that the
// detectors' per-hub maps match them by pointer.
func TestMessagesCarryTheConnectionsHubString(t *testing.T) {
	onBothPaths(t, Config{}, func(t *testing.T, e *env) {
		c := e.hub(4, hubA, secretA)
		defer c.conn.Close()
		c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
		c.expect(packets.Puback)
		waitFor(t, func() bool { return len(e.ingest.events()) == 1 })
		e.ingest.mu.Lock()
		defer e.ingest.mu.Unlock()
		if len(e.ingest.conns) == 0 || !e.ingest.conns[0].Connected {
			t.Fatalf("no connect report: %+v", e.ingest.conns)
		}
		want := unsafe.StringData(string(e.ingest.conns[0].Hub))
		m := e.ingest.msgs[0]
		if m.Hub != hubA || unsafe.StringData(string(m.Hub)) != want || unsafe.StringData(string(m.Event.Hub)) != want {
			t.Errorf("message's hub %q is not the connection's string", m.Hub)
		}
	})
}
