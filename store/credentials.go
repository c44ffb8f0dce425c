package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// credentialBatcher groups the credential lookups of concurrent CONNECTs
// into one query per batch. After a restart or a regional power cut every
// hub connects within a minute: at 300,000 hubs one PostgreSQL round trip
// per CONNECT was 34 µs of the gateway's CPU each (a third of our part of a
// CONNECT, CPU profile of the third round) plus the server's, on the two
// cores that also serve the emergencies. A lookup that finds a query under
// way waits for the next one, which takes everything queued meanwhile, so
// batches grow with the wave and a lone CONNECT waits for no timer. Each
// batch reads the table as it is then: a revoked or disabled hub is seen
// exactly as by a query of its own.
type credentialBatcher struct {
	lookup func(ctx context.Context, ids []string) (map[devices.HubID]devices.HubCredential, error)

	mu      sync.Mutex
	queue   []*credentialRequest
	running int
}

type credentialRequest struct {
	hub  devices.HubID
	cred devices.HubCredential
	err  error
	done chan struct{}
}

const (
	// credentialQueries bounds the batch queries under way at once, so
	// that one slow query does not hold every CONNECT.
	credentialQueries = 2
	// credentialBatchMax bounds the ids of one query.
	credentialBatchMax = 1000
	// credentialQueryTimeout bounds one batch query (milliseconds when
	// the database answers), so that a CONNECT waiting on a database that
	// has just stopped answering is refused within seconds; each caller
	// also stops waiting when its own context ends. Once the store knows
	// the database is unreachable, lookups fail at once (HubCredential).
	credentialQueryTimeout = 5 * time.Second
)

func (b *credentialBatcher) get(ctx context.Context, hub devices.HubID) (devices.HubCredential, error) {
	r := &credentialRequest{hub: hub, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	start := b.running < credentialQueries
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case <-r.done:
		return r.cred, r.err
	case <-ctx.Done():
		return devices.HubCredential{Hub: hub}, fmt.Errorf("store: hub credential: %w", ctx.Err())
	}
}

// run queries batches until the queue is empty.
func (b *credentialBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), credentialBatchMax)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = append([]*credentialRequest(nil), b.queue[n:]...)
		b.mu.Unlock()

		ids := make([]string, 0, len(batch))
		for _, r := range batch {
			ids = append(ids, string(r.hub))
		}
		ctx, cancel := context.WithTimeout(context.Background(), credentialQueryTimeout)
		found, err := b.lookup(ctx, ids)
		cancel()
		for _, r := range batch {
			switch c, ok := found[r.hub]; {
			case err != nil:
				r.err = fmt.Errorf("store: hub credential: %w", err)
			case !ok:
				r.cred, r.err = devices.HubCredential{Hub: r.hub}, fmt.Errorf("store: hub %s: %w", r.hub, devices.ErrNotFound)
			default:
				r.cred = c
			}
			close(r.done)
		}
	}
}

// hubCredentials reads the credentials of ids in one query (missing ids
// are absent from the map).
func (s *database) hubCredentials(ctx context.Context, ids []string) (map[devices.HubID]devices.HubCredential, error) {
	var (
		q    string
		args []any
	)
	if s.isPostgres() {
		q, args = `SELECT id, secret_hash, disabled FROM hubs WHERE id = ANY($1)`, []any{ids}
	} else {
		q = `SELECT id, secret_hash, disabled FROM hubs WHERE id IN ` + anonPlaceholders(1, len(ids))
		args = make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
	}
	rs, err := s.be.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := make(map[devices.HubID]devices.HubCredential, len(ids))
	for rs.Next() {
		var c devices.HubCredential
		var id string
		if err := rs.Scan(&id, &c.SecretHash, &c.Disabled); err != nil {
			return nil, err
		}
		c.Hub = devices.HubID(id)
		out[c.Hub] = c
	}
	return out, rs.Err()
}
