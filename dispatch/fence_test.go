package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// A detection made under an epoch that is no longer its hub's (the home
// moved to another gateway) opens no incident: the store refuses it with
// ErrStaleEpoch. The same detection under the current epoch opens one.
// The dispatcher is what carries Detection.Epoch into the store's fence.
func TestStaleDetectionDoesNotOpenIncident(t *testing.T) {
	cfg := storetest.Postgres(t)
	cfg.Cluster = true
	h := start(t, cfg, fastPolicies, nil)
	ctx := context.Background()
	old, now := moveHub(t, h.s)
	episode := time.Now().Truncate(time.Second)
	sos := det("hub-1", detectors.CauseSOS, 1, detectors.Firing, episode)
	sos.Epoch = old["hub-1"].Epoch
	if inc, err := h.d.HandleDetection(ctx, sos); !errors.Is(err, dispatch.ErrStaleEpoch) {
		t.Fatalf("detection under the old epoch %d = %+v, %v; want %v", sos.Epoch, inc, err, dispatch.ErrStaleEpoch)
	}
	if incs, err := h.s.Incidents().ListIncidents(ctx, dispatch.IncidentQuery{Hub: "hub-1"}); err != nil || len(incs) != 0 {
		t.Fatalf("incidents of hub-1 after a stale detection = %+v, %v; want none", incs, err)
	}
	unfenced := sos
	unfenced.Epoch = 0
	if _, err := h.d.HandleDetection(ctx, unfenced); !errors.Is(err, store.ErrUnfenced) {
		t.Errorf("detection without an epoch in cluster mode: %v, want %v", err, store.ErrUnfenced)
	}
	sos.Epoch = now["hub-1"].Epoch
	inc, err := h.d.HandleDetection(ctx, sos)
	if err != nil || inc.Hub != "hub-1" || inc.Fingerprint != sos.Fingerprint {
		t.Fatalf("detection under the current epoch = %+v, %v; want its incident opened", inc, err)
	}
}

// TestStaleDetectionReleasesHome: a detection queued by the detectors (the
// Sink path) under an old epoch is refused, and the gateway is told the hub
// (Config.OnStale) so that its detectors let the home go.
func TestStaleDetectionReleasesHome(t *testing.T) {
	cfg := storetest.Postgres(t)
	cfg.Cluster = true
	told := make(chan []devices.HubID, 1)
	h := start(t, cfg, fastPolicies, func(c *dispatch.Config) { c.OnStale = func(hubs []devices.HubID) { told <- hubs } })
	ctx := context.Background()
	old, _ := moveHub(t, h.s)
	sos := det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now().Truncate(time.Second))
	sos.Epoch = old["hub-1"].Epoch
	h.d.Detect(sos)
	if err := h.d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case hubs := <-told:
		if len(hubs) != 1 || hubs[0] != "hub-1" {
			t.Fatalf("OnStale(%v), want hub-1", hubs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnStale was not called for a stale detection")
	}
}

// moveHub joins two nodes to the cluster of s and has n1, then n2, claim
// hub-1: the home moved, and old holds the epoch it no longer has.
func moveHub(t *testing.T, s *store.Store) (old, now map[devices.HubID]cluster.Owned) {
	t.Helper()
	ctx := context.Background()
	c := s.Cluster()
	n1, err := c.Join(ctx, "n1", "", time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := c.Join(ctx, "n2", "", time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if old, err = c.ClaimHubs(ctx, n1.Member, []devices.HubID{"hub-1"}); err != nil {
		t.Fatal(err)
	}
	if now, err = c.ClaimHubs(ctx, n2.Member, []devices.HubID{"hub-1"}); err != nil {
		t.Fatal(err)
	}
	return old, now
}
