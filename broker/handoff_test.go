package broker

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

func (c *rawClient) ping() {
	c.t.Helper()
	if _, err := c.conn.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
		c.t.Fatalf("write PINGREQ: %v", err)
	}
}

// While the journal makes a hub's event durable, its read goroutine is
// free: the hub's PINGREQ is answered before the PUBACK. On mochi's path the
// read goroutine waits in OnPublish and answers nothing.
func TestReadGoroutineFreeWhileEventIsMadeDurable(t *testing.T) {
	e := startEnv(t, Config{})
	release := make(chan struct{})
	e.journal.stall, e.journal.entered = release, make(chan struct{}, 1)
	c := e.hub(5, hubA, secretA)
	defer c.conn.Close()
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
	<-e.journal.entered
	c.ping()
	if pk, err := c.readTimeout(5 * time.Second); err != nil || pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("got %+v, %v; want PINGRESP while the event is in the journal", pk.FixedHeader, err)
	}
	close(release)
	if ack := c.expect(packets.Puback); ack.PacketID != 7 || ack.ReasonCode != 0 {
		t.Errorf("PUBACK id %d code %#x", ack.PacketID, ack.ReasonCode)
	}
}

// A hub's queue holds laneCap messages; past it the hub's read goroutine
// waits (push back), and every message is taken and acknowledged in the
// order it was sent.
func TestLaneKeepsOrderAndPushesBack(t *testing.T) {
	e := startEnv(t, Config{ReadingsBurst: 1000})
	release := make(chan struct{})
	e.journal.stallReadings = release
	c := e.hub(5, hubA, secretA)
	defer c.conn.Close()
	readings := devices.Topic(hubA, devices.ChanReadings)
	const n = laneCap + 2 // one in the journal, laneCap queued, one waiting
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 1; i <= n; i++ {
			c.publish(readings, readingsPayload(), 1, uint16(i))
		}
	}()
	waitFor(t, func() bool { return value(e.s.m.handoffWaits) >= 1 })
	close(release)
	for i := 1; i <= n; i++ {
		if ack := c.expect(packets.Puback); ack.PacketID != uint16(i) || ack.ReasonCode != 0 {
			t.Fatalf("PUBACK %d: id %d code %#x, want id %d", i, ack.PacketID, ack.ReasonCode, i)
		}
	}
	<-sent
	if _, _, r := e.journal.counts(); r != n {
		t.Errorf("journal took %d batches, want %d", r, n)
	}
}

// A hub's SOS is not held behind its own readings backlog: the events lane
// has its own worker. On mochi's path the SOS is not even read until the
// readings are taken.
func TestEmergencyNotBehindOwnReadings(t *testing.T) {
	e := startEnv(t, Config{})
	release := make(chan struct{})
	e.journal.stallReadings, e.journal.entered = release, make(chan struct{}, 1)
	c := e.hub(4, hubA, secretA)
	defer c.conn.Close()
	c.publish(devices.Topic(hubA, devices.ChanReadings), readingsPayload(), 1, 1)
	<-e.journal.entered
	sosOvertakesReadings(t, c, hubA, release)
}

// sosOvertakesReadings: c's hub, whose readings (packet id 1) are held in
// the journal until release, publishes an SOS (id 2), which is acknowledged
// first; then the readings are.
func sosOvertakesReadings(t *testing.T, c *rawClient, hub devices.HubID, release chan struct{}) {
	t.Helper()
	c.publish(devices.Topic(hub, devices.ChanEvents), eventPayload("sos-"+string(hub), devices.EventSOS), 1, 2)
	if ack := c.expect(packets.Puback); ack.PacketID != 2 {
		t.Fatalf("%s: first PUBACK for %d, want the SOS (2)", hub, ack.PacketID)
	}
	close(release)
	if ack := c.expect(packets.Puback); ack.PacketID != 1 {
		t.Errorf("%s: PUBACK for %d, want the readings (1)", hub, ack.PacketID)
	}
}

