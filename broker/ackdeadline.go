package broker

import (
	"context"
	"sync/atomic"
	"time"
)

// ackSlices is the number of deadline slices per AckTimeout: a publish
// waits for the journal at least AckTimeout and at most AckTimeout plus
// AckTimeout/ackSlices (22.5 s with the 20 s default, still below the hubs'
// own 30 s PUBACK timeout).
const ackSlices = 8

// ackDeadlines hands every publish made durable within one slice of time the
// same context: it ends AckTimeout plus one slice after the slice began, or
// when the parent (the broker's hook context) ends at shutdown. A context
// and timer per message cost ~270 bytes and 4 allocations of garbage each
// (context.WithTimeout: a timerCtx, its runtime timer and its registration
// with the parent; measured with BenchmarkReadingsToPuback), at
// 5,000-10,000 messages per second; shared, they cost one per slice. A journal that only waits on
// ctx.Done() behaves as before, bounded by AckTimeout plus at most a slice.
//
// No goroutine renews it: the first publish after a slice ends makes the
// next context, so an idle broker holds one expired context and nothing
// else.
type ackDeadlines struct {
	parent  context.Context
	timeout time.Duration
	slice   time.Duration
	cur     atomic.Pointer[ackSlice]
}

type ackSlice struct {
	ctx     context.Context
	cancel  context.CancelFunc // never needed: the deadline ends it
	renewAt time.Time          // start of the slice + slice
}

func newAckDeadlines(parent context.Context, timeout time.Duration) *ackDeadlines {
	return &ackDeadlines{parent: parent, timeout: timeout, slice: max(timeout/ackSlices, time.Millisecond)}
}

// ctx returns the context that bounds a journal wait starting at now: its
// deadline is in (now+timeout, now+timeout+slice].
func (d *ackDeadlines) ctx(now time.Time) context.Context {
	for {
		cur := d.cur.Load()
		if cur != nil && now.Before(cur.renewAt) {
			return cur.ctx
		}
		ctx, cancel := context.WithDeadline(d.parent, now.Add(d.timeout+d.slice))
		next := &ackSlice{ctx: ctx, cancel: cancel, renewAt: now.Add(d.slice)}
		if d.cur.CompareAndSwap(cur, next) {
			return ctx
		}
		// Another publish renewed it first: use theirs if it covers now.
		cancel()
	}
}
