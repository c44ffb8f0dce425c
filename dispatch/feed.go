package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// feed fans committed incident changes out to live subscribers (the
// console's event stream). A subscriber that falls behind is dropped (its
// channel closed) rather than slowing the writer; it resumes from the store
// with the last sequence number it saw.
//
// Changes come from this process's writer at once and, on a database
// shared by several gateways, from the follower that reads the store on
// every NOTIFY: the same change may arrive both ways, so the feed passes
// each (incident, seq) on once.
type feed struct {
	mu     sync.Mutex
	subs   map[chan Incident]struct{}
	recent recentChanges
	closed bool // the dispatcher stopped: no change will come
}

// subscriberBuffer is how many changes a subscriber may lag behind.
const subscriberBuffer = 512

func newFeed() *feed { return &feed{subs: make(map[chan Incident]struct{})} }

// changeKey names one change of one incident.
type changeKey struct {
	id  string
	seq int64
}

// recentChanges remembers the last recentWindow changes published.
type recentChanges struct {
	seen map[changeKey]struct{}
	ring []changeKey
	next int
}

// recentWindow bounds the changes remembered for de-duplication: far more
// than the follower re-reads (its window is the changes whose commit may
// still be pending, a few transactions' worth).
const recentWindow = 8192

// add reports whether k is new, remembering it.
func (r *recentChanges) add(k changeKey) bool {
	if r.seen == nil {
		r.seen = make(map[changeKey]struct{}, recentWindow)
		r.ring = make([]changeKey, recentWindow)
	}
	if _, ok := r.seen[k]; ok {
		return false
	}
	if old := r.ring[r.next]; old.seq != 0 || old.id != "" {
		delete(r.seen, old)
	}
	r.ring[r.next] = k
	r.next = (r.next + 1) % len(r.ring)
	r.seen[k] = struct{}{}
	return true
}

