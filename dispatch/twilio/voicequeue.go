package twilio

import (
	"container/heap"
	"context"
	"time"
)

// voiceQueue grants one voice slot per interval, to the most urgent waiter
// first (lowest priority number, then first come). Twilio queues calls over
// the account's rate itself, but in its own order; ours puts P1 first.
type voiceQueue struct {
	interval time.Duration
	requests chan *voiceWaiter
	cancels  chan *voiceWaiter
}

type voiceWaiter struct {
	priority int
	seq      uint64
	granted  chan struct{}
	index    int // in the heap; -1 when out of it
}

func newVoiceQueue(interval time.Duration) *voiceQueue {
	return &voiceQueue{interval: interval, requests: make(chan *voiceWaiter), cancels: make(chan *voiceWaiter)}
}

// wait blocks until run grants a slot or ctx ends.
func (q *voiceQueue) wait(ctx context.Context, priority int) error {
	if priority <= 0 {
		priority = 4
	}
	w := &voiceWaiter{priority: priority, granted: make(chan struct{}), index: -1}
	select {
	case q.requests <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		select {
		case q.cancels <- w:
		case <-w.granted: // granted meanwhile: the slot is spent either way
		}
		return ctx.Err()
	}
}

// run owns the heap; only its goroutine touches it.
func (q *voiceQueue) run(ctx context.Context) error {
	var (
		waiting waiterHeap
		seq     uint64
		next    time.Time // earliest time of the next grant
		timer   = time.NewTimer(0)
	)
	<-timer.C
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if waiting.Len() > 0 {
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				due = timer.C
			} else {
				w := heap.Pop(&waiting).(*voiceWaiter)
				close(w.granted)
				next = time.Now().Add(q.interval)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case w := <-q.requests:
			seq++
			w.seq = seq
			heap.Push(&waiting, w)
		case w := <-q.cancels:
			if w.index >= 0 {
				heap.Remove(&waiting, w.index)
			}
		case <-due:
		}
		if due != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

type waiterHeap []*voiceWaiter

func (h waiterHeap) Len() int { return len(h) }
func (h waiterHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority < h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*voiceWaiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
