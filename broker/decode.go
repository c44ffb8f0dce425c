package broker

import (
	"context"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// decodePool decodes payloads on a few long-lived goroutines instead of on
// the publishing hub's own.
//
// Why: mochi gives every connection a read goroutine whose stack rests at
// 16 KiB; decoding JSON (reflection, recursion) needs more, so each publish
// grew that stack to 32 KiB, and the next garbage collection shrank it
// again. A hub publishes about once a minute and the collector runs more
// often than that, so at 100,000 homes nearly every batch paid a stack copy
// both ways: 10% of the process's CPU (docs/performance.md). A worker's
// stack grows once and is reused; the hub's goroutine only waits.
type decodePool struct {
	limits devices.Limits
	jobs   chan *decodeJob
	ctx    context.Context // ends when the workers stop
	// free reuses jobs and their reply channels. Per pool, not global: a
	// channel must stay within the synctest bubble of the Server it serves.
	free sync.Pool
}

type decodeJob struct {
	topic   string
	payload []byte
	now     time.Time
	msg     devices.Message
	err     error
	done    chan struct{}
}

// newDecodePool returns a pool that decodes inline until run starts it.
func newDecodePool(limits devices.Limits) *decodePool {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	p := &decodePool{limits: limits, jobs: make(chan *decodeJob), ctx: stopped}
	p.free.New = func() any { return &decodeJob{done: make(chan struct{}, 1)} }
	return p
}

// run starts n workers that serve until ctx ends. Call it before any
// publish can arrive (Server.Run does, before it serves the listeners).
func (p *decodePool) run(ctx context.Context, n int, wg *sync.WaitGroup) {
	p.ctx = ctx
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-p.jobs:
					j.msg, j.err = p.limits.Decode(j.topic, j.payload, j.now)
					j.done <- struct{}{}
				}
			}
		})
	}
}

// decode is limits.Decode, run on a worker; inline when the workers have
// stopped (or never started, as in tests that build a Server without Run).
func (p *decodePool) decode(topic string, payload []byte, now time.Time) (devices.Message, error) {
	j := p.free.Get().(*decodeJob)
	j.topic, j.payload, j.now = topic, payload, now
	select {
	case p.jobs <- j:
		<-j.done // a worker that took the job always answers
	case <-p.ctx.Done():
		j.msg, j.err = p.limits.Decode(topic, payload, now)
	}
	msg, err := j.msg, j.err
	*j = decodeJob{done: j.done}
	p.free.Put(j)
	return msg, err
}
