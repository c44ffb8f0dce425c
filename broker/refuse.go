package broker

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// The door: a full node refuses a new hub before mochi sees its connection.
//
// Why: past capacity (capacity.go) the refused hubs keep trying, each
// after its backoff (protocol 17.1), and every try through mochi cost the
// gateway about 2.7 KB of garbage and a second goroutine (measured with
// BenchmarkRefusedConnect): mochi's client (its read buffer, outbound
// channel, inflight and subscription maps, a context), the decoded CONNECT,
// the write loop, and the error values of the refusal. At 450,000 homes
// for 300,000 places that garbage ran the collector 31 times in 3 minutes
// instead of ~4, and the admitted hubs' emergencies paid for it. Here a
// refusal reads the CONNECT into a pooled buffer, decodes only the
// protocol version and the client id (whether the hub holds a place or was
// served: those still go to mochi), writes a CONNACK encoded once at start
// and closes. A node with room never comes here (capacity.refusing).
//
// Everything else (bad or odd CONNECTs, hubs let in) goes to mochi as
// before, with the bytes read replayed (trackedConn.Read), so that mochi
// decides and answers them exactly as it would have.

// connectPeek bounds what the door reads: a hub's CONNECT (id, user name,
// secret, its offline status as will) is 150-300 bytes. A larger one goes
// to mochi.
const connectPeek = 1024

var peekPool = sync.Pool{New: func() any { return new([connectPeek]byte) }}

// door holds what the early refusal writes and counts, prepared at New so
// that a refusal allocates nothing of its own.
type door struct {
	// CONNACK frames: busy (MQTT 5 0x89) and connection rate exceeded (MQTT
	// 5 0x9F), with the properties mochi's SendConnack would put in (its
	// receive maximum, the reason string); MQTT 3.1.1 has 0x03 for both.
	busyV5, rateV5, unavailableV3 []byte
	refused                       map[string]prometheus.Counter // connect_refused_total by reason
}

func newDoor(receiveMax uint16, refused *prometheus.CounterVec) *door {
	ack := func(v byte, code packets.Code) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: v, ReasonCode: code.Code}
		if v == 5 {
			pk.Properties = packets.Properties{ReceiveMaximum: receiveMax, ReasonString: code.Reason}
		}
		var buf bytes.Buffer
		_ = pk.ConnackEncode(&buf) // into a bytes.Buffer: cannot fail
		return buf.Bytes()
	}
	d := &door{
		busyV5:        ack(5, packets.ErrServerBusy),
		rateV5:        ack(5, packets.ErrConnectionRateExceeded),
		unavailableV3: ack(4, v3Unavailable),
		refused:       map[string]prometheus.Counter{},
	}
	for _, reason := range []string{refuseCapacity, refuseMemory, refuseLoad, refuseRate} {
		d.refused[reason] = refused.WithLabelValues(reason)
	}
	return d
}

// peekedConnect is what the door reads of a CONNECT.
type peekedConnect struct {
	version byte   // 3 and 4: MQTT 3.1 and 3.1.1, 5: MQTT 5
	id      []byte // the client id, in the peek buffer
}

