package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// quietPolicies alert 119 only, through stuckCAP: no delivery finishes
// within the test, so the only changes to an incident are the test's own.
const quietPolicies = `{
  "after_hours": {"night_from": 0, "night_to": 0, "weekends": false, "reroute": {}},
  "causes": {"sos": {"steps": [{"after": "0s", "notify": [{"to": "119", "via": "cap"}]}]}}
}`

// stuckCAP never answers before its context ends.
var stuckCAP = dispatch.NotifierFunc(func(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	<-ctx.Done()
	return "", true, ctx.Err()
})

func quiet(c *dispatch.Config) {
	c.Notifiers = map[string]dispatch.Notifier{"cap": stuckCAP}
	c.SendTimeout = time.Minute
}

// TestLiveFeedAcrossGateways runs two dispatchers on one PostgreSQL
// database, as two gateways do: each change made through A must reach a
// console subscribed to B (which makes no changes of its own), once.
func TestLiveFeedAcrossGateways(t *testing.T) {
	cfg := storetest.Postgres(t)
	a := start(t, cfg, quietPolicies, quiet) // seeds hub-1
	b := startPeer(t, cfg, quietPolicies, quiet)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	feed, err := b.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		id  string
		seq int64
	}
	seen := map[key]int{}
	// await reads B's feed until it shows want.
	await := func(what string, want dispatch.Incident) {
		t.Helper()
		for got := range feed {
			k := key{got.ID, got.Seq}
			if seen[k]++; seen[k] > 1 {
				t.Fatalf("change %d of %s passed on twice", got.Seq, got.ID)
			}
			if got.Seq > want.Seq {
				t.Fatalf("B's feed skipped %s (seq %d) and showed seq %d: %+v", what, want.Seq, got.Seq, got)
			}
			if k == (key{want.ID, want.Seq}) {
				return
			}
		}
		t.Fatalf("B's feed never showed %s made through A (seq %d); saw %v", what, want.Seq, seen)
	}
	inc, err := a.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now().Truncate(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	await("the new incident", inc)
	note, err := a.d.Note(ctx, inc.ID, "op", "called the neighbour")
	if err != nil {
		t.Fatal(err)
	}
	await("the note", note)
	assigned, err := a.d.Assign(ctx, inc.ID, "sw-7", "op")
	if err != nil {
		t.Fatal(err)
	}
	await("the assignment", assigned)
}

// startPeer starts a second dispatcher on the database of cfg without
// seeding anything (the first gateway did).
func startPeer(t *testing.T, cfg store.Config, policies string, tweak func(*dispatch.Config)) *dispatch.Dispatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := dispatch.ParsePolicies([]byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	dc := dispatch.Config{Store: s, Directory: s, Policies: pol,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		PollInterval: 50 * time.Millisecond}
	if tweak != nil {
		tweak(&dc)
	}
	d, err := dispatch.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return d
}
