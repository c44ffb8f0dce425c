package broker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestAckDeadlinesBounds: a journal wait that starts at any moment gets a
// context whose deadline is at least AckTimeout and at most AckTimeout plus
// one slice away; publishes within a slice share one context; shutdown ends
// it early.
func TestAckDeadlinesBounds(t *testing.T) {
	const timeout = 8 * time.Second
	const slice = timeout / ackSlices
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newAckDeadlines(parent, timeout)
	t0 := time.Now()
	first := d.ctx(t0)
	tests := []struct {
		name     string
		after    time.Duration // since t0
		wantSame bool          // the context of t0
	}{
		{"slice start", 0, true},
		{"within the slice", slice / 2, true},
		{"just before the slice ends", slice - time.Nanosecond, true},
		{"slice end", slice, false},
		{"much later", 5 * timeout, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(tc.after)
			ctx := d.ctx(now)
			if same := ctx == first; same != tc.wantSame {
				t.Errorf("shares the first slice's context: %v, want %v", same, tc.wantSame)
			}
			dl, ok := ctx.Deadline()
			if !ok {
				t.Fatal("no deadline")
			}
			if left := dl.Sub(now); left < timeout || left > timeout+slice {
				t.Errorf("deadline %v after the wait starts, want within [%v, %v]", left, timeout, timeout+slice)
			}
		})
	}
	cancel()
	select {
	case <-d.ctx(time.Now()).Done():
	default:
		t.Error("the slice context outlives shutdown")
	}
}

// TestJournalThatNeverAnswersDisconnectsWithinAckTimeout: a journal that
// never returns makes the broker drop the hub (no PUBACK) no sooner than
// AckTimeout and no later than AckTimeout plus one deadline slice after the
// publish, whether the publish opens a slice or comes at the end of one.
func TestJournalThatNeverAnswersDisconnectsWithinAckTimeout(t *testing.T) {
	for _, path := range bothPaths {
		t.Run(path.name, func(t *testing.T) {
			const ackTimeout = 8 * time.Second
			const slice = ackTimeout / ackSlices
			tests := []struct {
				name    string
				channel devices.Channel
				payload func() []byte
				// intoSlice: the slice was opened this long before the publish.
				intoSlice time.Duration
			}{
				{"event opens a slice", devices.ChanEvents, func() []byte { return eventPayload("sos-1", devices.EventSOS) }, -1},
				{"event late in a slice", devices.ChanEvents, func() []byte { return eventPayload("sos-1", devices.EventSOS) }, slice - time.Millisecond},
				{"readings open a slice", devices.ChanReadings, readingsPayload, -1},
				{"readings late in a slice", devices.ChanReadings, readingsPayload, slice - time.Millisecond},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						e := startEnvOn(t, Config{AckTimeout: ackTimeout}, path)
						defer e.stop()
						e.journal.stall = make(chan struct{}) // never closed
						c := e.hub(5, hubA, secretA)
						defer c.conn.Close()
						if tc.intoSlice >= 0 {
							e.s.ackCtx.ctx(time.Now())
							time.Sleep(tc.intoSlice)
						} else {
							time.Sleep(2 * ackTimeout) // whatever slice there was has ended
						}
						start := time.Now()
						c.publish(devices.Topic(hubA, tc.channel), tc.payload(), 1, 7)
						for {
							pk, err := c.readTimeout(time.Minute)
							if errors.Is(err, errTimeout) {
								t.Fatal("still connected a minute after the publish")
							}
							if err != nil {
								break
							}
							if pk.FixedHeader.Type == packets.Puback {
								t.Fatal("PUBACK for a message the journal did not take")
							}
							if pk.FixedHeader.Type == packets.Disconnect && pk.ReasonCode != packets.ErrServerBusy.Code {
								t.Errorf("DISCONNECT %#x, want server busy", pk.ReasonCode)
							}
						}
						if took := time.Since(start); took < ackTimeout || took > ackTimeout+slice {
							t.Errorf("disconnected %v after the publish, want within [%v, %v]", took, ackTimeout, ackTimeout+slice)
						}
					})
				})
			}
		})
	}
}
