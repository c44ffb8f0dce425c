package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// fakeStore is the database's side of one node: leases on a clock of its
// own (the bubble's, shifted by dbAhead), failures on demand.
type fakeStore struct {
	mu          sync.Mutex
	dbAhead     time.Duration // the database's clock minus the node's
	incarnation int64
	dead        bool  // the current incarnation was marked dead
	renewErr    error // renewals fail with it (the database unreachable)
	joinErr     error // joins fail with it
	joins       int
	solo        []bool // each join's solo
	renewals    int
	left        []Member
	adopts      []time.Time // when Adopt was called (node clock)
	orphans     []Owned     // what the next Adopt returns
	moves       []Move
	claims      []Member
	listening   map[string]func()
	changes     []RegistryChange // the registry feed, in Seq order
}

func (f *fakeStore) now() time.Time { return time.Now().Add(f.dbAhead) }

func (f *fakeStore) Join(_ context.Context, node, _ string, ttl time.Duration, solo bool) (Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.joinErr != nil {
		return Lease{}, f.joinErr
	}
	f.joins++
	f.solo = append(f.solo, solo)
	f.incarnation++
	f.dead = false
	now := f.now()
	return Lease{Member: Member{Node: node, Incarnation: f.incarnation}, Renewed: now, Expires: now.Add(ttl), Skew: f.dbAhead}, nil
}

func (f *fakeStore) Renew(_ context.Context, m Member, ttl time.Duration) (Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewErr != nil {
		return Lease{}, f.renewErr
	}
	if f.dead || m.Incarnation != f.incarnation {
		return Lease{}, ErrNotMember
	}
	f.renewals++
	now := f.now()
	return Lease{Member: m, Renewed: now, Expires: now.Add(ttl), Skew: f.dbAhead}, nil
}

func (f *fakeStore) Leave(_ context.Context, m Member) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, m)
	if m.Incarnation == f.incarnation {
		f.dead = true
	}
	return nil
}

func (f *fakeStore) Claim(_ context.Context, m Member, hub devices.HubID) (Owned, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead || m.Incarnation != f.incarnation {
		return Owned{}, ErrNotMember
	}
	f.claims = append(f.claims, m)
	return Owned{Hub: hub, Epoch: devices.Epoch(40 + m.Incarnation)}, nil
}

func (f *fakeStore) Adopt(_ context.Context, _ Member, _ time.Duration, _ bool) ([]Owned, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adopts = append(f.adopts, time.Now())
	out := f.orphans
	f.orphans = nil
	return out, nil
}

func (f *fakeStore) MovedSince(_ context.Context, _ Member, since time.Time) ([]Move, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Move
	for _, m := range f.moves {
		if m.At.After(since) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeStore) AgreeSettings(context.Context, string, []Setting) error { return nil }

func (f *fakeStore) RegistryChanges(_ context.Context, after int64, limit int) ([]RegistryChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []RegistryChange
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// change appends a registry change to the feed.
func (f *fakeStore) change(hub devices.HubID, kind ChangeKind, origin string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, RegistryChange{Seq: int64(len(f.changes) + 1), Hub: hub, Kind: kind, Origin: origin})
}

func (f *fakeStore) Listen(ctx context.Context, handlers map[string]func()) error {
	f.mu.Lock()
	f.listening = handlers
	f.mu.Unlock()
	<-ctx.Done()
	return nil
}

// notify sends a notification on channel, as the database would at a
// claim's commit.
func (f *fakeStore) notify(channel string) {
	f.mu.Lock()
	h := f.listening[channel]
	f.mu.Unlock()
	if h != nil {
		h()
	}
}

// fakeHomes records what the node told the detectors and the broker.
type fakeHomes struct {
	mu         sync.Mutex
	released   []devices.HubID
	adopted    []devices.HubID
	releaseAll int
}

func (h *fakeHomes) Release(hub devices.HubID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = append(h.released, hub)
}

func (h *fakeHomes) Adopt(homes []Owned) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range homes {
		h.adopted = append(h.adopted, o.Hub)
	}
}

func (h *fakeHomes) ReleaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseAll++
}

// testConfig: renew 1 s, TTL 3 s, scan 1 s, moves read every 5 s.
var testConfig = Config{Node: "n1", Renew: time.Second, TTL: 3 * time.Second, Scan: time.Second, MovedEvery: 5 * time.Second}

