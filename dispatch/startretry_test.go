package dispatch_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// unansweredStart is a store that does not answer dispatch's first reads
// (a database restarting or hanging as the gateway starts).
type unansweredStart struct {
	store.Incidents
	policies, claims *atomic.Int32 // calls left to fail
}

var errNoAnswer = errors.New("failed to connect: timeout: context deadline exceeded")

func (u unansweredStart) Policies(ctx context.Context) (map[detectors.Cause]dispatch.Policy, error) {
	if u.policies.Add(-1) >= 0 {
		return nil, errNoAnswer
	}
	return u.Incidents.Policies(ctx)
}

func (u unansweredStart) ReleaseClaims(ctx context.Context) (int64, error) {
	if u.claims.Add(-1) >= 0 {
		return 0, errNoAnswer
	}
	return u.Incidents.ReleaseClaims(ctx)
}

// A database that does not answer when dispatch starts delays dispatch
// until it does; it does not stop it (which stopped the whole gateway:
// TestPostgresHangHubsToldBusyThenRecover, when the hang began before
// dispatch's first read).
func TestRunWaitsForTheStoreAtStart(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		var policies, claims atomic.Int32
		policies.Store(2)
		claims.Store(2)
		h := start(t, cfg, fastPolicies, func(dc *dispatch.Config) {
			dc.Store = unansweredStart{Incidents: dc.Store.(store.Incidents), policies: &policies, claims: &claims}
		})
		h.d.Detect(det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now().Truncate(time.Second)))
		eventually(t, "the SOS at 119 once the store answers", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) >= 1
		})
		if policies.Load() >= 0 {
			t.Errorf("policies read %d more times than expected: the failures were not retried", -policies.Load())
		}
	})
}