// Events never wait for a worker behind other hubs' readings: with every
// readings worker busy (one, here), hub B's readings wait their turn and its
// SOS is taken at once.
func TestEmergencyNotBehindOtherHubsReadings(t *testing.T) {
	e := startEnv(t, Config{})
	e.s.pool.mu.Lock()
	e.s.pool.maxReading = 1
	e.s.pool.mu.Unlock()
	release := make(chan struct{})
	e.journal.stallReadings, e.journal.entered = release, make(chan struct{}, 1)
	a := e.hub(5, hubA, secretA)
	defer a.conn.Close()
	b := e.hub(5, hubB, secretB)
	defer b.conn.Close()
	a.publish(devices.Topic(hubA, devices.ChanReadings), readingsPayload(), 1, 1)
	<-e.journal.entered
	b.publish(devices.Topic(hubB, devices.ChanReadings), readingsPayload(), 1, 1)
	waitFor(t, func() bool {
		e.s.pool.mu.Lock()
		defer e.s.pool.mu.Unlock()
		return e.s.pool.waitHead != nil
	})
	sosOvertakesReadings(t, b, hubB, release)
	if ack := a.expect(packets.Puback); ack.PacketID != 1 {
		t.Errorf("hub A's PUBACK for %d, want its readings (1)", ack.PacketID)
	}
}

// StopIntake waits for the publishes queued for the handoff too; those it
// finds queued once intake has stopped get no PUBACK (the hub resends them).
func TestStopIntakeWaitsForQueuedHandoffs(t *testing.T) {
	e := startEnv(t, Config{})
	release := make(chan struct{})
	e.journal.stall, e.journal.entered = release, make(chan struct{}, 1)
	c := e.hub(5, hubA, secretA)
	defer c.conn.Close()
	events := devices.Topic(hubA, devices.ChanEvents)
	c.publish(events, eventPayload("sos-1", devices.EventSOS), 1, 1)
	<-e.journal.entered
	c.publish(events, eventPayload("sos-2", devices.EventSOS), 1, 2)
	waitFor(t, func() bool { return e.s.publishing.Load() == 2 })

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.s.StopIntake(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("StopIntake returned (%v) with publishes queued", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if ack := c.expect(packets.Puback); ack.PacketID != 1 {
		t.Fatalf("PUBACK for %d, want 1", ack.PacketID)
	}
	if pk, err := c.readTimeout(200 * time.Millisecond); err == nil && pk.FixedHeader.Type == packets.Puback {
		t.Errorf("PUBACK %d for a publish handled after intake stopped", pk.PacketID)
	}
	if n, _, _ := e.journal.counts(); n != 1 {
		t.Errorf("journal has %d events, want 1", n)
	}
	if got := value(e.s.m.notTaken); got != 1 {
		t.Errorf("not_taken_at_shutdown_total = %g, want 1", got)
	}
}

// mochi keeps a client's inbound and outbound packet ids in one inflight
// map, and its processPublish deletes the entry of the publish's id: a hub
// publishing with id N dropped the gateway's unacknowledged command N, which
// was then never resent. The handoff leaves the map alone.
func TestHubPublishKeepsCommandInflight(t *testing.T) {
	e := startEnv(t, Config{})
	c, ack := e.dialRaw(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA})
	if ack.ReasonCode != 0 {
		t.Fatalf("connect: %#x", ack.ReasonCode)
	}
	defer c.conn.Close()
	c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
		t.Fatal(err)
	}
	cmd := c.expect(packets.Publish) // not acknowledged
	c.publish(devices.Topic(hubA, devices.ChanReadings), readingsPayload(), 1, cmd.PacketID)
	if pa := c.expect(packets.Puback); pa.PacketID != cmd.PacketID || pa.ReasonCode != 0 {
		t.Fatalf("PUBACK id %d code %#x", pa.PacketID, pa.ReasonCode)
	}
	c.ping() // the answer comes once mochi has finished with the publish
	c.expect(packets.Pingresp)
	cl, ok := e.s.mq.Clients.Get(string(hubA))
	if !ok {
		t.Fatal("no session")
	}
	if pk, ok := cl.State.Inflight.Get(cmd.PacketID); !ok || pk.FixedHeader.Type != packets.Publish || pk.TopicName != cmd.TopicName {
		t.Errorf("command %d no longer in flight after the hub published with the same packet id (found %v: %+v)", cmd.PacketID, ok, pk.FixedHeader)
	}
}

