package broker

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// lockedBuffer is a log sink read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFullNodeRefusesAtTheDoor: at capacity, a new hub is refused with the
// busy CONNACK of its protocol (3.1.1 0x03; MQTT 5 0x89 with the reason
// string and the receive maximum mochi would send) over the pipe, over
// TCP, over WebSocket and to a paho client; every refusal is counted and logged (one line
// per period, not per refusal), and the connected hub is kept and served.
func TestFullNodeRefusesAtTheDoor(t *testing.T) {
	versions(t, func(t *testing.T, v byte) {
		var logged lockedBuffer
		e := startEnvTuned(t, Config{MaxHubs: 1, TCPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0"}, func(s *Server) {
			s.log = zerolog.New(&logged)
		})
		a := e.hub(v, hubA, secretA)
		defer a.conn.Close()
		check := func(how string, ack packets.Packet) {
			t.Helper()
			if ack.ReasonCode != busyCode(v) {
				t.Errorf("%s: CONNACK %#x, want %#x", how, ack.ReasonCode, busyCode(v))
			}
			if v == 5 && (ack.Properties.ReasonString != "server busy" || ack.Properties.ReceiveMaximum != laneCap) {
				t.Errorf("%s: CONNACK properties %+v, want reason string and receive maximum %d", how, ack.Properties, laneCap)
			}
		}
		c, ack := e.dialRaw(connectOpts{v: v, id: string(hubB), user: string(hubB), pass: secretB})
		c.conn.Close()
		check("pipe", ack)
		conn, err := net.Dial("tcp", e.s.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		c, ack = connectRaw(t, conn, connectOpts{v: v, id: string(hubB), user: string(hubB), pass: secretB,
			will: devices.Topic(hubB, devices.ChanStatus)})
		check("tcp", ack)
		// The gateway closes the connection after the CONNACK.
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
			t.Error("tcp: connection left open after the refusal")
		}
		ws, _, err := dialWS(t, e, "")
		if err != nil {
			t.Fatal(err)
		}
		c, ack = connectRaw(t, ws, connectOpts{v: v, id: string(hubB), user: string(hubB), pass: secretB})
		c.conn.Close()
		check("websocket", ack)
		refusals := 3.0
		if v == 4 {
			opts := paho.NewClientOptions().AddBroker("tcp://" + e.s.Addr("tcp")).SetClientID(string(hubB)).
				SetUsername(string(hubB)).SetPassword(secretB).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false)
			tok := paho.NewClient(opts).Connect()
			if !tok.WaitTimeout(5*time.Second) || !errors.Is(tok.Error(), pahopackets.ErrorRefusedServerUnavailable) {
				t.Errorf("paho: %v, want %v", tok.Error(), pahopackets.ErrorRefusedServerUnavailable)
			}
			refusals++
		}
		if n := value(e.s.m.refused.WithLabelValues(refuseCapacity)); n != refusals {
			t.Errorf("refused{capacity} = %v, want %v", n, refusals)
		}
		waitFor(t, func() bool { return strings.Contains(logged.String(), `"refused_capacity":`) })
		if n := strings.Count(logged.String(), "new hubs refused"); n != 1 {
			t.Errorf("%d refusal log lines for %v refusals in one period, want 1:\n%s", n, refusals, logged.String())
		}
		a.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-1", devices.EventSOS), 1, 7)
		if pk := a.expect(packets.Puback); pk.PacketID != 7 {
			t.Errorf("PUBACK for packet %d, want 7", pk.PacketID)
		}
		if n := e.s.Connected(); n != 1 {
			t.Errorf("connected %d, want the kept hub only", n)
		}
	})
}

