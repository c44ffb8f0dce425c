package dispatch

import (
	"context"
	"fmt"
	"sync"
)

// feed fans committed incident changes out to live subscribers (the
// console's event stream). A subscriber that falls behind is dropped (its
// channel closed) rather than slowing the writer; it resumes from the store
// with the last sequence number it saw.
type feed struct {
	mu   sync.Mutex
	subs map[chan Incident]struct{}
}

// subscriberBuffer is how many changes a subscriber may lag behind.
const subscriberBuffer = 512

func newFeed() *feed { return &feed{subs: make(map[chan Incident]struct{})} }

func (f *feed) publish(inc Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- inc:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

func (f *feed) add() chan Incident {
	ch := make(chan Incident, subscriberBuffer)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch
}

func (f *feed) remove(ch chan Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[ch]; ok {
		delete(f.subs, ch)
		close(ch)
	}
}

func (f *feed) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

// Subscribe streams incident changes with Seq greater than after: first
// those already committed (read from the store), then live ones, each
// incident's latest state once per change, in Seq order. The channel is
// closed when ctx ends, when the dispatcher stops, or when the subscriber
// falls too far behind (resume with the last Seq seen).
func (d *Dispatcher) Subscribe(ctx context.Context, after int64) (<-chan Incident, error) {
	live := d.feed.add() // first, so nothing committed during the replay is missed
	out := make(chan Incident, 64)
	var replay []Incident
	last := after
	for {
		page, err := d.cfg.Store.IncidentsChangedSince(ctx, last, 500)
		if err != nil {
			d.feed.remove(live)
			return nil, fmt.Errorf("dispatch: subscribe: %w", err)
		}
		replay = append(replay, page...)
		if len(page) < 500 {
			break
		}
		last = page[len(page)-1].Seq
	}
	go func() {
		defer close(out)
		defer d.feed.remove(live)
		sent := after
		emit := func(inc Incident) bool {
			if inc.Seq <= sent {
				return true // already replayed
			}
			select {
			case out <- inc:
				sent = inc.Seq
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, inc := range replay {
			if !emit(inc) {
				return
			}
		}
		for {
			select {
			case inc, ok := <-live:
				if !ok || !emit(inc) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
