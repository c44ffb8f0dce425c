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
	c.Notifiers = map[dispatch.Channel]dispatch.Notifier{dispatch.Channel119: stuckCAP}
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
	dc := dispatch.Config{Store: s.Incidents(), Directory: s.Registry(), Policies: pol,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		PollInterval: 50 * time.Millisecond}
	return runDispatcher(t, ctx, cancel, s, dc, tweak)
}

// untilChange reads feed until the change marker arrives and returns what
// came before it.
func untilChange(t *testing.T, feed <-chan dispatch.Incident, marker dispatch.Incident) []dispatch.Incident {
	t.Helper()
	var before []dispatch.Incident
	timeout := time.After(20 * time.Second)
	for {
		select {
		case inc, ok := <-feed:
			if !ok {
				t.Fatal("feed closed")
			}
			if inc.ID == marker.ID && inc.Seq == marker.Seq {
				return before
			}
			before = append(before, inc)
		case <-timeout:
			t.Fatalf("change %d never came; %d before it", marker.Seq, len(before))
		}
	}
}

// A console's stream starts bounded whatever the history: afresh, the
// active incidents and the latest changes; a little behind, every change
// since; far behind, a reset and the same snapshot.
func TestWatchStartIsBounded(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		h := start(t, cfg, quietPolicies, quiet)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		t0 := time.Now().Truncate(time.Second)
		active, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, t0))
		if err != nil {
			t.Fatal(err)
		}
		const history = dispatch.WatchCatchUp + dispatch.WatchRecent + 100
		storetest.CloseMany(t, h.s, history)
		top, err := h.d.LastIncidentSeq(ctx)
		if err != nil || top < int64(history) {
			t.Fatalf("LastIncidentSeq = %d, %v", top, err)
		}
		for _, tc := range []struct {
			name  string
			after int64
			want  dispatch.FeedStart
		}{
			{"afresh", 0, dispatch.FeedSnapshot},
			{"far behind", active.Seq, dispatch.FeedReset},
			{"a little behind", top - 10, dispatch.FeedCatchUp},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wctx, stop := context.WithCancel(ctx)
				defer stop()
				feed, got, err := h.d.Watch(wctx, tc.after)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("start %d, want %d", got, tc.want)
				}
				marker, err := h.d.Note(ctx, active.ID, "op", "marker "+tc.name)
				if err != nil {
					t.Fatal(err)
				}
				before := untilChange(t, feed, marker)
				seen := map[string]bool{}
				for i, inc := range before {
					if seen[inc.ID] {
						t.Errorf("%s sent twice", inc.ID)
					}
					seen[inc.ID] = true
					if i > 0 && inc.Seq <= before[i-1].Seq {
						t.Errorf("not in change order: %d after %d", inc.Seq, before[i-1].Seq)
					}
					if inc.Seq <= tc.after && tc.want == dispatch.FeedCatchUp {
						t.Errorf("caught up with change %d, before %d", inc.Seq, tc.after)
					}
				}
				switch tc.want {
				case dispatch.FeedCatchUp:
					// The 10 history changes since, and the active incident
					// (the earlier markers changed it after top).
					if len(before) != 11 || !seen[active.ID] {
						t.Errorf("caught up with %d incidents, want the 10 changed since and the active one", len(before))
					}
				default:
					if !seen[active.ID] {
						t.Error("the snapshot misses the active incident")
					}
					if len(before) > 1+dispatch.WatchRecent {
						t.Errorf("the snapshot has %d incidents, want at most the active one and %d recent", len(before), dispatch.WatchRecent)
					}
				}
			})
		}
	})
}

// TestSubscribeEndsWithTheDispatcher: a subscriber's channel closes when
// the dispatcher stops, and one that subscribes after the stop gets a
// channel that ends at once. Before, the late subscriber waited forever:
// the load simulator's incident follower, resubscribing during a gateway
// restart, caught the old dispatcher and saw none of the new one's
// incidents (82 SOS counted lost at 5,000 homes).
func TestSubscribeEndsWithTheDispatcher(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pol, err := dispatch.ParsePolicies([]byte(quietPolicies))
	if err != nil {
		t.Fatal(err)
	}
	dc := dispatch.Config{Store: s.Incidents(), Directory: s.Registry(), Policies: pol, Logger: zerolog.Nop()}
	quiet(&dc)
	d, err := dispatch.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	before, err := d.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Run is past its start once a detection is committed.
	seedHome(t, s, "hub-1")
	if _, err := d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now())); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	ends := func(name string, ch <-chan dispatch.Incident) {
		t.Helper()
		bound := time.After(10 * time.Second) // a bound on a hang, not a speed
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-bound:
				t.Fatalf("%s: the feed of a stopped dispatcher never ended", name)
			}
		}
	}
	ends("subscribed before the stop", before)
	after, err := d.Subscribe(ctx, 0)
	if err != nil {
		return // refusing is as good as ending
	}
	ends("subscribed after the stop", after)
}
