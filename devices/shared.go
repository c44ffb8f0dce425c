package devices

import (
	"sync"
	"sync/atomic"
	"time"
)

// A readings batch is most of what hubs send, and its decoded form (~1.4 KB
// for the simulator's 17 readings) was the largest allocation per message
// the gateway made of its own (docs/performance.md, "Per-message costs").
// Three stages read it on their own goroutines after the broker handed it
// on: the readings writer and the two detector stages. DecodeShared takes
// the batch from a pool instead, with one holder (the caller); each stage
// that keeps it past the call that handed it over Retains it and Releases
// it once done, and the last Release puts it back. A batch not from
// DecodeShared ignores both, so a stage may Retain and Release whatever it
// is handed.

// batchPool holds emptied batches with their readings' backing arrays.
var batchPool = sync.Pool{New: func() any { return new(ReadingBatch) }}

// maxPooledReadings bounds the readings array a pooled batch keeps: a
// hub's 500-reading backlog must not stay pinned in the pool.
const maxPooledReadings = 64

// DecodeShared is DecodeFrom, with a readings batch taken from the pool
// and held once by the caller, who must Release it once it and every stage
// it handed the batch to without a Retain are done reading it (its
// Readings array is reused afterwards). Other channels decode as DecodeFrom.
func (l Limits) DecodeShared(hub HubID, ch Channel, payload []byte, now time.Time) (Message, error) {
	if ch != ChanReadings {
		return l.DecodeFrom(hub, ch, payload, now)
	}
	return l.decodeFrom(hub, ch, payload, now, true)
}

// newBatch returns a batch for n readings: a pooled one (holders 1) when
// shared, a fresh one otherwise.
func newBatch(n int, shared bool) *ReadingBatch {
	if !shared {
		return &ReadingBatch{Readings: make([]Reading, n)}
	}
	b := batchPool.Get().(*ReadingBatch)
	if cap(b.Readings) < n {
		b.Readings = make([]Reading, n)
	}
	b.Readings = b.Readings[:n]
	b.shared, b.holders = true, 1
	return b
}

// Retain records one more holder of a batch from DecodeShared; the holder
// must Release it once done. A no-op for any other batch.
func (b *ReadingBatch) Retain() {
	if b.shared {
		atomic.AddInt32(&b.holders, 1)
	}
}

// Release ends one holder's use of a batch from DecodeShared; after the
// last one the batch and its readings are reused, and nothing may read
// them any longer. A no-op for any other batch.
func (b *ReadingBatch) Release() {
	if !b.shared {
		return
	}
	switch n := atomic.AddInt32(&b.holders, -1); {
	case n > 0:
		return
	case n < 0:
		panic("devices: ReadingBatch released more often than held")
	}
	rs := b.Readings
	clear(rs) // the sensor ids, for the collector
	if cap(rs) > maxPooledReadings {
		rs = nil
	}
	// Still shared with no holder: a late Release panics (above) rather
	// than pass silently, at least until the batch is taken again.
	*b = ReadingBatch{Readings: rs[:0], shared: true}
	batchPool.Put(b)
}
