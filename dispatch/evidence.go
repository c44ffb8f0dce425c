package dispatch

// Evidence keeping: the raw readings around every incident are kept past
// the raw-data retention, for the consoles and reviews. The rule (which
// window, from which change on) is the dispatch core's; the store only
// marks the window.

import (
	"context"
	"errors"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// EvidenceWindow is how much of a hub's raw data on each side of an
// incident's episode start is kept as the incident's evidence.
const EvidenceWindow = 10 * time.Minute

// ErrEvidenceOfAnotherHub is wrapped by EvidenceStore.KeepEvidence when the
// incident's evidence is already kept for another hub: nothing to warn
// about, an incident belongs to one hub.
var ErrEvidenceOfAnotherHub = errors.New("dispatch: the incident keeps evidence of another hub")

// EvidenceStore marks a hub's raw data of a span as an incident's evidence
// (idempotent; a second call widens the window) and tells the latest
// incident change committed (store.Incidents).
type EvidenceStore interface {
	KeepEvidence(ctx context.Context, incidentID string, hub devices.HubID, from, to time.Time) error
	LastIncidentSeq(ctx context.Context) (int64, error)
}

// keptIncidents is how many incidents the evidence keeper remembers having
// kept: far more than change at once on a bad day.
const keptIncidents = 8192

// KeepEvidence marks the raw readings around every new incident as its
// evidence until ctx ends. The feed closes a subscriber that falls behind
// (a burst of incidents): it resumes after the last change it saw.
func (d *Dispatcher) KeepEvidence(ctx context.Context, st EvidenceStore) error {
	last := evidenceStart(ctx, st, d)
	// KeepEvidence is idempotent: remembering the incidents already kept
	// only spares a write per later change of the same incident, so a
	// bounded memory of the latest ones does.
	kept := newRecentIDs(keptIncidents)
	for ctx.Err() == nil {
		changes, err := d.Subscribe(ctx, last)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Warn().Err(err).Msg("evidence keeper: incident feed unavailable; retrying")
			pause(ctx)
			continue
		}
		for inc := range changes {
			last = max(last, inc.Seq)
			if !kept.add(inc.ID) {
				continue
			}
			if err := st.KeepEvidence(ctx, inc.ID, inc.Hub, inc.Episode.Add(-EvidenceWindow), inc.Episode.Add(EvidenceWindow)); err != nil &&
				!errors.Is(err, ErrEvidenceOfAnotherHub) && ctx.Err() == nil {
				d.log.Warn().Err(err).Str("incident_id", inc.ID).Msg("evidence not kept")
			}
		}
	}
	return nil
}

// evidenceStart is where the evidence keeper starts: the latest incident
// change committed (incidents opened before this start were handled by the
// previous run), not the latest of a list by priority. It waits for the
// store to answer, until ctx ends: starting from 0 would go through every
// incident ever.
func evidenceStart(ctx context.Context, st EvidenceStore, d *Dispatcher) int64 {
	for {
		seq, err := st.LastIncidentSeq(ctx)
		if err == nil || ctx.Err() != nil {
			return seq
		}
		d.log.Warn().Err(err).Msg("evidence keeper: cannot read the latest incident change; retrying")
		if !pause(ctx) {
			return 0
		}
	}
}

// pause waits a second before a retry; false when ctx ended first.
func pause(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Second):
		return true
	}
}

// recentIDs is a set that remembers only the last n ids added.
type recentIDs struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add reports whether id is new, remembering it and forgetting the oldest
// id when n are remembered.
func (r *recentIDs) add(id string) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = struct{}{}
	return true
}
