package broker

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/internal/every"
)

// heldHubs is the node's memory of the hubs it held before its restart.
//
// Why: the load guard refuses new hubs while the node's messages wait too
// long (capacity.go). After a restart every hub is new to mochi, and the
// reconnect wave, whose hubs flush what they kept, trips the guard: at
// 300,000 hubs it refused 158,000-507,000 CONNECTs of hubs the node had
// carried a minute before, and the SOS those hubs kept waited 84-168 s
// (docs/performance.md, "After a restart"). Those hubs are the load the
// node carried, not more of it, so the guard lets them in (the cap,
// MaxHubs, and the memory guard still apply). The broker saves the set of
// hubs it holds (connected, or with a session kept) every heldSaveEvery and
// when intake stops, through the store (HeldHubs), and reads it back before
// it serves. A hub of that set is let in until its session would have
// expired (the save's time plus SessionExpiry).
//
// The set is kept as sorted 64-bit hashes of the hub ids: 2.4 MB at 300,000
// hubs, against ~30 MB for a map of the ids. A collision only lets a new hub
// past the load guard (one chance in ~6e13 per new hub at 300,000).
//
// The set held now is kept as hubs come and go (current), not found by a
// walk of every hub's state under its lock at each save, and a save whose
// set has not changed since the last one is skipped: at 300,000 hubs the
// walk and the 2.4 MB write came every minute whether anything had changed
// or not (docs/performance.md, "Where a slow SOS spends its time").
type heldHubs struct {
	store HeldHubs // nil: the directory cannot keep it; the guard judges every hub as new after a restart
	node  string
	// restored is the set read at start, nil until then (and when none was
	// saved or it had expired).
	restored atomic.Pointer[restoredHubs]
	// current counts, per hash, the hubs with a connection or a kept
	// session (more than one only when two ids collide); changes counts
	// its changes.
	current [stateShards]heldShard
	changes atomic.Uint64
	// saveMu serialises saves (the loop's and StopIntake's) and guards
	// last, what the last save wrote.
	saveMu sync.Mutex
	last   heldSave
}

type heldShard struct {
	mu sync.Mutex
	m  map[uint64]uint32
}

// heldSave is what one save wrote: the changes it included, whether the
// restored set was part of it, and when.
type heldSave struct {
	changes      uint64
	withRestored bool
	at           time.Time
}

type restoredHubs struct {
	hashes []uint64 // sorted
	until  time.Time
}

// heldSaveEvery is how often the set is saved while the node runs: after a
// crash, hubs that arrived in the last minute before it are judged new.
const heldSaveEvery = time.Minute

// heldRefreshShare of SessionExpiry is the longest a set is left unsaved
// when it has not changed: a restart judges the saved set by its time
// (until = saved + SessionExpiry), so an unchanged set is written again
// before that time lies too far back.
const heldRefreshShare = 2 // a half

// hubHash is FNV-1a, 64 bits, of a hub id: no allocation on CONNECT.
func hubHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// heldBefore reports whether hub id was among the hubs the node held when it
// last saved the set before this start, and its session would not have
// expired yet.
func (h *heldHubs) heldBefore(id string, now time.Time) bool {
	r := h.restored.Load()
	if r == nil || !now.Before(r.until) {
		return false
	}
	_, found := slices.BinarySearch(r.hashes, hubHash(id))
	return found
}

// loadHeld reads back the set saved before this start. Without it the node
// still serves: the load guard then judges every hub as new, as before.
func (s *Server) loadHeld(ctx context.Context, now time.Time) {
	if s.held.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hashes, at, err := s.held.store.LoadHeldHubs(ctx, s.held.node)
	switch {
	case err != nil:
		s.log.Warn().Err(err).Msg("hubs held before the restart not read: the load guard judges every hub as new")
		return
	case len(hashes) == 0:
		return
	}
	until := at.Add(s.cfg.SessionExpiry)
	if !now.Before(until) {
		s.log.Info().Int("hubs", len(hashes)).Time("saved", at).Msg("hubs held before the restart: saved longer ago than the session expiry, judged new")
		return
	}
	if !slices.IsSorted(hashes) { // saved by this code sorted; a set sorted otherwise would miss hubs
		hashes = slices.Clone(hashes)
		slices.Sort(hashes)
	}
	s.held.restored.Store(&restoredHubs{hashes: hashes, until: until})
	s.log.Info().Int("hubs", len(hashes)).Time("saved", at).Time("until", until).Str("node", s.held.node).
		Msg("hubs held before the restart: let back in past the load guard")
}