// The packet mochi gets in place of a handed-off PUBLISH (a PUBACK with id
// 0) does nothing: mochi never gives id 0 to its own inflight messages, even
// when its ids wrap, so the PUBACK finds none to complete.
func TestNoopPacketIsNoop(t *testing.T) {
	e := startEnv(t, Config{})
	c, _ := e.dialRaw(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA})
	defer c.conn.Close()
	c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	for i := range 3 {
		if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: devices.CommandID("c" + strconv.Itoa(i)), Type: devices.CmdCheckIn}); err != nil {
			t.Fatal(err)
		}
		c.expect(packets.Publish) // not acknowledged
	}
	cl, _ := e.s.mq.Clients.Get(string(hubA))
	if n := cl.State.Inflight.Len(); n != 3 {
		t.Fatalf("%d commands in flight, want 3", n)
	}
	for range 2 * 65536 {
		if id, err := cl.NextPacketID(); err != nil || id == 0 {
			t.Fatalf("NextPacketID = %d, %v: mochi would use id 0", id, err)
		}
	}
	if noopPacket.FixedHeader.Type != packets.Puback || noopPacket.PacketID != 0 {
		t.Fatalf("noop packet %+v", noopPacket)
	}
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 9)
	if pa := c.expect(packets.Puback); pa.PacketID != 9 {
		t.Fatalf("PUBACK for %d", pa.PacketID)
	}
	c.ping() // still connected, and mochi is done with the packets before
	c.expect(packets.Pingresp)
	if n := cl.State.Inflight.Len(); n != 3 {
		t.Errorf("%d commands in flight after a handed-off publish, want 3", n)
	}
}

// The PUBACK a hub gets is the same on both paths, byte for byte as
// decoded: reason codes, reason strings and echoed user properties.
func TestPubackSameOnBothPaths(t *testing.T) {
	user := []packets.UserProperty{{Key: "trace", Val: "t-1"}}
	cases := []struct {
		name    string
		channel devices.Channel
		payload []byte
	}{
		{"reading", devices.ChanReadings, readingsPayload()},
		{"event", devices.ChanEvents, eventPayload("sos-1", devices.EventSOS)},
		{"bad payload", devices.ChanEvents, []byte(`{"v":1,`)},
		{"heartbeat garbage", devices.ChanHeartbeat, []byte(`{}`)},
	}
	for _, v := range []byte{4, 5} {
		for _, tc := range cases {
			t.Run(tc.name+"/v"+strconv.Itoa(int(v)), func(t *testing.T) {
				var got []packets.Packet
				for _, path := range bothPaths {
					e := startEnvOn(t, Config{}, path)
					c := e.hub(v, hubA, secretA)
					pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
						TopicName: devices.Topic(hubA, tc.channel), Payload: tc.payload, PacketID: 5}
					if v == 5 {
						pk.Properties.User = user
					}
					c.write(pk)
					got = append(got, c.expect(packets.Puback))
					c.conn.Close()
					e.stop()
				}
				if !reflect.DeepEqual(got[0], got[1]) {
					t.Errorf("PUBACK on the handoff %+v\nPUBACK on mochi's path %+v", got[0], got[1])
				}
			})
		}
	}
}

// A handed-off publish leaves each hub's read goroutine at its resting
// stack. mochi's own frames pass 16 KiB before OnPublish is reached, so on
// mochi's path every publish grew it from 16 to 32 KiB (BenchmarkHubStacks
// measures both paths).
func TestHandedOffPublishKeepsReadStack(t *testing.T) {
	const n = 200
	e := startEnv(t, Config{})
	clients, hubs := e.quietHubs(n, 4)
	publish := func(round uint16) {
		for i, c := range clients {
			for j, m := range []struct {
				ch      devices.Channel
				payload []byte
			}{{devices.ChanReadings, readingsPayload()}, {devices.ChanEvents, eventPayload(fmt.Sprintf("sos-%d", round), devices.EventSOS)}} {
				c.publish(devices.Topic(hubs[i], m.ch), m.payload, 1, 2*round+uint16(j))
				if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
					t.Fatalf("PUBACK: %+v, %v", pk.FixedHeader, err)
				}
			}
		}
	}
	publish(1) // the workers' stacks grow to what the handling needs
	runtime.GC()
	runtime.GC()
	before := stackInuse()
	publish(2)
	if grown := (int64(stackInuse()) - int64(before)) / n; grown > 2048 {
		t.Errorf("stacks grew by %d B per hub on a publish, want the read goroutine to stay as it was", grown)
	}
}

