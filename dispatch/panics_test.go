package dispatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// panicky panics while committing any group that holds a mutation of the
// poisoned fingerprint, as a bug in one incident's change would (a
// seeingStore's see).
type panicky struct {
	poisoned string
}

func (p panicky) check(muts []dispatch.Mutation) {
	for _, m := range muts {
		if m.Fingerprint == p.poisoned {
			panic("cannot plan " + m.Fingerprint)
		}
	}
}

// A panic in dispatch costs one incident's change or one notification, not
// the process: a change that panics is refused while the others in its
// group commit; a notifier that panics has its notification recorded failed
// while the other channels deliver; both are counted.
func TestDispatchRecoversPanics(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		episode := time.Now().Truncate(time.Second)
		bad := det("hub-1", detectors.CauseFall, 1, detectors.Firing, episode)
		h := start(t, cfg, fastPolicies, func(dc *dispatch.Config) {
			dc.Store = seeingStore{dc.Store.(store.Incidents), panicky{poisoned: bad.Fingerprint}.check}
		})
		h.rec.fail = func(n dispatch.Notification) (bool, error) {
			if n.Channel == dispatch.ChannelSMS {
				panic("sms notifier tripped on " + n.Key)
			}
			return false, nil
		}
		// Queued together, so that they share a group commit.
		h.d.Detect(bad)
		h.d.Detect(det("hub-1", detectors.CauseSOS, 1, detectors.Firing, episode))
		if err := h.d.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		list, err := h.d.ListIncidents(context.Background(), dispatch.IncidentQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Cause != detectors.CauseSOS {
			t.Fatalf("incidents after a group with a panicking change: %+v, want the SOS alone", list)
		}
		if _, err := h.d.HandleDetection(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "panic") {
			t.Errorf("the panicking change alone: %v, want the panic as an error", err)
		}
		eventually(t, "the SOS at 119 although the SMS notifier panics", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) >= 1
		})
		eventually(t, "the SMS recorded failed", func() bool {
			rows, err := h.d.Notifications(context.Background(), list[0].ID)
			if err != nil {
				return false
			}
			for _, r := range rows {
				if r.Channel == dispatch.ChannelSMS && r.State == dispatch.OutboxFailed {
					return true
				}
			}
			return false
		})
		if got := h.d.Panics(); got < 3 {
			t.Errorf("Panics() = %d, want at least 3 (the group, the lone change, the SMS)", got)
		}
	})
}