// holding notes that hub id now has a client in mochi (it connected with
// no session kept before). Called under the hub's st.mu, where st.client
// changes, so that the set follows st.client exactly.
func (h *heldHubs) holding(id string) {
	hash := hubHash(id)
	sh := &h.current[hash%stateShards]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]uint32)
	}
	sh.m[hash]++
	sh.mu.Unlock()
	h.changes.Add(1)
}

// released notes that hub id no longer has a client in mochi (its session
// ended or expired). Called under the hub's st.mu, as holding.
func (h *heldHubs) released(id string) {
	hash := hubHash(id)
	sh := &h.current[hash%stateShards]
	sh.mu.Lock()
	switch n := sh.m[hash]; n {
	case 0: // not held: nothing to forget
	case 1:
		delete(sh.m, hash)
	default:
		sh.m[hash] = n - 1
	}
	sh.mu.Unlock()
	h.changes.Add(1)
}

// heldNow is the set to save: every hub with a connection or a kept session,
// and the hubs held before the restart whose sessions would not have
// expired yet (they may still come back). withRestored says whether the
// latter were included.
func (s *Server) heldNow(now time.Time) (hubs []uint64, withRestored bool) {
	r := s.held.restored.Load()
	withRestored = r != nil && now.Before(r.until)
	n := 0
	for i := range s.held.current {
		sh := &s.held.current[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	if withRestored {
		n += len(r.hashes)
	}
	hubs = make([]uint64, 0, n+n/64) // room for the few that arrive meanwhile
	if withRestored {
		hubs = append(hubs, r.hashes...)
	}
	for i := range s.held.current {
		sh := &s.held.current[i]
		sh.mu.Lock()
		for h := range sh.m {
			hubs = append(hubs, h)
		}
		sh.mu.Unlock()
	}
	slices.Sort(hubs)
	return slices.Compact(hubs), withRestored
}

// saveHeld saves the set of hubs the node holds now. Unless always (the
// save at stop, whose time the next start judges the set by), a set
// unchanged since the last save is not written again until
// SessionExpiry/heldRefreshShare has passed.
func (s *Server) saveHeld(ctx context.Context, always bool) {
	if s.held.store == nil {
		return
	}
	s.held.saveMu.Lock()
	defer s.held.saveMu.Unlock()
	now := time.Now()
	// Read before the set: a change after this reading is saved next time.
	changes := s.held.changes.Load()
	r := s.held.restored.Load()
	withRestored := r != nil && now.Before(r.until)
	last := s.held.last
	if !always && !last.at.IsZero() && changes == last.changes && withRestored == last.withRestored &&
		now.Sub(last.at) < s.cfg.SessionExpiry/heldRefreshShare {
		s.m.heldSaves.WithLabelValues("unchanged").Inc()
		return
	}
	hubs, withRestored := s.heldNow(now)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.held.store.SaveHeldHubs(ctx, s.held.node, now, hubs); err != nil {
		s.m.heldSaves.WithLabelValues("failed").Inc()
		s.log.Warn().Err(err).Int("hubs", len(hubs)).Msg("hubs held not saved: after a restart the load guard may judge them new")
		return
	}
	s.held.last = heldSave{changes: changes, withRestored: withRestored, at: now}
	s.m.heldSaves.WithLabelValues("saved").Inc()
	s.log.Debug().Int("hubs", len(hubs)).Dur("took", time.Since(now)).Msg("hubs held saved")
}

// saveHeldLoop saves the set every heldSaveEvery until ctx ends.
func (s *Server) saveHeldLoop(ctx context.Context) {
	if s.held.store == nil {
		return
	}
	every.Tick(ctx, heldSaveEvery, func() { s.saveHeld(ctx, false) })
}
