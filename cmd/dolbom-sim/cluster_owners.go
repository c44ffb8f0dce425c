package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ownerWatch follows hub ownership (issue 16's hub_owners) after a node is
// killed or paused: when each of its hubs is owned by another node, and
// when each of its silent homes (hubs the harness switched off at the
// signal) is adopted. Before the gateways claim ownership the table is
// absent or has no row of the node, and the figures stay null.
type ownerWatch struct {
	mu     sync.Mutex
	node   string
	at     time.Time
	hubs   map[string]bool      // owned by node just before the signal
	silent map[string]bool      // switched off at the signal
	moved  map[string]time.Time // owned elsewhere since
	adopt  map[string]time.Time // silent and adopted since
}

// ownedBy returns the hubs node owns, or nil when the table does not
// exist yet (a database before migration 0012).
func ownedBy(ctx context.Context, db *pgx.Conn, node string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT hub_id FROM hub_owners WHERE node = $1 ORDER BY hub_id`, node)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
			return nil, nil
		}
		return nil, fmt.Errorf("read hub_owners: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// silence picks share of the node's hubs (at least one when it owns any)
// with seed, and returns them.
func pickSilent(hubs []string, share float64, seed uint64) []string {
	if len(hubs) == 0 || share <= 0 {
		return nil
	}
	n := max(1, int(share*float64(len(hubs))))
	rng := rand.New(rand.NewPCG(seed, 17))
	perm := rng.Perm(len(hubs))
	out := make([]string, 0, n)
	for _, i := range perm[:min(n, len(hubs))] {
		out = append(out, hubs[i])
	}
	sort.Strings(out)
	return out
}

func newOwnerWatch(node string, at time.Time, hubs, silent []string) *ownerWatch {
	w := &ownerWatch{node: node, at: at, hubs: map[string]bool{}, silent: map[string]bool{},
		moved: map[string]time.Time{}, adopt: map[string]time.Time{}}
	for _, h := range hubs {
		w.hubs[h] = true
	}
	for _, h := range silent {
		w.silent[h] = true
	}
	return w
}

// poll reads the owners of the watched hubs once; done reports that every
// hub has moved and every silent one is adopted.
func (w *ownerWatch) poll(ctx context.Context, db *pgx.Conn, now time.Time) (done bool, err error) {
	ids := w.pending()
	if len(ids) == 0 {
		return true, nil
	}
	type owner struct {
		hub, node string
		adopted   bool
	}
	rows, err := db.Query(ctx, `SELECT hub_id, node, adopted FROM hub_owners WHERE hub_id = ANY($1)`, ids)
	if err != nil {
		return false, fmt.Errorf("read hub_owners: %w", err)
	}
	owners, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (owner, error) {
		var o owner
		return o, r.Scan(&o.hub, &o.node, &o.adopted)
	})
	if err != nil {
		return false, fmt.Errorf("read hub_owners: %w", err)
	}
	w.mu.Lock()
	for _, o := range owners {
		if o.node == w.node {
			continue
		}
		if _, ok := w.moved[o.hub]; !ok {
			w.moved[o.hub] = now
		}
		if w.silent[o.hub] && o.adopted && w.adopt[o.hub].IsZero() {
			w.adopt[o.hub] = now
		}
	}
	w.mu.Unlock()
	return len(w.pending()) == 0, nil
}

// pending returns the hubs not yet owned elsewhere, or silent and not yet
// adopted.
func (w *ownerWatch) pending() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for h := range w.hubs {
		if _, ok := w.moved[h]; !ok || w.silent[h] && w.adopt[h].IsZero() {
			ids = append(ids, h)
		}
	}
	return ids
}

// figures returns the seconds from the signal until every hub was owned
// elsewhere, and until every silent hub was adopted; nil when there was
// nothing to watch or one never was.
func (w *ownerWatch) figures() (moved, adopted *float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := func(set map[string]bool, at map[string]time.Time) *float64 {
		if len(set) == 0 {
			return nil
		}
		var worst time.Duration
		for h := range set {
			t, ok := at[h]
			if !ok || t.IsZero() {
				return nil
			}
			worst = max(worst, t.Sub(w.at))
		}
		s := worst.Seconds()
		return &s
	}
	return last(w.hubs, w.moved), last(w.silent, w.adopt)
}

// watchOwners polls every 250 ms until each watch is done or ctx ends.
func watchOwners(ctx context.Context, db *pgx.Conn, watches ...*ownerWatch) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		all := true
		for _, w := range watches {
			done, err := w.poll(ctx, db, time.Now())
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			all = all && done
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watchNode is called at a node's signal: it reads the hubs the node owns,
// switches --silent of them off (their homes must then be adopted: nobody
// else will hear from them), and follows ownership until the run ends.
func (r *clusterRun) watchNode(ctx context.Context, node string, at time.Time) error {
	db, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return fmt.Errorf("watch %s's hubs: %w", node, err)
	}
	hubs, err := ownedBy(ctx, db, node)
	if err != nil {
		db.Close(context.Background())
		return err
	}
	silent := pickSilent(hubs, r.o.silent, r.o.seed)
	silentFor := r.o.silentFor
	if silentFor == 0 {
		silentFor = r.o.duration + r.o.drain // off until the end
	}
	for _, h := range silent {
		i, ok := hubIndex(h)
		if !ok || i >= r.o.homes {
			continue
		}
		r.track.silence(i)
		if err := r.fleet[i/r.perFleet].tell(fmt.Sprintf("silence %d %s", i, silentFor)); err != nil {
			db.Close(context.Background())
			return fmt.Errorf("silence %s: %w", h, err)
		}
	}
	w := newOwnerWatch(node, at, hubs, silent)
	r.watches = append(r.watches, w)
	fmt.Fprintf(r.log, "cluster: %s owned %d hubs; %d switched off (silent homes to adopt)\n", node, len(hubs), len(silent))
	if len(hubs) == 0 {
		db.Close(context.Background())
		return nil
	}
	r.watchWG.Go(func() {
		defer db.Close(context.Background())
		if err := watchOwners(ctx, db, w); err != nil {
			fmt.Fprintf(r.log, "cluster: watching %s's hubs: %v\n", node, err)
		}
	})
	return nil
}

// stateWatch counts saved home states going backwards: an epoch lower
// than one read before, or the same epoch with an older save time (a
// stale node's save over a newer one). Fencing must keep it at 0. It reads
// home_state every second; before migration 0012 (no epoch column) it
// reports nothing.
type stateWatch struct {
	last      map[string][2]int64 // hub -> epoch, updated_us
	backwards int64
	absent    bool // no epoch column
}

func (s *stateWatch) poll(ctx context.Context, db *pgx.Conn) error {
	rows, err := db.Query(ctx, `SELECT hub_id, epoch, updated_us FROM home_state`)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "42703" || pe.Code == "42P01") { // undefined column or table
			s.absent = true
			return nil
		}
		return fmt.Errorf("read home_state: %w", err)
	}
	var hub string
	var epoch, updated int64
	_, err = pgx.ForEachRow(rows, []any{&hub, &epoch, &updated}, func() error {
		prev, seen := s.last[hub]
		if seen && (epoch < prev[0] || epoch == prev[0] && updated < prev[1]) {
			s.backwards++
		}
		s.last[hub] = [2]int64{epoch, updated}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read home_state: %w", err)
	}
	return nil
}

// watchState polls until ctx ends and returns the count (nil: no epochs).
func watchState(ctx context.Context, dbURL string) (*int64, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("watch home_state: %w", err)
	}
	defer db.Close(context.Background())
	s := &stateWatch{last: map[string][2]int64{}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := s.poll(ctx, db); err != nil {
			if ctx.Err() != nil {
				return &s.backwards, nil
			}
			return nil, err
		}
		if s.absent {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return &s.backwards, nil
		case <-t.C:
		}
	}
}