func startNode(t *testing.T, st *fakeStore, homes *fakeHomes) (*Node, context.CancelFunc, chan error) {
	t.Helper()
	n, err := NewNode(testConfig, st, homes, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return n, cancel, done
}

// A node whose lease was lost (marked dead while it was paused, or cut off
// from the database longer than the grace) lets every home go, is not
// ready meanwhile, and joins again as a new incarnation: claims from then
// on carry the new incarnation, never the old one.
func TestLostLeaseReleasesEveryHomeAndRejoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, homes := &fakeStore{}, &fakeHomes{}
		n, cancel, done := startNode(t, st, homes)
		defer func() { cancel(); <-done }()
		time.Sleep(1500 * time.Millisecond)
		if ok, why := n.Ready(); !ok {
			t.Fatalf("not ready after joining: %s", why)
		}
		if _, err := n.Claim(context.Background(), "hub-a"); err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		st.dead = true // another member marked it dead
		st.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		homes.mu.Lock()
		all := homes.releaseAll
		homes.mu.Unlock()
		st.mu.Lock()
		joins, claims := st.joins, slices.Clone(st.claims)
		st.mu.Unlock()
		if all != 1 || joins != 2 {
			t.Fatalf("after the lease was lost: %d release-alls, %d joins; want 1 and 2", all, joins)
		}
		if m := n.Member(); m.Incarnation != 2 {
			t.Errorf("running as %v, want incarnation 2", m)
		}
		if ok, why := n.Ready(); !ok {
			t.Errorf("not ready after joining again: %s", why)
		}
		epoch, err := n.Claim(context.Background(), "hub-a")
		if err != nil || epoch != 42 {
			t.Errorf("claim after rejoining: epoch %d, %v; want 42 (incarnation 2)", epoch, err)
		}
		if len(claims) != 1 || claims[0].Incarnation != 1 {
			t.Errorf("claims before the loss: %v", claims)
		}
	})
}

// After a database outage no member may adopt another's homes before
// every member had the time to renew: adoption waits for 2 x TTL of good
// renewals, counted again from the first one after the outage.
func TestNoAdoptionWithinTwoTTLsOfAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, homes := &fakeStore{}, &fakeHomes{}
		st.orphans = []Owned{{Hub: "hub-z", Epoch: 9, Adopted: true}}
		_, cancel, done := startNode(t, st, homes)
		defer func() { cancel(); <-done }()
		start := time.Now()
		st.mu.Lock()
		st.renewErr = errors.New("connection refused")
		st.mu.Unlock()
		time.Sleep(4 * time.Second) // the outage
		st.mu.Lock()
		st.renewErr = nil
		st.mu.Unlock()
		back := time.Now()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st.mu.Lock()
		adopts := slices.Clone(st.adopts)
		st.mu.Unlock()
		if len(adopts) == 0 {
			t.Fatal("never adopted after the outage")
		}
		// The first good renewal after the outage is at most one renewal
		// after it ended; adoption must wait 2 x TTL from there.
		if first := adopts[0]; first.Sub(back) < 2*testConfig.TTL-testConfig.Renew {
			t.Errorf("adopted %v after the outage ended (%v after start); want at least %v", first.Sub(back), first.Sub(start), 2*testConfig.TTL-testConfig.Renew)
		}
		homes.mu.Lock()
		defer homes.mu.Unlock()
		if !slices.Equal(homes.adopted, []devices.HubID{"hub-z"}) {
			t.Errorf("adopted %v, want [hub-z]", homes.adopted)
		}
	})
}

// A home another member took is let go when its claim is notified, and
// only once: the cursor moves past it.
func TestMovedHomesReleasedOnNotificationOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, homes := &fakeStore{}, &fakeHomes{}
		_, cancel, done := startNode(t, st, homes)
		defer func() { cancel(); <-done }()
		synctest.Wait()
		st.mu.Lock()
		st.moves = append(st.moves, Move{Hub: "hub-a", Epoch: 5, At: st.now().Add(time.Millisecond)})
		st.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		st.notify(ownersChannel)
		synctest.Wait()
		homes.mu.Lock()
		got := slices.Clone(homes.released)
		homes.mu.Unlock()
		if !slices.Equal(got, []devices.HubID{"hub-a"}) {
			t.Fatalf("released %v after the notification, want [hub-a]", got)
		}
		st.notify(ownersChannel)
		time.Sleep(11 * time.Second) // the safety net reads twice more
		synctest.Wait()
		homes.mu.Lock()
		defer homes.mu.Unlock()
		if len(homes.released) != 1 {
			t.Errorf("released %v; want hub-a once", homes.released)
		}
	})
}

// A machine whose clock is far from the database's does not join: its
// detections and due times would be off by as much.
func TestClockSkewRefusesToJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{dbAhead: 5 * time.Second}
		_, cancel, done := startNode(t, st, &fakeHomes{})
		defer cancel()
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "clock") {
			t.Fatalf("Run = %v; want a clock skew refusal", err)
		}
	})
}

func TestNodeConfigNeedsANameAndALongEnoughTTL(t *testing.T) {
	if _, err := NewNode(Config{}, &fakeStore{}, &fakeHomes{}, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "--node") {
		t.Errorf("no node name: %v", err)
	}
	if _, err := NewNode(Config{Node: "n1", Renew: 2 * time.Second, TTL: 5 * time.Second}, &fakeStore{}, &fakeHomes{}, zerolog.Nop()); err == nil {
		t.Error("TTL of 2.5 renewals accepted")
	}
}

// appliedChanges records the registry changes a node hands on.
type appliedChanges struct {
	mu   sync.Mutex
	seen []string
}

