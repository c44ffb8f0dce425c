package dispatch_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// orderStore holds the first commit until gate is closed and records the
// fingerprints in the order they are committed (its note is a
// seeingStore's see).
type orderStore struct {
	gate  chan struct{}
	once  *sync.Once
	mu    *sync.Mutex
	order *[]string
}

func (o orderStore) note(muts []dispatch.Mutation) {
	o.once.Do(func() { <-o.gate })
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range muts {
		if m.Fingerprint != "" {
			*o.order = append(*o.order, m.Fingerprint)
		}
	}
}

// An SOS detected while the writer is behind a mass hub-offline (a power
// cut: device-health detections by the thousand) is committed before them.
func TestEmergencyNotBehindDeviceHealth(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		gate := make(chan struct{})
		var mu sync.Mutex
		var order []string
		h := start(t, cfg, fastPolicies, func(dc *dispatch.Config) {
			dc.Store = seeingStore{dc.Store.(store.Incidents), orderStore{gate: gate, once: &sync.Once{}, mu: &mu, order: &order}.note}
		})
		episode := time.Now().Truncate(time.Second)
		offline := func(i int) detectors.Detection {
			hub := devices.HubID(fmt.Sprintf("hub-off-%04d", i))
			return detectors.Detection{Fingerprint: detectors.Fingerprint(hub, detectors.CauseHubOffline, "", episode), Hub: hub,
				Class: detectors.ClassDeviceHealth, Cause: detectors.CauseHubOffline, Priority: detectors.PriorityLow,
				State: detectors.Firing, Episode: episode, At: episode, Explanation: detectors.Explanation{Ko: "허브 연결 끊김", En: "hub offline"}}
		}
		h.d.Detect(offline(0)) // the writer takes it and waits at the gate
		time.Sleep(50 * time.Millisecond)
		const backlog = 600 // more than one group commit
		for i := 1; i <= backlog; i++ {
			h.d.Detect(offline(i))
		}
		sos := det("hub-1", detectors.CauseSOS, 1, detectors.Firing, episode)
		h.d.Detect(sos)
		close(gate)
		if err := h.d.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		at := slices.Index(order, sos.Fingerprint)
		if at < 0 || len(order) != backlog+2 {
			t.Fatalf("committed %d detections, SOS at %d; want %d", len(order), at, backlog+2)
		}
		if at > 1 { // after the one held at the gate, if that one was taken first
			t.Errorf("the SOS was committed %dth, behind %d device-health detections", at+1, at)
		}
	})
}
