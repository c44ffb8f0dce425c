package broker

import (
	"context"
	"slices"
	"sync/atomic"
	"time"
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
type heldHubs struct {
	store HeldHubs // nil: the directory cannot keep it; the guard judges every hub as new after a restart
	node  string
	// restored is the set read at start, nil until then (and when none was
	// saved or it had expired).
	restored atomic.Pointer[restoredHubs]
}

type restoredHubs struct {
	hashes []uint64 // sorted
	until  time.Time
}

// heldSaveEvery is how often the set is saved while the node runs: after a
// crash, hubs that arrived in the last minute before it are judged new.
const heldSaveEvery = time.Minute

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

// heldNow is the set to save: every hub with a connection or a kept session,
// and the hubs held before the restart whose sessions would not have
// expired yet (they may still come back).
func (s *Server) heldNow(now time.Time) []uint64 {
	var out []uint64
	if r := s.held.restored.Load(); r != nil && now.Before(r.until) {
		out = append(out, r.hashes...)
	}
	s.states.each(func(st *hubState) {
		st.mu.Lock()
		cl := st.client
		st.mu.Unlock()
		if cl != nil {
			out = append(out, hubHash(cl.ID))
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// saveHeld saves the set of hubs the node holds now.
func (s *Server) saveHeld(ctx context.Context) {
	if s.held.store == nil {
		return
	}
	now := time.Now()
	hubs := s.heldNow(now)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.held.store.SaveHeldHubs(ctx, s.held.node, now, hubs); err != nil {
		s.log.Warn().Err(err).Int("hubs", len(hubs)).Msg("hubs held not saved: after a restart the load guard may judge them new")
		return
	}
	s.log.Debug().Int("hubs", len(hubs)).Dur("took", time.Since(now)).Msg("hubs held saved")
}

// saveHeldLoop saves the set every heldSaveEvery until ctx ends.
func (s *Server) saveHeldLoop(ctx context.Context) {
	if s.held.store == nil {
		return
	}
	t := time.NewTicker(heldSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.saveHeld(ctx)
		}
	}
}