func (f *feed) publish(inc Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.recent.add(changeKey{inc.ID, inc.Seq}) {
		return
	}
	for ch := range f.subs {
		select {
		case ch <- inc:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

// add registers a subscriber. After closeAll its channel comes closed: a
// subscriber of a stopped dispatcher (a console's stream opened during a
// shutdown, a follower of the gateway that a restart replaced) ends at
// once, rather than wait for changes that will never come.
func (f *feed) add() chan Incident {
	ch := make(chan Incident, subscriberBuffer)
	f.mu.Lock()
	if f.closed {
		close(ch)
	} else {
		f.subs[ch] = struct{}{}
	}
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
	f.closed = true
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

// Subscribe streams incident changes with Seq greater than after: first
// those already committed (read from the store, in Seq order), then live
// ones, each incident's state once per change. Live changes come in commit
// order: on PostgreSQL a change whose sequence number was taken before
// another's may commit, and arrive, after it. On a database shared by
// several gateways the live changes include those made through the other
// gateways (see followIncidents). The channel is closed when ctx ends,
// when the dispatcher stops, or when the subscriber falls too far behind
// (resume with the last Seq seen). On a shared database it waits until Run
// has started following it.
//
// Subscribe replays everything after after: it is for followers in this
// process that must see every incident (the evidence keeper). Consoles use
// Watch, whose start is bounded.
func (d *Dispatcher) Subscribe(ctx context.Context, after int64) (<-chan Incident, error) {
	if err := d.awaitFollowing(ctx); err != nil {
		return nil, err
	}
	live := d.feed.add() // first, so nothing committed during the replay is missed
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
	return d.stream(ctx, live, after, replay), nil
}

// FeedStart says what a console's stream (Watch) begins with.
type FeedStart int

const (
	// FeedCatchUp: every change after the one given, then live changes.
	FeedCatchUp FeedStart = iota
	// FeedSnapshot: no change was given (a console starting afresh): the
	// active incidents and the latest changes, then live changes.
	FeedSnapshot
	// FeedReset: the change given is too far behind (more than
	// WatchCatchUp changes since): a snapshot follows, and the changes in
	// between are not sent; the console reloads what it shows.
	FeedReset
)

// Bounds of the start of a console's stream. A dispatcher's console shows
// the active incidents; it needs those, and the incidents that just left
// the queue (resolved, cancelled), not the history: that is in the lists
// and reports. Every tab of every console gets this start on each
// (re)connect, so it must stay small whatever the history.
const (
	// WatchCatchUp is the most changes a resuming console is sent one by
	// one; further behind, it gets a reset and a snapshot.
	WatchCatchUp = 500
	// WatchActive bounds the active incidents of a snapshot, the most
	// urgent and oldest first (as the queue shows them).
	WatchActive = 1000
	// WatchRecent is how many of the latest changes a snapshot covers
	// beside the active incidents.
	WatchRecent = 100
)

// Watch is Subscribe for a console: live changes after a bounded start
// (see FeedStart and the Watch* bounds). A snapshot is sent in Seq order,
// each incident once, so that the last event's Seq is where a reconnect
// resumes.
func (d *Dispatcher) Watch(ctx context.Context, after int64) (<-chan Incident, FeedStart, error) {
	if err := d.awaitFollowing(ctx); err != nil {
		return nil, 0, err
	}
	live := d.feed.add() // first, so nothing committed during the reads is missed
	first, start, err := d.watchStart(ctx, after)
	if err != nil {
		d.feed.remove(live)
		return nil, 0, fmt.Errorf("dispatch: watch: %w", err)
	}
	return d.stream(ctx, live, after, first), start, nil
}

func (d *Dispatcher) watchStart(ctx context.Context, after int64) ([]Incident, FeedStart, error) {
	if after > 0 {
		changed, err := d.cfg.Store.IncidentsChangedSince(ctx, after, WatchCatchUp+1)
		if err != nil {
			return nil, 0, err
		}
		if len(changed) <= WatchCatchUp {
			return changed, FeedCatchUp, nil
		}
	}
	active, err := d.cfg.Store.ListIncidents(ctx, IncidentQuery{States: ActiveStates(), Limit: WatchActive})
	if err != nil {
		return nil, 0, err
	}
	top, err := d.cfg.Store.LastIncidentSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	recent, err := d.cfg.Store.IncidentsChangedSince(ctx, max(top-WatchRecent, 0), WatchRecent)
	if err != nil {
		return nil, 0, err
	}
	// An incident in both lists was read twice: keep its latest state.
	latest := make(map[string]Incident, len(active)+len(recent))
	for _, inc := range slices.Concat(active, recent) {
		if cur, ok := latest[inc.ID]; !ok || inc.Seq > cur.Seq {
			latest[inc.ID] = inc
		}
	}
	snapshot := slices.SortedFunc(maps.Values(latest), func(a, b Incident) int { return cmp.Compare(a.Seq, b.Seq) })
	if after > 0 {
		return snapshot, FeedReset, nil
	}
	return snapshot, FeedSnapshot, nil
}

// LastIncidentSeq is the latest incident change committed: a console page
// rendered now starts its stream after it.
func (d *Dispatcher) LastIncidentSeq(ctx context.Context) (int64, error) {
	seq, err := d.cfg.Store.LastIncidentSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("dispatch: %w", err)
	}
	return seq, nil
}

// awaitFollowing waits until Run follows a shared database (see
// followIncidents): a replay read before would miss what commits between it
// and the start of following.
func (d *Dispatcher) awaitFollowing(ctx context.Context) error {
	select {
	case <-d.followReady:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dispatch: subscribe: %w", ctx.Err())
	}
}

// stream sends first, then the live changes after after that first does
// not already cover, until ctx ends or live is closed.
func (d *Dispatcher) stream(ctx context.Context, live chan Incident, after int64, first []Incident) <-chan Incident {
	out := make(chan Incident, 64)
	// A live change may also be in first (committed between add and the
	// read), or be older than what first holds of the same incident: those
	// are first's last ones (by Seq), remembered here.
	replayed := map[string]int64{}
	if n := len(first); n > 0 {
		top := slices.MaxFunc(first, func(a, b Incident) int { return cmp.Compare(a.Seq, b.Seq) }).Seq
		for _, inc := range first {
			if inc.Seq > top-recentWindow {
				replayed[inc.ID] = max(replayed[inc.ID], inc.Seq)
			}
		}
	}
	go func() {
		defer close(out)
		defer d.feed.remove(live)
		emit := func(inc Incident) bool {
			select {
			case out <- inc:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, inc := range first {
			if !emit(inc) {
				return
			}
		}
		first = nil
		for {
			select {
			case inc, ok := <-live:
				if !ok {
					return
				}
				if seq, ok := replayed[inc.ID]; ok && inc.Seq <= seq || inc.Seq <= after {
					continue
				}
				if !emit(inc) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// followIncidents feeds the changes committed by every gateway on a shared
// database to this one's subscribers: on a wake-up (a NOTIFY in the
// changing transaction; at most one read per followEvery) it reads the
// incidents changed since the highest number it has read. Sequence numbers
// are taken before commit, so a lower one can become visible after a higher
// one was read: each number skipped over is kept as a hole for holeTTL and
// asked for again by number. Most holes never fill (the incident changed
// again before it was read), which is why they are asked for by number
// rather than by re-reading everything above the oldest. The feed drops
// what it has already passed on.
func (d *Dispatcher) followIncidents(ctx context.Context, l IncidentListener) {
	wake := make(chan struct{}, 1)
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		if err := l.ListenIncidents(ctx, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}); err != nil && ctx.Err() == nil {
			d.log.Error().Err(err).Msg("incident listener stopped; the live feed shows this gateway's changes only")
		}
	}()
	defer func() { <-listenDone }()
	var f seqFollower
	start, err := l.LastIncidentSeq(ctx)
	// Subscribers read their replay only now, so that nothing committed
	// between their replay and this start is missed.
	close(d.followReady)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error().Err(err).Msg("incident follower cannot start; the live feed shows this gateway's changes only")
		}
		return
	}
	f.max = start
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-listenDone:
			return
		case <-wake:
		}
		now := time.Now()
		holes, after := f.pending(now), f.max
		for {
			page, err := l.IncidentsChangedAt(ctx, holes, after, 500)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn().Err(err).Msg("live feed: reading changed incidents failed; retried on the next wake-up")
				}
				break
			}
			for _, inc := range page {
				f.observe(inc.Seq, now)
				d.feed.publish(inc)
			}
			if len(page) < 500 {
				break
			}
			holes, after = nil, page[len(page)-1].Seq
		}
		// Under load NOTIFYs come with every commit; one read covers them
		// all, and a console does not need them faster than this.
		pace.Reset(followEvery)
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
	}
}

// followEvery is the shortest interval between two reads of the follower.
const followEvery = 20 * time.Millisecond

// holeTTL is how long a skipped sequence number is waited for: longer than
// an incident transaction runs between taking its number and committing.
const holeTTL = 2 * time.Second

// maxHoles bounds the skipped numbers tracked.
const maxHoles = 4096

// seqFollower tracks which change numbers have been read.
type seqFollower struct {
	max   int64
	holes map[int64]time.Time // skipped numbers, by when they were first skipped
}

// observe records that seq was read at now.
func (f *seqFollower) observe(seq int64, now time.Time) {
	if f.holes == nil {
		f.holes = make(map[int64]time.Time)
	}
	if seq <= f.max {
		delete(f.holes, seq)
		return
	}
	for s := max(f.max+1, seq-maxHoles); s < seq && len(f.holes) < maxHoles; s++ {
		f.holes[s] = now
	}
	f.max = seq
}

// pending returns the skipped numbers still waited for, dropping those
// older than holeTTL.
func (f *seqFollower) pending(now time.Time) []int64 {
	var out []int64
	for s, at := range f.holes {
		if now.Sub(at) > holeTTL {
			delete(f.holes, s)
			continue
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
