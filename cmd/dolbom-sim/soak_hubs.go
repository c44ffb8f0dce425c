package main

// The soak's hubs: one MQTT 5 session per simulated home over the
// in-memory listener, driven step by step by the soak (no scheduler, no
// timer of their own): each step publishes the minute's events and
// readings at QoS 1 and the soak waits for every PUBACK before moving the
// clock, so the gateway has journaled and queued all of it.

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// soakAcks counts the PUBACKs the hubs wait for and those that refused.
type soakAcks struct {
	pending sync.WaitGroup
	refused atomic.Int64 // PUBACK reason >= 0x80: the gateway refused a message
	mu      sync.Mutex
	first   string        // the first refusal or lost link, for the error
	lost    chan struct{} // closed when a link is lost: its PUBACKs never come
	once    sync.Once
}

func newSoakAcks() *soakAcks { return &soakAcks{lost: make(chan struct{})} }

func (a *soakAcks) fail(what string) {
	a.mu.Lock()
	if a.first == "" {
		a.first = what
	}
	a.mu.Unlock()
}

// linkLost fails the step at once: the soak does not reconnect.
func (a *soakAcks) linkLost(what string) {
	a.fail(what)
	a.once.Do(func() { close(a.lost) })
}

// wait returns once every message published so far is acknowledged. A
// link the gateway closed never acknowledges: the step fails at once,
// or after limit of wall time for a PUBACK lost otherwise, naming what
// went wrong first.
func (a *soakAcks) wait(ctx context.Context, limit time.Duration) error {
	done := make(chan struct{})
	go func() {
		a.pending.Wait()
		close(done)
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.lost:
	case <-t.C:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Errorf("soak: PUBACKs missing (first problem: %q)", a.first)
}

// soakHub is one home's session.
type soakHub struct {
	id      devices.HubID
	link    firmwaresim.Link
	acks    *soakAcks
	connack chan byte
	partial []byte
	pid     uint16
	out     bytes.Buffer // the frames of one step, written at once
	queued  int          // messages in out
	payload []byte       // the readings batch being encoded
	events  []devices.Event
	rs      []devices.Reading
}

// Deliver implements firmwaresim.Receiver: CONNACK and PUBACKs.
func (h *soakHub) Deliver(p []byte) {
	if len(h.partial) > 0 {
		p = append(h.partial, p...)
	}
	for len(p) > 0 {
		n, fh, err := firmwaresim.SplitFrame(p)
		if err != nil {
			h.acks.fail(string(h.id) + ": " + err.Error())
			return
		}
		if n == 0 {
			break
		}
		pk, err := firmwaresim.DecodeFrame(p[:n], fh, 5)
		p = p[n:]
		switch {
		case err != nil:
			h.acks.fail(string(h.id) + ": " + err.Error())
		case fh.Type == packets.Connack:
			h.connack <- pk.ReasonCode
		case fh.Type == packets.Puback:
			if pk.ReasonCode >= 0x80 {
				h.acks.refused.Add(1)
				h.acks.fail(fmt.Sprintf("%s: PUBACK reason 0x%02x", h.id, pk.ReasonCode))
			}
			h.acks.pending.Done()
		}
	}
	h.partial = append(h.partial[:0], p...)
}

// Closed implements firmwaresim.Receiver.
func (h *soakHub) Closed(err error) {
	h.acks.linkLost(fmt.Sprintf("%s: the gateway closed the link: %v", h.id, err))
}

// connect opens the hub's session and waits for its CONNACK. Keepalive 0:
// mochi's keepalive runs on the wall clock, and a step may take longer
// than a keepalive on a busy machine; the hubs publish every step anyway.
func (h *soakHub) connect(ctx context.Context, tr firmwaresim.Transport, secret string) error {
	h.connack = make(chan byte, 1)
	link, err := tr.Dial(ctx, h)
	if err != nil {
		return fmt.Errorf("soak: %s: dial: %w", h.id, err)
	}
	h.link = link
	h.out.Reset()
	if err := firmwaresim.AppendConnect(&h.out, firmwaresim.ConnectOptions{Version: 5, ClientID: string(h.id),
		Username: string(h.id), Password: secret, Clean: true, ReceiveMaximum: 1000}); err != nil {
		return err
	}
	if err := link.Write(h.out.Bytes()); err != nil {
		return fmt.Errorf("soak: %s: connect: %w", h.id, err)
	}
	select {
	case code := <-h.connack:
		if code != 0 {
			return fmt.Errorf("soak: %s: refused (CONNACK 0x%02x)", h.id, code)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("soak: %s: no CONNACK in 2 min of wall time", h.id)
	}
}

// publish appends one QoS 1 message to the step's frames.
func (h *soakHub) publish(ch devices.Channel, payload []byte) {
	h.pid++
	if h.pid == 0 {
		h.pid = 1
	}
	h.queued++
	_ = firmwaresim.AppendPublish(&h.out, 5, devices.Topic(h.id, ch), payload, 1, h.pid, false, false)
}

// prepare encodes what home produced in the minute from t: its events,
// then the minute's readings batch, stamped sent (the end of the minute).
// Nothing is sent: the soak prepares a minute while the gateway works on
// the one before (a home's routine does not depend on the gateway), and
// sends it once the clock has moved.
func (h *soakHub) prepare(home *firmwaresim.Home, t, sent time.Time) {
	h.out.Reset()
	h.queued = 0
	h.events = home.Events(h.events[:0], t)
	for _, e := range h.events {
		e.Hub = h.id
		h.publish(devices.ChanEvents, devices.EncodeEvent(e))
	}
	h.rs = home.Readings(h.rs[:0], t)
	// The hub's own encoding (its CPU, not the gateway's): the appender
	// writes what devices.EncodeReadings does, byte for byte, at a
	// fraction of its cost (10% of a soak's CPU with EncodeReadings).
	h.payload = firmwaresim.AppendReadings(h.payload[:0], devices.ReadingBatch{SentAt: sent, Readings: h.rs})
	h.publish(devices.ChanReadings, h.payload)
}

// send writes the prepared minute at once and counts its PUBACKs to come.
func (h *soakHub) send() (int, error) {
	h.acks.pending.Add(h.queued)
	if err := h.link.Write(h.out.Bytes()); err != nil {
		return 0, fmt.Errorf("soak: %s: %w", h.id, err)
	}
	return h.queued, nil
}
