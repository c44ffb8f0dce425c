package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// hubBatcher groups the per-hub lookups of concurrent CONNECTs into one
// query per batch: the credential lookups (credentials.go) and the
// ownership claims of a cluster (ownership.go). After a restart or a
// regional power cut every hub connects within a minute: at 300,000 hubs
// one PostgreSQL round trip per CONNECT was 34 µs of the gateway's CPU each
// (a third of our part of a CONNECT, CPU profile of the third round) plus
// the server's, on the two cores that also serve the emergencies. A lookup
// that finds a query under way waits for the next one, which takes
// everything queued meanwhile, so batches grow with the wave and a lone
// CONNECT waits for no timer. Each batch reads the tables as they are
// then: a revoked or disabled hub is seen exactly as by a query of its own.
type hubBatcher[V any] struct {
	// what names the lookup in errors ("hub credential").
	what string
	// lookup answers one batch of distinct ids; an id missing from its
	// result gets missing's error.
	lookup  func(ctx context.Context, ids []string) (map[devices.HubID]V, error)
	missing func(hub devices.HubID) error
	// blank is the value given with an error (nil: V's zero).
	blank func(hub devices.HubID) V

	mu      sync.Mutex
	queue   []*hubRequest[V]
	running int
}

type hubRequest[V any] struct {
	hub  devices.HubID
	val  V
	err  error
	done chan struct{}
}

const (
	// batchQueries bounds the batch queries under way at once, so that
	// one slow query does not hold every CONNECT.
	batchQueries = 2
	// batchMax bounds the ids of one query.
	batchMax = 1000
	// batchQueryTimeout bounds one batch query (milliseconds when the
	// database answers), so that a CONNECT waiting on a database that has
	// just stopped answering is refused within seconds; each caller also
	// stops waiting when its own context ends.
	batchQueryTimeout = 5 * time.Second
)

func (b *hubBatcher[V]) blankOf(hub devices.HubID) V {
	if b.blank == nil {
		var zero V
		return zero
	}
	return b.blank(hub)
}

func (b *hubBatcher[V]) get(ctx context.Context, hub devices.HubID) (V, error) {
	r := &hubRequest[V]{hub: hub, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	start := b.running < batchQueries
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		return b.blankOf(hub), fmt.Errorf("store: %s: %w", b.what, ctx.Err())
	}
}

// run queries batches until the queue is empty.
func (b *hubBatcher[V]) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), batchMax)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = append([]*hubRequest[V](nil), b.queue[n:]...)
		b.mu.Unlock()

		// Two CONNECTs of one hub (a takeover) share its id: one row
		// per id in the query.
		ids := make([]string, 0, len(batch))
		seen := make(map[devices.HubID]bool, len(batch))
		for _, r := range batch {
			if !seen[r.hub] {
				seen[r.hub] = true
				ids = append(ids, string(r.hub))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchQueryTimeout)
		found, err := b.lookup(ctx, ids)
		cancel()
		for _, r := range batch {
			switch v, ok := found[r.hub]; {
			case err != nil:
				r.val, r.err = b.blankOf(r.hub), fmt.Errorf("store: %s: %w", b.what, err)
			case !ok:
				r.val, r.err = b.blankOf(r.hub), b.missingErr(r.hub)
			default:
				r.val = v
			}
			close(r.done)
		}
	}
}

func (b *hubBatcher[V]) missingErr(hub devices.HubID) error {
	if b.missing != nil {
		return b.missing(hub)
	}
	return fmt.Errorf("store: hub %s: %w", hub, devices.ErrNotFound)
}
