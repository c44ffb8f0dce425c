package broker

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wrapListener hands the broker its connections wrapped.
type wrapListener struct {
	*PipeListener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.PipeListener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// countingConn counts the writes the broker makes to a connection.

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// startCountingEnv is startEnv with a second listener whose writes are
// counted.
func startCountingEnv(t *testing.T, cfg Config) (*env, *PipeListener, *atomic.Int64) {
	t.Helper()
	writes := new(atomic.Int64)
	pl := NewPipeListener()
	e := startEnvTuned(t, cfg, func(s *Server) {
		wrap := func(c net.Conn) net.Conn { return countingConn{Conn: c, writes: writes} }
		if err := s.AddListener(wrapListener{PipeListener: pl, wrap: wrap}); err != nil {
			t.Fatal(err)
		}
	})
	return e, pl, writes
}

// restQueued is how many publishes wait in a hub's readings lane.
func restQueued(e *env, hub devices.HubID) int {
	st := e.s.states.get(string(hub))
	if st == nil {
		return 0
	}
	ls := st.lanes.Load()
	if ls == nil {
		return 0
	}
	ls.rest.mu.Lock()
	defer ls.rest.mu.Unlock()
	return ls.rest.n
}

// The PUBACKs of publishes a worker drains in a row go out in one write,
// in the order of their publishes; before, each had its own write(2).
func TestPubacksOfARunInOneWrite(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			e, pl, writes := startCountingEnv(t, Config{ReadingsBurst: 1000})
			release := make(chan struct{})
			e.journal.stallReadings = release
			conn, err := pl.Dial()
			if err != nil {
				t.Fatal(err)
			}
			c, ack := connectRaw(t, conn, connectOpts{v: v, id: string(hubA), user: string(hubA), pass: secretA})
			if ack.ReasonCode != 0 {
				t.Fatalf("connect: code %#x", ack.ReasonCode)
			}
			defer c.conn.Close()
			const n = 20 // within laneCap and readingTurn: one run
			readings := devices.Topic(hubA, devices.ChanReadings)
			for i := 1; i <= n; i++ {
				c.publish(readings, readingsPayload(), 1, uint16(i))
			}
			// The first is in the journal, the rest wait in the lane.
			waitFor(t, func() bool { return restQueued(e, hubA) == n-1 })
			before := writes.Load()
			close(release)
			for i := 1; i <= n; i++ {
				if ack := c.expect(packets.Puback); ack.PacketID != uint16(i) || ack.ReasonCode != 0 {
					t.Fatalf("PUBACK %d: id %d code %#x, want id %d", i, ack.PacketID, ack.ReasonCode, i)
				}
			}
			if got := writes.Load() - before; got != 1 {
				t.Errorf("%d PUBACKs took %d writes, want 1", n, got)
			}
		})
	}
}

// An event's PUBACK is written once the event is durable, not held until
// the next event of its lane is durable too.
func TestEventPubackNotHeldForTheNextEvent(t *testing.T) {
	e := startEnv(t, Config{})
	release, second := make(chan struct{}), make(chan struct{})
	e.journal.onEvent = func(ctx context.Context, ev *devices.Event) error {
		if ev.ID != "sos-2" {
			return nil
		}
		close(second)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := e.hub(4, hubA, secretA)
	defer c.conn.Close()
	events := devices.Topic(hubA, devices.ChanEvents)
	c.publish(events, eventPayload("sos-1", devices.EventSOS), 1, 1)
	c.publish(events, eventPayload("sos-2", devices.EventSOS), 1, 2)
	<-second
	pk, err := c.readTimeout(5 * time.Second)
	if err != nil || pk.FixedHeader.Type != packets.Puback || pk.PacketID != 1 {
		t.Fatalf("got %+v id %d, %v; want the first event's PUBACK while the second is in the journal", pk.FixedHeader, pk.PacketID, err)
	}
	close(release)
	if ack := c.expect(packets.Puback); ack.PacketID != 2 {
		t.Errorf("PUBACK id %d, want 2", ack.PacketID)
	}
}

// The other writes to a hub (commands) and the batched PUBACKs share the
// connection: the hub reads a clean stream of
// whole packets, every PUBACK in order and every command. Run with -race.
func TestPubackBatchesAndMochiWritesShareTheConnection(t *testing.T) {
	const readings, commands = 400, 150
	e := startEnv(t, Config{ReadingsBurst: 10 * readings, MaxInflight: 2 * commands, WritesPending: 2 * commands})
	c := e.hub(4, hubA, secretA)
	defer c.conn.Close()
	if ack := c.subscribe(1, devices.Topic(hubA, devices.ChanCmd)); len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] >= 0x80 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	wg.Go(func() {
		for i := range commands {
			err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: devices.CommandID("c" + strconv.Itoa(i)), Type: devices.CmdCheckIn})
			if err != nil {
				sendErr <- err
				return
			}
		}
	})
	topic := devices.Topic(hubA, devices.ChanReadings)
	payload := readingsPayload()
	wg.Go(func() {
		for i := 1; i <= readings; i++ {
			if err := c.writePublish(topic, payload, uint16(i)); err != nil {
				sendErr <- err
				return
			}
		}
	})
	next, cmds := uint16(1), 0
	for next <= readings || cmds < commands {
		pk, err := c.readTimeout(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d PUBACKs and %d commands: %v", next-1, cmds, err)
		}
		switch pk.FixedHeader.Type {
		case packets.Puback:
			if pk.PacketID != next {
				t.Fatalf("PUBACK id %d, want %d", pk.PacketID, next)
			}
			next++
		case packets.Publish:
			if _, err := devices.DecodeCommand(pk.Payload); err != nil {
				t.Fatalf("command %d: %v", cmds, err)
			}
			cmds++
		default:
			t.Fatalf("unexpected packet type %d", pk.FixedHeader.Type)
		}
	}
	wg.Wait()
	select {
	case err := <-sendErr:
		t.Fatal(err)
	default:
	}
}