// The packets mochi handles itself are handled on a worker too (through
// Server.InjectPacket), so they also leave the read goroutine at its
// resting stack: a SUBSCRIBE (mochi writes the SUBACK from its own frames),
// the retained status and an UNSUBSCRIBE each grew it from 16 to 32 KiB,
// and with stacks kept (memlimit.KeepStacks) that was 16 KiB per hub for
// as long as it stayed connected.
func TestSubscribeAndStatusKeepReadStack(t *testing.T) {
	const n = 200
	e := startEnv(t, Config{})
	clients, hubs := e.quietHubs(n, 5)
	roundTrip := func(c *rawClient, pk packets.Packet, want byte) packets.Packet {
		t.Helper()
		c.write(pk)
		got, err := c.read()
		if err != nil || got.FixedHeader.Type != want {
			t.Fatalf("%s: got %+v, %v", packets.PacketNames[want], got.FixedHeader, err)
		}
		return got
	}
	for i, c := range clients { // the workers' stacks grow to what the handling needs
		roundTrip(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1,
			TopicName: devices.Topic(hubs[i], devices.ChanReadings), Payload: readingsPayload()}, packets.Puback)
	}
	runtime.GC()
	runtime.GC()
	before := stackInuse()
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now()})
	for i, c := range clients {
		cmd := devices.Topic(hubs[i], devices.ChanCmd)
		ack := roundTrip(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 2,
			Filters: packets.Subscriptions{{Filter: cmd, Qos: 1}, {Filter: devices.Topic(hubB, devices.ChanCmd), Qos: 1}}}, packets.Suback)
		if ack.PacketID != 2 || len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] < 0x80 {
			t.Fatalf("SUBACK id %d codes %v: want id 2, QoS 1 granted for its own cmd, refused for another hub's", ack.PacketID, ack.ReasonCodes)
		}
		roundTrip(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, PacketID: 3,
			TopicName: devices.Topic(hubs[i], devices.ChanStatus), Payload: online}, packets.Puback)
		roundTrip(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 4,
			Filters: packets.Subscriptions{{Filter: cmd}}}, packets.Unsuback)
	}
	if grown := (int64(stackInuse()) - int64(before)) / n; grown > 2048 {
		t.Errorf("stacks grew by %d B per hub on SUBSCRIBE, status and UNSUBSCRIBE, want the read goroutine to stay as it was", grown)
	}
	if e.subscribedTo(hubs[0], devices.ChanCmd) {
		t.Errorf("%s subscribed to its commands after UNSUBSCRIBE", hubs[0])
	}
}

// quietHubs connects n hubs speaking MQTT version v (4: 3.1.1, 5), closed
// when the test ends. No reading goroutine on the hubs' side: only the
// gateway's goroutines may change the stacks a test measures.
func (e *env) quietHubs(n int, v byte) ([]*rawClient, []devices.HubID) {
	t := e.t
	t.Helper()
	clients := make([]*rawClient, n)
	hubs := make([]devices.HubID, n)
	for i := range n {
		hubs[i] = devices.HubID(fmt.Sprintf("hub-%03d", i))
		e.dir.set(hubs[i], "s", false)
		conn, err := e.pipe.Dial()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c, ack := connectSync(t, conn, connectOpts{v: v, id: string(hubs[i]), user: string(hubs[i]), pass: "s"})
		if ack.ReasonCode != 0 {
			t.Fatalf("connect: %#x", ack.ReasonCode)
		}
		clients[i] = c
	}
	return clients, hubs
}

// A SUBSCRIBE a hub sends just before its DISCONNECT counts, as it did when
// mochi's read loop processed it before reading the DISCONNECT: a hub with
// a persistent session finds its subscription when it comes back.
func TestSubscribeBeforeDisconnectKeptInSession(t *testing.T) {
	e := startEnv(t, Config{})
	const n = 20
	for i := range n {
		hub := devices.HubID(fmt.Sprintf("hub-%03d", i))
		e.dir.set(hub, "s", false)
		conn, err := e.pipe.Dial()
		if err != nil {
			t.Fatal(err)
		}
		c, ack := connectSync(t, conn, connectOpts{v: 4, id: string(hub), user: string(hub), pass: "s"})
		if ack.ReasonCode != 0 {
			t.Fatalf("connect: %#x", ack.ReasonCode)
		}
		var frames bytes.Buffer
		sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
			Filters: packets.Subscriptions{{Filter: devices.Topic(hub, devices.ChanCmd), Qos: 1}}}
		disc := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 4}
		if err := sub.SubscribeEncode(&frames); err != nil {
			t.Fatal(err)
		}
		if err := disc.DisconnectEncode(&frames); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = conn.Write(frames.Bytes()) }() // one write, as a hub leaving at once does
		_, _ = c.read()                                   // the SUBACK, or the end of the connection
		conn.Close()
	}
	for i := range n {
		hub := devices.HubID(fmt.Sprintf("hub-%03d", i))
		waitFor(t, func() bool { return e.subscribedTo(hub, devices.ChanCmd) })
	}
}