// refuseAtDoor reads the CONNECT of a connection arriving at a full node
// and refuses it there when the capacity would. refused: the connection was
// answered and closed. Otherwise peeked holds the bytes read, to be
// replayed to mochi (nil when none were), and the pooled buffer they are
// in.
func (s *Server) refuseAtDoor(c net.Conn) (refused bool, peeked []byte, buf *[connectPeek]byte) {
	buf = peekPool.Get().(*[connectPeek]byte)
	n, whole := readConnect(c, buf)
	if n == 0 {
		peekPool.Put(buf)
		return false, nil, nil
	}
	if !whole {
		return false, buf[:n], buf
	}
	pc, ok := parseConnect(buf[:n])
	if !ok || s.closing.Load() {
		return false, buf[:n], buf
	}
	// As OnConnect asks, by the claimed id: a false claim gains nothing,
	// as mochi's path checks the credentials next.
	now := time.Now()
	id := string(pc.id)
	held, served := false, s.held.heldBefore(id, now)
	if st := s.states.get(id); st != nil {
		held = st.places.Load() > 0
		served = served || st.sessionKept()
	}
	reason := s.capacity.wouldRefuse(held, served)
	if reason == "" {
		return false, buf[:n], buf
	}
	peekPool.Put(buf)
	// OnConnect checks the address's CONNECT rate before the capacity; so
	// does the door, for the same answer (and the same count of the
	// address's tries). RemoteAddr is read only here: a string per refusal
	// when a rate limit is configured.
	ack := s.door.busyV5
	if s.ipLimit != nil && !s.ipLimit.allow(c.RemoteAddr().String(), now) {
		reason, ack = refuseRate, s.door.rateV5
	}
	if pc.version < 5 {
		ack = s.door.unavailableV3
	}
	if reason != refuseRate {
		s.capacity.countRefusal(reason) // for the refusal log
	}
	s.door.refused[reason].Inc()
	// The write is bounded by the connection's CONNECT deadline
	// (deadlineListener); a hub that does not read its CONNACK is closed
	// all the same.
	_, _ = c.Write(ack)
	_ = c.Close()
	return true, nil, nil
}

// readConnect reads the first packet into buf if it is a CONNECT that fits:
// n bytes were read, whole says they are exactly the CONNECT. It reads no
// byte past the CONNECT, so that what follows stays on the connection for
// mochi, and all of it, so that the hub's write is complete (a refused
// hub then reads its CONNACK: on TCP, closing with unread bytes would
// reset the connection under it; on a pipe, its write would block).
func readConnect(c io.Reader, buf *[connectPeek]byte) (n int, whole bool) {
	// The fixed header: the type byte and up to 4 bytes of remaining
	// length, read one at a time so as not to read past a short packet.
	n, err := io.ReadFull(c, buf[:2])
	if err != nil || buf[0] != packets.Connect<<4 {
		return n, false
	}
	remaining, shift := 0, 0
	for i := 1; ; i++ {
		b := buf[i]
		remaining |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if shift += 7; i == 4 {
			return n, false // malformed: mochi says so
		}
		if _, err := io.ReadFull(c, buf[i+1:i+2]); err != nil {
			return n, false
		}
		n++
	}
	total := n + remaining
	if total > len(buf) {
		return n, false
	}
	m, err := io.ReadFull(c, buf[n:total])
	return n + m, err == nil
}

// parseConnect decodes the protocol version and client id of a whole
// CONNECT (fixed header included); ok is false for anything mochi would
// refuse or decode otherwise, which is then left to it.
func parseConnect(p []byte) (pc peekedConnect, ok bool) {
	i := 1
	for p[i]&0x80 != 0 { // the remaining length, already checked
		i++
	}
	i++
	str := func() ([]byte, bool) {
		if len(p) < i+2 {
			return nil, false
		}
		l := int(binary.BigEndian.Uint16(p[i:]))
		if len(p) < i+2+l {
			return nil, false
		}
		s := p[i+2 : i+2+l]
		i += 2 + l
		return s, true
	}
	name, ok := str()
	if !ok || len(p) < i+4 {
		return pc, false
	}
	pc.version = p[i]
	switch {
	case pc.version == 3 && string(name) == "MQIsdp", (pc.version == 4 || pc.version == 5) && string(name) == "MQTT":
	default:
		return pc, false
	}
	i += 4 // version, flags, keepalive
	if pc.version == 5 {
		props, shift := 0, 0
		for {
			if len(p) <= i || shift > 21 {
				return pc, false
			}
			b := p[i]
			i++
			props |= int(b&0x7f) << shift
			if b&0x80 == 0 {
				break
			}
			shift += 7
		}
		i += props
	}
	if pc.id, ok = str(); !ok || len(pc.id) == 0 {
		return pc, false // an empty id is mochi's to answer (it would assign one)
	}
	return pc, true
}
