package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// newIdleGateway builds a gateway on sc without running it and without
// listeners.
func newIdleGateway(t *testing.T, sc store.Config) *Gateway {
	t.Helper()
	dataDir := sc.DataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	g, err := New(context.Background(), Options{DataDir: dataDir, DatabaseURL: sc.DatabaseURL, MQTTAddr: broker.ListenerOff,
		AdminToken: "idle-test-admin-token-0123456789", Channels: ChannelOptions{FakeTwilio: true}}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Store.Close)
	return g
}

// openIncidents opens n incidents of priority prio on hub in one
// transaction and returns the highest change number.
func openIncidents(t *testing.T, st *store.Store, hub devices.HubID, prio detectors.Priority, n int) int64 {
	t.Helper()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	muts := make([]dispatch.Mutation, n)
	for i := range muts {
		id := fmt.Sprintf("inc-%s-p%d-%05d", hub, prio, i)
		muts[i] = dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: hub, Cause: detectors.CauseSOS,
				Class: detectors.ClassEmergency, Priority: prio, State: dispatch.StateOpen, Count: 1,
				Episode: at, OpenedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at}}, nil
		}}
	}
	res, err := st.ApplyIncidents(context.Background(), muts)
	if err != nil {
		t.Fatal(err)
	}
	var top int64
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		top = max(top, r.Incident.Seq)
	}
	return top
}

// The evidence keeper starts after the latest incident change, not after
// the latest of the 1,000 most urgent incidents: otherwise every restart
// replays the newer, less urgent ones (and, with 1,000 urgent incidents
// that never close, all changes since).
func TestEvidenceKeeperStartsAtTheLatestChange(t *testing.T) {
	for name, cfg := range chainBackends() {
		t.Run(name, func(t *testing.T) {
			g := newIdleGateway(t, cfg(t))
			openIncidents(t, g.Store, "hub-urgent", detectors.PriorityCritical, 1000)
			latest := openIncidents(t, g.Store, "hub-minor", detectors.Priority(4), 1)
			if got := g.latestIncidentSeq(context.Background()); got != latest {
				t.Fatalf("evidence keeper starts after change %d; the latest is %d", got, latest)
			}
		})
	}
}

// The evidence keeper's memory of kept incidents is bounded: it forgets the
// oldest (a later change of one costs an idempotent write, nothing more).
func TestEvidenceKeeperMemoryIsBounded(t *testing.T) {
	r := newRecentIDs(3)
	for i := range 10 {
		if !r.add(fmt.Sprint(i)) {
			t.Fatalf("%d taken for seen", i)
		}
		if r.add(fmt.Sprint(i)) {
			t.Fatalf("%d not remembered", i)
		}
	}
	if len(r.set) != 3 {
		t.Fatalf("remembers %d ids, want 3", len(r.set))
	}
	if !r.add("0") || r.add("9") {
		t.Error("forgot the newest or remembered the oldest")
	}
}