func (a *appliedChanges) Apply(c RegistryChange) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, string(c.Kind)+" "+string(c.Hub))
}

// A hub revoked or disabled through another gateway must lose its session
// here too, and a resident edited there must not be served stale from
// here: the node hands on, in order, the registry changes other nodes make
// from the moment it joined (what came before is in what it loaded), on
// their notification, and skips its own (it acted on them already).
func TestRegistryChangesOfOtherNodesHandedOnInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{}
		for i := range changesPage + 3 { // a history longer than one page
			st.change(devices.HubID(fmt.Sprintf("old-%d", i)), ChangeSensors, "n2")
		}
		applied := &appliedChanges{}
		cfg := testConfig
		cfg.Changes = applied
		n, err := NewNode(cfg, st, &fakeHomes{}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		st.change("hub-a", ChangeRevoke, "n2")
		st.change("hub-b", ChangeDisable, "n1") // this node's own
		st.change("", ChangeResident, "n3")
		st.notify(registryChannel)
		synctest.Wait()
		applied.mu.Lock()
		got := slices.Clone(applied.seen)
		applied.mu.Unlock()
		want := []string{"revoke hub-a", "resident "}
		if !slices.Equal(got, want) {
			t.Fatalf("changes handed on %q, want %q (none from before the join, none of its own)", got, want)
		}
		time.Sleep(11 * time.Second) // the safety net reads again: nothing twice
		synctest.Wait()
		applied.mu.Lock()
		defer applied.mu.Unlock()
		if len(applied.seen) != 2 {
			t.Errorf("changes handed on %q after the safety net; want each once", applied.seen)
		}
	})
}

// stopAndLeave ends n's Run as a graceful stop does, then gives its lease
// up.
func stopAndLeave(t *testing.T, n *Node, cancel context.CancelFunc, done chan error) {
	t.Helper()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A graceful stop gives the lease up once Run has returned: the member is
// marked dead for the other nodes to adopt its homes at once, the node is
// no longer ready, its claims are refused, and a second Leave asks the
// store nothing.
func TestLeaveMarksTheMemberDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, homes := &fakeStore{}, &fakeHomes{}
		n, cancel, done := startNode(t, st, homes)
		synctest.Wait()
		stopAndLeave(t, n, cancel, done)
		if err := n.Leave(context.Background()); err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		left := slices.Clone(st.left)
		st.mu.Unlock()
		if !slices.Equal(left, []Member{{Node: "n1", Incarnation: 1}}) {
			t.Errorf("left as %v, want [n1#1] once", left)
		}
		if ok, why := n.Ready(); ok || why != "cluster: left" {
			t.Errorf("Ready after leaving = %v %q", ok, why)
		}
		if _, err := n.Claim(context.Background(), "hub-a"); !errors.Is(err, ErrNotMember) {
			t.Errorf("claim after leaving: %v, want ErrNotMember", err)
		}
	})
}

// A single gateway on PostgreSQL joins as a solo member before it serves
// and keeps its lease, and does nothing else: no claim goes to the store
// (every home is its own at epoch 0), no adoption scan, no moves or
// registry feed followed. Its graceful stop gives the lease up.
func TestSoloNodeOnlyKeepsItsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{orphans: []Owned{{Hub: "hub-z", Epoch: 9, Adopted: true}}}
		cfg := testConfig
		cfg.Solo = true
		n, err := NewNode(cfg, st, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		if epoch, err := n.Claim(ctx, "hub-a"); err != nil || epoch != 0 {
			t.Errorf("a single gateway's claim = %d, %v; want epoch 0 at once", epoch, err)
		}
		time.Sleep(30 * time.Second)
		st.mu.Lock()
		st.dead = true // a cluster node marked it dead (it was paused past its lease)
		st.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		stopAndLeave(t, n, cancel, done)
		st.mu.Lock()
		defer st.mu.Unlock()
		if !slices.Equal(st.solo, []bool{true, true}) {
			t.Errorf("joins as solo: %v; want two solo joins (the start, and after the lease was lost)", st.solo)
		}
		if st.renewals < 20 || len(st.adopts) != 0 || len(st.claims) != 0 || st.listening != nil {
			t.Errorf("a single gateway renewed %d times, scanned %d times, claimed %d hubs, listened %v; want renewals only",
				st.renewals, len(st.adopts), len(st.claims), st.listening)
		}
		if len(st.left) != 1 || st.left[0].Incarnation != 2 {
			t.Errorf("left as %v, want the second incarnation", st.left)
		}
	})
}

// A join that cannot succeed before ctx ends says why: the store's last
// refusal (a single gateway refused at start names what it found live).
func TestJoinGivesUpWithTheStoresReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStore{joinErr: fmt.Errorf("store: join the cluster as n1: %w: another dolbomd runs with --node n1", ErrNodeLive)}
		n, err := NewNode(testConfig, st, &fakeHomes{}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = n.Join(ctx)
		if !errors.Is(err, ErrNodeLive) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "--node n1") {
			t.Errorf("Join = %v; want the store's refusal and the deadline", err)
		}
	})
}