// writePublish is publish for a goroutine other than the test's: it
// returns the error instead of failing the test.
func (c *rawClient) writePublish(topic string, payload []byte, id uint16) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic, Payload: payload, PacketID: id, ProtocolVersion: c.v}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return err
	}
	_, err := c.conn.Write(buf.Bytes())
	return err
}

// The PUBACK batch writes past mochi's OnPacketEncode and OnPacketSent
// hooks: none of the broker's hooks may need them.
func TestNoHookSeesPacketsSent(t *testing.T) {
	for _, h := range []mqtt.Hook{&hook{}, &retainedDropper{}} {
		for _, b := range []byte{mqtt.OnPacketEncode, mqtt.OnPacketSent} {
			if h.Provides(b) {
				t.Errorf("hook %s provides %d, which the PUBACK batch does not call", h.ID(), b)
			}
		}
	}
}

// A batch for a connection that closed is dropped, its publishes let go.
func TestAckBatchOnClosedConnection(t *testing.T) {
	e := startEnv(t, Config{})
	c := e.hub(4, hubA, secretA)
	cl, ok := e.s.mq.Clients.Get(string(hubA))
	if !ok {
		t.Fatal("no client")
	}
	c.conn.Close()
	waitFor(t, cl.Closed)
	b := &ackBatch{s: e.s}
	if b.add(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 1}) {
		t.Error("PUBACK added for a closed connection")
	}
	if err := b.write(cl); !errors.Is(err, mqtt.ErrConnectionClosed) {
		t.Errorf("write: %v, want ErrConnectionClosed", err)
	}
}

// panicConn panics on Write once told to, as a broken connection type might.
type panicConn struct {
	net.Conn
	panicking *atomic.Bool
}

func (c panicConn) Write(b []byte) (int, error) {
	if c.panicking.Load() {
		panic("write on a broken connection")
	}
	return c.Conn.Write(b)
}

// The batch is written outside handle's recover: a panic in the write is
// recovered there too, and its publishes no longer count as in progress.
func TestAckBatchWritePanicRecovered(t *testing.T) {
	panicking := new(atomic.Bool)
	pl := NewPipeListener()
	e := startEnvTuned(t, Config{}, func(s *Server) {
		wrap := func(c net.Conn) net.Conn { return panicConn{Conn: c, panicking: panicking} }
		if err := s.AddListener(wrapListener{PipeListener: pl, wrap: wrap}); err != nil {
			t.Fatal(err)
		}
	})
	conn, err := pl.Dial()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := connectRaw(t, conn, connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA})
	defer c.conn.Close()
	panicking.Store(true)
	c.publish(devices.Topic(hubA, devices.ChanReadings), readingsPayload(), 1, 1)
	waitFor(t, func() bool { return value(e.s.m.panics) == 1 })
	waitFor(t, func() bool { return e.s.publishing.Load() == 0 })
}