// TestDoorPassesOnWhatItDoesNotRefuse: at capacity the door reads every
// CONNECT, and what it does not refuse reaches mochi intact: the connected
// hub's reconnect (its CONNECT written in two halves) gets in and is
// served; a CONNECT too large to peek is refused by mochi's path all the
// same; a first packet that is no CONNECT is counted as mochi counts it.
func TestDoorPassesOnWhatItDoesNotRefuse(t *testing.T) {
	e := startEnv(t, Config{MaxHubs: 1})
	first := e.hub(4, hubA, secretA)
	defer first.conn.Close()

	var buf bytes.Buffer
	pk := connectPacket(connectOpts{v: 5, id: string(hubA), user: string(hubA), pass: secretA, will: devices.Topic(hubA, devices.ChanStatus)})
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	conn, err := e.pipe.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := buf.Bytes()
	go func() {
		// Two writes: the pipe delivers each as written, so the door's
		// first read ends in the middle of the CONNECT.
		_, _ = conn.Write(frame[:len(frame)/2])
		time.Sleep(10 * time.Millisecond)
		_, _ = conn.Write(frame[len(frame)/2:])
	}()
	c := &rawClient{t: t, conn: conn, r: bufio.NewReaderSize(conn, 512), v: 5, in: make(chan packets.Packet, 64), closed: make(chan error, 1)}
	ack, err := c.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("reconnect of the connected hub at capacity: %+v, %v; want CONNACK 0", ack.FixedHeader, err)
	}
	go c.readLoop()
	c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	c.publish(devices.Topic(hubA, devices.ChanEvents), eventPayload("sos-2", devices.EventSOS), 1, 9)
	if pk := c.expect(packets.Puback); pk.PacketID != 9 {
		t.Errorf("PUBACK for packet %d, want 9", pk.PacketID)
	}

	big, ack := e.dialRaw(connectOpts{v: 5, id: string(hubB), user: string(hubB), pass: strings.Repeat("x", 2*connectPeek)})
	big.conn.Close()
	if ack.ReasonCode != packets.ErrServerBusy.Code {
		t.Errorf("CONNECT larger than the peek: CONNACK %#x, want busy", ack.ReasonCode)
	}

	malformed := e.s.m.refused.WithLabelValues(refuseMalformed)
	before := value(malformed)
	ping, err := e.pipe.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer ping.Close()
	_, _ = ping.Write([]byte{0xC0, 0x00})
	waitFor(t, func() bool { return value(malformed) == before+1 })
	if n := value(e.s.m.refused.WithLabelValues(refuseCapacity)); n != 1 {
		t.Errorf("refused{capacity} = %v, want 1 (the large CONNECT)", n)
	}
}

// TestDoorKeepsTheRateLimitAnswer: a full node answers an address past its
// CONNECT rate with 0x9F (MQTT 5), as OnConnect does, and counts it so.
func TestDoorKeepsTheRateLimitAnswer(t *testing.T) {
	e := startEnv(t, Config{MaxHubs: 1, TCPAddr: "127.0.0.1:0", ConnectRate: 0.001, ConnectBurst: 2})
	a := e.hub(5, hubA, secretA) // over the pipe: no address, no rate limit
	defer a.conn.Close()
	var codes []byte
	for range 3 {
		conn, err := net.Dial("tcp", e.s.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		c, ack := connectSync(t, conn, connectOpts{v: 5, id: string(hubB), user: string(hubB), pass: secretB})
		c.conn.Close()
		codes = append(codes, ack.ReasonCode)
	}
	if want := []byte{0x89, 0x89, 0x9F}; !bytes.Equal(codes, want) {
		t.Errorf("CONNACK codes % x, want % x", codes, want)
	}
	if n := value(e.s.m.refused.WithLabelValues(refuseRate)); n != 1 {
		t.Errorf("refused{connect_rate} = %v, want 1", n)
	}
}

// FuzzDoorPeek: whatever a connection sends first, the door's reading and
// decoding never panic, and for a CONNECT that mochi decodes, the door
// reads the same protocol version and client id (or leaves it to mochi).
func FuzzDoorPeek(f *testing.F) {
	for _, o := range []connectOpts{
		{v: 4, id: "hub-a", user: "hub-a", pass: "s"},
		{v: 5, id: "hub-b", user: "hub-b", pass: "s", will: "dolbom/v1/hub-b/status", receiveMax: 10},
	} {
		var buf bytes.Buffer
		pk := connectPacket(o)
		if err := pk.ConnectEncode(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0xC0, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := new([connectPeek]byte)
		n, whole := readConnect(bytes.NewReader(data), buf)
		if !whole {
			return
		}
		pc, ok := parseConnect(buf[:n])
		if !ok {
			return
		}
		var fh packets.FixedHeader
		if err := fh.Decode(buf[0]); err != nil {
			return
		}
		hdr := 2
		for buf[hdr-1]&0x80 != 0 {
			hdr++
		}
		pk := packets.Packet{FixedHeader: fh}
		if err := pk.ConnectDecode(buf[hdr:n]); err != nil {
			return
		}
		if pk.ProtocolVersion != pc.version || pk.Connect.ClientIdentifier != string(pc.id) {
			t.Errorf("door read version %d id %q; mochi decodes version %d id %q", pc.version, pc.id, pk.ProtocolVersion, pk.Connect.ClientIdentifier)
		}
	})
}
