package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// testJournalPositions: every committed event gets a position, a
// redelivery gets the stored one, and a consumer's saved watermark never
// passes an event it has not reported applied, across a reopen.
func testJournalPositions(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	stop := start(t, s)
	ctx := ctxT(t)
	if pos, err := s.Journal().JournalPosition(ctx, "engine"); err != nil || pos != 0 {
		t.Fatalf("position of a new consumer = %d, %v; want 0", pos, err)
	}
	var evs []*devices.Event
	for i := range 6 {
		hub := devices.HubID(fmt.Sprintf("hub-%d", i%2))
		e := event(hub, fmt.Sprintf("e-%d", i), base)
		if fresh, err := s.Journal().AppendEvent(ctx, e); err != nil || !fresh || e.Seq == 0 {
			t.Fatalf("append %d: fresh %v, seq %d, %v", i, fresh, e.Seq, err)
		}
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Fatalf("position %d after %d: the journal's order is its commit order", e.Seq, evs[i-1].Seq)
		}
		evs = append(evs, e)
	}
	again := event(evs[2].Hub, string(evs[2].ID), base)
	if fresh, err := s.Journal().AppendEvent(ctx, again); err != nil || fresh || again.Seq != evs[2].Seq {
		t.Fatalf("redelivery: fresh %v, seq %d, %v; want not fresh with position %d", fresh, again.Seq, err, evs[2].Seq)
	}

	// Applied out of order: 1, 2, 4, 5 (not 3): the watermark stops below 3.
	seqs := func(idx ...int) []int64 {
		var out []int64
		for _, i := range idx {
			out = append(out, evs[i].Seq)
		}
		return out
	}
	if err := s.Journal().JournalApplied(ctx, "engine", seqs(0, 1, 3, 4)); err != nil {
		t.Fatalf("JournalApplied: %v", err)
	}
	if err := s.Journal().JournalApplied(ctx, "never-asked", seqs(0)); err == nil {
		t.Error("a consumer that never asked for its position could report")
	}
	stop()
	s.Close()

	s = open(t, cfg)
	start(t, s)
	pos, err := s.Journal().JournalPosition(ctx, "engine")
	if err != nil || pos != evs[1].Seq {
		t.Fatalf("saved position = %d, %v; want %d (event 3 was never reported applied)", pos, err, evs[1].Seq)
	}
	var replayed []int64
	err = s.Journal().ReplayEvents(ctx, "engine", "", pos, func(e *devices.Event) error {
		if !e.Replayed || e.Hub == "" || e.ID == "" || e.Kind != devices.EventSOS || !e.At.Equal(base) {
			t.Errorf("replayed event %+v", e)
		}
		replayed = append(replayed, e.Seq)
		return nil
	})
	if want := seqs(2, 3, 4, 5); err != nil || !slices.Equal(replayed, want) {
		t.Fatalf("replayed %v, %v; want %v in journal order", replayed, err, want)
	}
	// One hub's events after a position: what a hub moving to this gateway needs.
	replayed = replayed[:0]
	err = s.Journal().ReplayEvents(ctx, "engine", evs[3].Hub, evs[1].Seq, func(e *devices.Event) error {
		replayed = append(replayed, e.Seq)
		return nil
	})
	if want := seqs(3, 5); err != nil || !slices.Equal(replayed, want) {
		t.Fatalf("one hub's replay = %v, %v; want %v", replayed, err, want)
	}
	// Replayed positions are tracked: once all are reported, the watermark
	// reaches the newest.
	if err := s.Journal().JournalApplied(ctx, "engine", seqs(2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if pos, _ := readPosition(t, cfg, "engine"); pos != evs[5].Seq {
		t.Errorf("position after every event was applied = %d, want %d", pos, evs[5].Seq)
	}
}

// readPosition reads a consumer's saved position through a second handle,
// as the next start would.
func readPosition(t *testing.T, cfg store.Config, consumer string) (int64, error) {
	t.Helper()
	s := open(t, cfg)
	defer s.Close()
	return s.Journal().JournalPosition(ctxT(t), consumer)
}

// testPoison: inputs whose handling panicked are kept whole (within bounds)
// and listed newest first.
func testPoison(t *testing.T, fresh Fresh) {
	s := open(t, fresh(t))
	ctx := ctxT(t)
	for i := range 3 {
		p := devices.Poison{Hub: "hub-1", Stage: "engine", Channel: devices.ChanEvents, EventID: devices.EventID(fmt.Sprintf("e-%d", i)),
			Seq: int64(10 + i), Input: []byte(`{"v":1,"kind":"sos"}`), Panic: "index out of range", Stack: "goroutine 1", At: base.Add(time.Duration(i) * time.Second)}
		if err := s.Journal().KeepPoison(ctx, p); err != nil {
			t.Fatalf("KeepPoison: %v", err)
		}
	}
	huge := devices.Poison{Hub: "hub-2", Stage: "broker", Input: make([]byte, 1<<20), Panic: "x", At: base}
	if err := s.Journal().KeepPoison(ctx, huge); err != nil {
		t.Fatalf("KeepPoison of a 1 MiB input: %v", err)
	}
	list, err := s.Journal().ListPoison(ctx, 10)
	if err != nil || len(list) != 4 {
		t.Fatalf("ListPoison = %d, %v; want 4", len(list), err)
	}
	if len(list[0].Input) >= 1<<20 || list[0].Hub != "hub-2" {
		t.Errorf("newest poison %s with %d input bytes: not bounded or not first", list[0].Hub, len(list[0].Input))
	}
	if p := list[1]; p.EventID != "e-2" || p.Seq != 12 || p.Stage != "engine" || p.Channel != devices.ChanEvents ||
		string(p.Input) != `{"v":1,"kind":"sos"}` || p.Panic != "index out of range" || p.Stack != "goroutine 1" || !p.At.Equal(base.Add(2*time.Second)) {
		t.Errorf("poison read back = %+v", p)
	}
}

// testHeldHubs: a broker node's set of held hubs survives a reopen as it was
// saved (hashes with the top bit set included), each node keeps its own row,
// a later save replaces the earlier one, and a node that never saved has
// none.
func testHeldHubs(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	ctx := ctxT(t)
	if hubs, at, err := s.State().LoadHeldHubs(ctx, "node-a"); err != nil || hubs != nil || !at.IsZero() {
		t.Fatalf("LoadHeldHubs before any save = %v, %v, %v; want none", hubs, at, err)
	}
	set := make([]uint64, 300_000) // the national scale, in one row
	for i := range set {
		set[i] = uint64(i)*0x9E3779B97F4A7C15 | 1<<63
	}
	if err := s.State().SaveHeldHubs(ctx, "node-a", base, []uint64{1, 2}); err != nil {
		t.Fatalf("SaveHeldHubs: %v", err)
	}
	if err := s.State().SaveHeldHubs(ctx, "node-a", base.Add(time.Minute), set); err != nil {
		t.Fatalf("SaveHeldHubs again: %v", err)
	}
	if err := s.State().SaveHeldHubs(ctx, "node-b", base, []uint64{7}); err != nil {
		t.Fatalf("SaveHeldHubs of another node: %v", err)
	}
	s.Close()
	s = open(t, cfg)
	hubs, at, err := s.State().LoadHeldHubs(ctx, "node-a")
	if err != nil || !slices.Equal(hubs, set) || !at.Equal(base.Add(time.Minute)) {
		t.Errorf("LoadHeldHubs(node-a) = %d hubs (equal %v), %v, %v; want the later save's %d at %v",
			len(hubs), slices.Equal(hubs, set), at, err, len(set), base.Add(time.Minute))
	}
	if hubs, _, err := s.State().LoadHeldHubs(ctx, "node-b"); err != nil || !slices.Equal(hubs, []uint64{7}) {
		t.Errorf("LoadHeldHubs(node-b) = %v, %v; want [7]", hubs, err)
	}
}
