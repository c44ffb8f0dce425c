package broker

import (
	"bytes"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ackBatch gathers the PUBACKs of one worker's run through a lane and
// writes them to the hub with one system call.
//
// Why: a hub's window of publishes arrives together (a flood's 16, a
// reconnecting hub's kept messages), the worker drains them in a row, and
// Client.WritePacket wrote each PUBACK with its own write(2): 19% of the
// gateway's CPU under the flood (docs/performance.md, "Flood"). mochi has no
// call that writes several packets at once, so the batch encodes them as
// WritePacket does and writes the bytes under the client's lock, the lock
// WritePacket holds for its own write: the other writes to the hub
// (commands, a SUBACK, mochi's write loop) and ours never interleave within
// a packet. mochi's
// buffered bytes (Net.outbuf, filled only while its outbound queue is not
// empty) may be written after ours: MQTT orders a PUBACK only against the
// hub's PUBLISHes, never against the server's own packets.
//
// What the batch skips of WritePacket: the OnPacketEncode and OnPacketSent
// hooks (no hook of this broker provides them: TestNoHookSeesPacketsSent)
// and a message expiry (a PUBACK carries none).
//
// Order and durability: a PUBACK is added only after takePublish returned
// for its publish (durable for events, queued for readings, as before), in
// lane order; drain writes the batch before the lane can pass to another
// worker, before a packet handed to mochi, and after every event (an
// event's PUBACK never waits for a later one's fsync).
type ackBatch struct {
	s   *Server
	cl  *mqtt.Client // the connection buf is for
	buf bytes.Buffer
	n   int64 // PUBACKs in buf, each a publish still counted in s.publishing
}

// ackBatchKeep bounds the buffer a worker keeps between batches.
const ackBatchKeep = 4 << 10

// add encodes ack for cl at the end of the batch and reports whether it
// did; a PUBACK that cannot be sent (over the hub's maximum packet size, as
// mochi refuses it) is dropped as WritePacket drops it. Its publish stays
// counted in s.publishing until the batch is written.
func (b *ackBatch) add(cl *mqtt.Client, ack packets.Packet) bool {
	if b.cl != cl {
		// A hub's lane may hold publishes of its previous connection.
		b.flush()
		b.cl = cl
	}
	if cl.Closed() {
		return false
	}
	// What WritePacket sets before encoding.
	ack.ProtocolVersion = cl.Properties.ProtocolVersion
	ack.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0 {
		ack.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29]
	}
	ack.Mods.AllowResponseInfo = true
	mark := b.buf.Len()
	if err := ack.PubackEncode(&b.buf); err != nil {
		b.buf.Truncate(mark)
		b.s.log.Debug().Err(err).Str("hub_id", cl.ID).Msg("encode PUBACK")
		return false
	}
	if ack.Mods.MaxSize > 0 && uint32(b.buf.Len()-mark) > ack.Mods.MaxSize {
		b.buf.Truncate(mark)
		b.s.log.Debug().Err(packets.ErrPacketTooLarge).Str("hub_id", cl.ID).Msg("write PUBACK")
		return false
	}
	b.n++
	return true
}

// flush writes the batch, if any, and lets its publishes go from
// s.publishing (StopIntake waits for their PUBACKs, as it waited for each
// PUBACK written in handle before).
func (b *ackBatch) flush() {
	if b.n == 0 {
		return
	}
	cl, n := b.cl, b.n
	defer func() {
		// Written outside handle's recover: a panic in a connection's
		// Write must not end the process either.
		if r := recover(); r != nil {
			b.s.poisoned("PUBACK write", cl, nil, r)
			b.reset()
			b.s.publishing.Add(-n)
		}
	}()
	if err := b.write(cl); err != nil {
		b.s.log.Debug().Err(err).Str("hub_id", cl.ID).Int64("pubacks", n).Msg("write PUBACK")
	}
	b.reset()
	b.s.publishing.Add(-n)
}

func (b *ackBatch) reset() {
	b.n = 0
	if b.buf.Cap() > ackBatchKeep {
		b.buf = bytes.Buffer{}
	} else {
		b.buf.Reset()
	}
}

func (b *ackBatch) write(cl *mqtt.Client) error {
	if cl.Closed() {
		return mqtt.ErrConnectionClosed
	}
	if cl.Net.Conn == nil {
		return nil
	}
	written, err := func() (int, error) {
		cl.Lock()
		defer cl.Unlock()
		return cl.Net.Conn.Write(b.buf.Bytes())
	}()
	// mochi's counters, as WritePacket keeps them ($SYS).
	atomic.AddInt64(&b.s.mq.Info.BytesSent, int64(written))
	if err == nil {
		atomic.AddInt64(&b.s.mq.Info.PacketsSent, b.n)
	}
	return err
}
