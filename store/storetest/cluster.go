package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// testCluster: the store's cluster primitives (docs/cluster.md, "Design:
// ownership, leases and fencing"), on PostgreSQL. The embedded store
// refuses each of them with one clear error.
func testCluster(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	if cfg.DatabaseURL == "" {
		testClusterNeedsPostgres(t, cfg)
		return
	}
	suite{
		{"LeaseUsesDatabaseClock", testLeaseUsesDatabaseClock},
		{"JoinRefusesLiveNameAndSoloMix", testJoinRefusals},
		{"RestartAfterKillJoinsAtOnce", testRestartAfterKill},
		{"NameLockedWithinItsSchema", testNameLockPerSchema},
		{"LeaveMarksDeadAtOnce", testLeave},
		{"ClaimKeepsEpochForSameOwnerBumpsOnMove", testClaimEpochs},
		{"ClaimRefusedWhenLeaseLost", testClaimRefusedWhenLeaseLost},
		{"AdoptOnlyAfterGraceAndSkipLocked", testAdopt},
		{"RetentionRunsOnOneNode", testRetentionOnOneNode},
		{"SettingsAgree", testSettingsAgree},
		{"VoiceSlotsSpacedAcrossStores", testVoiceSlots},
		{"RegistryFeedAfterCursor", testRegistryFeed},
	}.run(t, fresh)
}

func testClusterNeedsPostgres(t *testing.T, cfg store.Config) {
	s := open(t, cfg)
	c := s.Cluster()
	ctx := ctxT(t)
	m := cluster.Member{Node: "n1", Incarnation: 1}
	_, err := c.Join(ctx, "n1", "", time.Second, false)
	wantErr(t, "Join", err, cluster.ErrNeedsPostgres)
	_, err = c.Renew(ctx, m, time.Second)
	wantErr(t, "Renew", err, cluster.ErrNeedsPostgres)
	wantErr(t, "Leave", c.Leave(ctx, m), cluster.ErrNeedsPostgres)
	_, err = c.Claim(ctx, m, "hub-1")
	wantErr(t, "Claim", err, cluster.ErrNeedsPostgres)
	_, err = c.Adopt(ctx, m, time.Second, true)
	wantErr(t, "Adopt", err, cluster.ErrNeedsPostgres)
	_, err = c.MovedSince(ctx, m, time.Time{})
	wantErr(t, "MovedSince", err, cluster.ErrNeedsPostgres)
	wantErr(t, "AgreeSettings", c.AgreeSettings(ctx, "n1", []cluster.Setting{{Name: "cap_sender", Digest: "x"}}), cluster.ErrNeedsPostgres)
	_, _, err = c.ReserveVoiceSlot(ctx, "AC1", time.Second, time.Second)
	wantErr(t, "ReserveVoiceSlot", err, cluster.ErrNeedsPostgres)
	wantErr(t, "NoteRegistryChange", c.NoteRegistryChange(ctx, "hub-1", cluster.ChangeRevoke, "n1"), cluster.ErrNeedsPostgres)
	_, err = c.RegistryChanges(ctx, 0, 10)
	wantErr(t, "RegistryChanges", err, cluster.ErrNeedsPostgres)
	wantErr(t, "Listen", c.Listen(ctx, map[string]func(){store.RegistryChannel: func() {}}), cluster.ErrNeedsPostgres)
	_, _, err = c.TryLock(ctx, store.LockRetention)
	wantErr(t, "TryLock", err, cluster.ErrNeedsPostgres)
	// One process owns the file: its retention always runs.
	if _, ran, err := s.RunRetentionAlone(ctx, time.Now()); err != nil || !ran {
		t.Errorf("RunRetentionAlone on the embedded store = ran %v, %v; want it to run", ran, err)
	}
}

// clusterFixture opens a fresh database's store, its cluster side, a raw
// connection below it and the test's context.
func clusterFixture(t *testing.T, fresh Fresh) (*store.Store, store.Cluster, rawDB, context.Context) {
	cfg := fresh(t)
	s := open(t, cfg)
	return s, s.Cluster(), openRaw(t, cfg), ctxT(t)
}

// join makes node a member with a lease of ttl, or fails the test.
func join(t *testing.T, s *store.Store, node string, ttl time.Duration) cluster.Member {
	t.Helper()
	l, err := s.Cluster().Join(ctxT(t), node, "127.0.0.1", ttl, false)
	if err != nil {
		t.Fatalf("Join(%s): %v", node, err)
	}
	return l.Member
}

// expireLease moves m's lease expiry to ago before the database's now,
// below the store, as time passing (or a paused node) would.
func expireLease(t *testing.T, raw rawDB, m cluster.Member, ago time.Duration) {
	t.Helper()
	if err := raw.exec(`UPDATE cluster_members SET expires_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $3
		WHERE node = $1 AND incarnation = $2`, m.Node, m.Incarnation, ago.Microseconds()); err != nil {
		t.Fatal(err)
	}
}

// testLeaseUsesDatabaseClock: two nodes whose clocks are an hour ahead and
// an hour behind join, renew and scan exactly as if their clocks were
// right: every lease time is the database's.
func testLeaseUsesDatabaseClock(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	ahead, behind := cfg, cfg
	ahead.Now = func() time.Time { return time.Now().Add(time.Hour) }
	behind.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	a, b := open(t, ahead), open(t, behind)
	ctx := ctxT(t)
	// The test's database runs on this machine: its clock is time.Now.
	before := time.Now()
	la, err := a.Cluster().Join(ctx, "n1", "127.0.0.2", 10*time.Second, false)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if la.Renewed.Before(before.Add(-time.Second)) || la.Renewed.After(after.Add(time.Second)) {
		t.Errorf("lease granted at %s, want the database's clock (between %s and %s), not the node's", la.Renewed, before, after)
	}
	if d := la.Expires.Sub(la.Renewed); d != 10*time.Second {
		t.Errorf("lease runs %s, want the 10s asked", d)
	}
	if la.Skew > -time.Hour+5*time.Second || la.Skew < -time.Hour-5*time.Second {
		t.Errorf("skew of a node an hour ahead = %s, want about -1h", la.Skew)
	}
	if _, err := a.Cluster().ClaimHubs(ctx, la.Member, []devices.HubID{"hub-1"}); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Cluster().Join(ctx, "n2", "127.0.0.3", 10*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	// The node an hour behind sees n1's lease live and takes nothing from it,
	// even with no grace at all.
	if adopted, err := b.Cluster().Adopt(ctx, lb.Member, 0, true); err != nil || len(adopted) != 0 {
		t.Errorf("Adopt by a node an hour behind = %v, %v; want nothing (n1 is live)", adopted, err)
	}
	// The node an hour ahead renews and claims as usual.
	lr, err := a.Cluster().Renew(ctx, la.Member, 10*time.Second)
	if err != nil || lr.Expires.Before(la.Expires) || lr.Expires.Sub(lr.Renewed) != 10*time.Second {
		t.Errorf("Renew = %+v, %v; want a 10s lease from the database's now, not before %s", lr, err, la.Expires)
	}
	if o, err := a.Cluster().Claim(ctx, la.Member, "hub-1"); err != nil || o.Epoch != 1 {
		t.Errorf("Claim after Renew = %+v, %v; want epoch 1 kept", o, err)
	}
}

// testJoinRefusals: a node name a live gateway runs as cannot join from
// another; a single gateway (solo) and cluster nodes refuse each other on
// one database.
func testJoinRefusals(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	s := open(t, cfg)
	c, raw, ctx := s.Cluster(), openRaw(t, cfg), ctxT(t)
	n1 := join(t, s, "n1", 10*time.Second)
	other := open(t, cfg) // another gateway's process
	_, err := other.Cluster().Join(ctx, "n1", "127.0.0.9", 10*time.Second, false)
	wantErr(t, "second live n1", err, cluster.ErrNodeLive)
	_, err = c.Join(ctx, "solo", "", 10*time.Second, true)
	wantErr(t, "solo beside a cluster", err, cluster.ErrSoloConflict)
	_, err = c.Join(ctx, "", "", 10*time.Second, false)
	wantErr(t, "empty node name", err, devices.ErrInvalid)
	// Once n1's lease expired, the name is free: a new incarnation, and
	// the old one is dead (its homes go to adoption).
	expireLease(t, raw, n1, time.Second)
	n1b := join(t, s, "n1", 10*time.Second)
	if n1b.Incarnation != n1.Incarnation+1 {
		t.Errorf("n1 joined again as incarnation %d, want %d", n1b.Incarnation, n1.Incarnation+1)
	}
	_, err = c.Renew(ctx, n1, 10*time.Second)
	wantErr(t, "renew of the replaced incarnation", err, cluster.ErrNotMember)
	expireLease(t, raw, n1b, time.Second)
	if _, err := c.Join(ctx, "solo", "", 10*time.Second, true); err != nil {
		t.Fatalf("solo on a database with no live member: %v", err)
	}
	_, err = c.Join(ctx, "n2", "", 10*time.Second, false)
	wantErr(t, "cluster node beside a solo gateway", err, cluster.ErrSoloConflict)
	_, err = c.Join(ctx, "solo2", "", 10*time.Second, true)
	wantErr(t, "two solo gateways", err, cluster.ErrSoloConflict)
}

// testClaimEpochs: the same incarnation claiming again keeps the epoch (a
// reconnection must not fence its own writes in flight); another node, or
// a new incarnation of the same node, bumps it, and the previous owner
// finds the move.
func testClaimEpochs(t *testing.T, fresh Fresh) {
	s, c, raw, ctx := clusterFixture(t, fresh)
	n1, n2 := join(t, s, "n1", 10*time.Second), join(t, s, "n2", 10*time.Second)
	claim := func(m cluster.Member, hub devices.HubID) cluster.Owned {
		t.Helper()
		o, err := c.Claim(ctx, m, hub)
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", m, hub, err)
		}
		return o
	}
	if o := claim(n1, "hub-1"); o.Epoch != 1 || o.Moved {
		t.Errorf("first claim = %+v, want epoch 1, not moved", o)
	}
	if o := claim(n1, "hub-1"); o.Epoch != 1 || o.Moved {
		t.Errorf("n1 reconnecting = %+v, want epoch 1 kept", o)
	}
	if o := claim(n2, "hub-1"); o.Epoch != 2 || !o.Moved || o.PrevNode != "n1" {
		t.Errorf("move to n2 = %+v, want epoch 2, moved from n1", o)
	}
	if o := claim(n2, "hub-1"); o.Epoch != 2 || o.Moved {
		t.Errorf("n2 reconnecting = %+v, want epoch 2 kept", o)
	}
	moves, err := c.MovedSince(ctx, n1, time.Time{})
	if err != nil || len(moves) != 1 || moves[0].Hub != "hub-1" || moves[0].Epoch != 2 {
		t.Errorf("MovedSince(n1) = %+v, %v; want hub-1 at epoch 2", moves, err)
	}
	if moves, err := c.MovedSince(ctx, n1, moves[0].At.Add(time.Microsecond)); err != nil || len(moves) != 0 {
		t.Errorf("MovedSince(n1) after the move = %+v, %v; want none", moves, err)
	}
	if moves, err := c.MovedSince(ctx, n2, time.Time{}); err != nil || len(moves) != 0 {
		t.Errorf("MovedSince(n2) = %+v, %v; want none", moves, err)
	}
	claim(n1, "hub-2")
	// n1 restarts: its new incarnation is another owner.
	expireLease(t, raw, n1, time.Second)
	n1b := join(t, s, "n1", 10*time.Second)
	if o := claim(n1b, "hub-2"); o.Epoch != 2 || !o.Moved {
		t.Errorf("n1's next incarnation claiming its hub = %+v, want epoch 2, moved", o)
	}
	// A connect wave: concurrent claims share queries, a hub claimed twice
	// at once (a takeover) gets one epoch.
	var wg sync.WaitGroup
	got := make([][2]cluster.Owned, 300)
	for i := range 300 {
		for k := range 2 {
			wg.Go(func() {
				o, err := c.Claim(ctx, n2, devices.HubID(fmt.Sprintf("wave-%03d", i)))
				if err != nil {
					t.Errorf("Claim in a wave: %v", err)
				}
				got[i][k] = o
			})
		}
	}
	wg.Wait()
	for i, pair := range got {
		if pair[0].Epoch != 1 || pair[1].Epoch != 1 || pair[0].Hub != devices.HubID(fmt.Sprintf("wave-%03d", i)) {
			t.Fatalf("wave claims of hub %d = %+v, want epoch 1 twice", i, pair)
		}
	}
}

// testClaimRefusedWhenLeaseLost: a node whose lease expired cannot claim
// (its homes may be adopted any moment); a late renewal is still accepted
// until another node marks it dead, and then refused.
func testClaimRefusedWhenLeaseLost(t *testing.T, fresh Fresh) {
	s, c, raw, ctx := clusterFixture(t, fresh)
	n1 := join(t, s, "n1", 10*time.Second)
	expireLease(t, raw, n1, time.Second)
	_, err := c.Claim(ctx, n1, "hub-1")
	wantErr(t, "claim on an expired lease", err, cluster.ErrNotMember)
	if _, err := c.Renew(ctx, n1, 10*time.Second); err != nil {
		t.Fatalf("late renewal before anyone marked n1 dead: %v", err)
	}
	if o, err := c.Claim(ctx, n1, "hub-1"); err != nil || o.Epoch != 1 {
		t.Fatalf("claim after the late renewal = %+v, %v", o, err)
	}
	expireLease(t, raw, n1, time.Second)
	n2 := join(t, s, "n2", 10*time.Second)
	adopted, err := c.Adopt(ctx, n2, 0, true)
	if err != nil || len(adopted) != 1 || adopted[0].Hub != "hub-1" || adopted[0].Epoch != 2 || !adopted[0].Adopted {
		t.Fatalf("Adopt by n2 = %+v, %v; want hub-1 at epoch 2", adopted, err)
	}
	_, err = c.Renew(ctx, n1, 10*time.Second)
	wantErr(t, "renewal after n1 was marked dead", err, cluster.ErrNotMember)
	_, err = c.Claim(ctx, n1, "hub-1")
	wantErr(t, "claim after n1 was marked dead", err, cluster.ErrNotMember)
	_, err = c.Claim(ctx, cluster.Member{Node: "n9", Incarnation: 1}, "hub-1")
	wantErr(t, "claim by a node that never joined", err, cluster.ErrNotMember)
}

// testAdopt: the homes of a member whose lease expired are adopted only
// after the grace; rows another adopter holds are skipped, not waited
// for; two adopters scanning at once split the orphans without overlap;
// registered hubs with no owner are adopted too, disabled ones never.
func testAdopt(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	a, b := open(t, cfg), open(t, cfg)
	raw, locker := openRaw(t, cfg), openRaw(t, cfg)
	ctx := ctxT(t)
	n1 := join(t, a, "n1", 10*time.Second)
	var hubs []devices.HubID
	// More orphans than two shares of the least a scan takes, so that
	// the split is seen.
	const orphanCount = 1000
	for i := range orphanCount {
		hubs = append(hubs, devices.HubID(fmt.Sprintf("hub-%04d", i)))
	}
	if _, err := a.Cluster().ClaimHubs(ctx, n1, hubs); err != nil {
		t.Fatal(err)
	}
	for _, id := range []devices.HubID{"reg-1", "reg-2", "reg-off"} {
		if _, err := a.Registry().CreateHub(ctx, devices.Hub{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Registry().SetHubDisabled(ctx, "reg-off", true); err != nil {
		t.Fatal(err)
	}
	n2, n3 := join(t, a, "n2", 10*time.Second), join(t, b, "n3", 10*time.Second)
	expireLease(t, raw, n1, 5*time.Second)
	if adopted, err := a.Cluster().Adopt(ctx, n2, time.Minute, false); err != nil || len(adopted) != 0 {
		t.Fatalf("Adopt within the grace, registry not asked = %+v, %v; want nothing", adopted, err)
	}
	adopted, err := a.Cluster().Adopt(ctx, n2, time.Minute, true)
	if err != nil || len(adopted) != 2 || adopted[0].Hub[:4] != "reg-" || adopted[1].Hub[:4] != "reg-" {
		t.Fatalf("Adopt within the grace, registry asked = %+v, %v; want both hubs with no owner (fewer than the least share)", adopted, err)
	}
	for _, o := range adopted {
		if o.Hub[:4] == "hub-" {
			t.Fatalf("n1's lease expired 5s ago, grace 1m: adopted %s", o.Hub)
		}
	}
	owned := map[devices.HubID]cluster.Member{}
	note := func(m cluster.Member, os []cluster.Owned) {
		for _, o := range os {
			if prev, dup := owned[o.Hub]; dup {
				t.Errorf("%s adopted by both %s and %s", o.Hub, prev, m)
			}
			owned[o.Hub] = m
			want := devices.Epoch(2)
			if o.Hub[:4] == "reg-" {
				want = 1
			}
			if o.Epoch != want || !o.Adopted {
				t.Errorf("adopted %+v, want epoch %d and Adopted", o, want)
			}
		}
	}
	note(n2, adopted)
	// Another adopter holds hub-0000..hub-0009 in its transaction.
	if err := locker.exec(`BEGIN`); err != nil {
		t.Fatal(err)
	}
	if err := locker.exec(`SELECT hub_id FROM hub_owners WHERE hub_id = ANY($1) FOR UPDATE`, []string(toStrings(hubs[:10]))); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	adopted, err = a.Cluster().Adopt(wctx, n2, time.Second, true)
	cancel()
	if err != nil {
		t.Fatalf("Adopt beside a locked share (must skip, not wait): %v", err)
	}
	orphans := 0
	for _, o := range adopted {
		if slices.Contains(hubs[:10], o.Hub) {
			t.Errorf("adopted %s, which another adopter holds", o.Hub)
		}
		if slices.Contains(hubs, o.Hub) {
			orphans++
		}
	}
	if orphans != orphanCount/2 {
		t.Errorf("n2 adopted %d of %d orphans with 2 live members, want its share of %d", orphans, orphanCount, orphanCount/2)
	}
	note(n2, adopted)
	if err := locker.exec(`ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// n2 and n3 scan at once, on two stores, until nothing is left: what
	// is left (500 homes) is less than two least shares (256 each), so one
	// round of scans takes it all, not a trickle of halves.
	round := 0
	for ; len(owned) < orphanCount+2; round++ {
		if round > 20 {
			t.Fatalf("after 20 rounds %d of %d homes adopted", len(owned), orphanCount+2)
		}
		var wg sync.WaitGroup
		var res [2][]cluster.Owned
		for i, x := range []struct {
			s *store.Store
			m cluster.Member
		}{{a, n2}, {b, n3}} {
			wg.Go(func() {
				os, err := x.s.Cluster().Adopt(ctx, x.m, time.Second, round%2 == 0)
				if err != nil {
					t.Errorf("Adopt(%s): %v", x.m, err)
				}
				res[i] = os
			})
		}
		wg.Wait()
		note(n2, res[0])
		note(n3, res[1])
	}
	if round != 1 {
		t.Errorf("the last orphans took %d rounds of scans, want 1", round)
	}
	if _, ok := owned["reg-off"]; ok {
		t.Error("a disabled hub was adopted")
	}
	if moves, err := a.Cluster().MovedSince(ctx, n1, time.Time{}); err != nil || len(moves) != orphanCount {
		t.Errorf("MovedSince(n1) = %d moves, %v; want its %d homes", len(moves), err, orphanCount)
	}
	if again, err := b.Cluster().Adopt(ctx, n3, time.Second, true); err != nil || len(again) != 0 {
		t.Errorf("a scan with no orphans left adopted %+v, %v", again, err)
	}
}

func toStrings(hubs []devices.HubID) []string {
	out := make([]string, len(hubs))
	for i, h := range hubs {
		out[i] = string(h)
	}
	return out
}

// testRetentionOnOneNode: while one gateway holds the retention lock,
// another skips its retention run; once released, it runs.
func testRetentionOnOneNode(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	a, b := open(t, cfg), open(t, cfg)
	ctx := ctxT(t)
	unlock, ok, err := a.Cluster().TryLock(ctx, store.LockRetention)
	if err != nil || !ok {
		t.Fatalf("TryLock on a free lock = %v, %v", ok, err)
	}
	if _, ran, err := b.RunRetentionAlone(ctx, time.Now()); err != nil || ran {
		t.Errorf("retention on b while a holds the lock: ran %v, %v; want skipped", ran, err)
	}
	if _, ok, err := b.Cluster().TryLock(ctx, store.LockRetention); err != nil || ok {
		t.Errorf("TryLock on a held lock = %v, %v; want not taken", ok, err)
	}
	unlock()
	if _, ran, err := b.RunRetentionAlone(ctx, time.Now()); err != nil || !ran {
		t.Errorf("retention on b after a released the lock: ran %v, %v; want it to run", ran, err)
	}
	if _, ran, err := a.RunRetentionAlone(ctx, time.Now()); err != nil || !ran {
		t.Errorf("retention on a after b's run: ran %v, %v; want it to run", ran, err)
	}
}

// testSettingsAgree: the first node records the shared settings, the next
// ones must match them, and a mismatch names the setting and who set it.
func testSettingsAgree(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	a, b := open(t, cfg), open(t, cfg)
	ctx := ctxT(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	settings := []cluster.Setting{
		{Name: "secret_key", Digest: cluster.KeyCheckValue(key)},
		{Name: "admin_token", Digest: cluster.SecretDigest(key, "admin_token", "t0ken")},
		{Name: "cap_sender", Digest: "dolbom.example.kr"},
	}
	if err := a.Cluster().AgreeSettings(ctx, "n1", settings); err != nil {
		t.Fatalf("first node: %v", err)
	}
	if err := b.Cluster().AgreeSettings(ctx, "n2", settings); err != nil {
		t.Fatalf("second node, same settings: %v", err)
	}
	other := slices.Clone(settings)
	other[2].Digest = "other.example.kr"
	err := b.Cluster().AgreeSettings(ctx, "n2", other)
	var mismatch *cluster.SettingMismatchError
	if !errors.As(err, &mismatch) || mismatch.Name != "cap_sender" || mismatch.SetBy != "n1" {
		t.Errorf("a different CAP sender = %v; want a mismatch of cap_sender set by n1", err)
	}
	if err := b.Cluster().ResetSetting(ctx, "cap_sender"); err != nil {
		t.Fatal(err)
	}
	if err := b.Cluster().AgreeSettings(ctx, "n2", other); err != nil {
		t.Errorf("after a reset the new value is recorded: %v", err)
	}
}

// testVoiceSlots: two stores (two gateways) reserving voice slots of one
// account at once get slots spaced by the interval on the database's
// clock; a reservation that would wait longer than allowed is refused.
func testVoiceSlots(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	a, b := open(t, cfg), open(t, cfg)
	ctx := ctxT(t)
	const interval = time.Second
	var mu sync.Mutex
	var slots []time.Time
	var wg sync.WaitGroup
	for _, s := range []*store.Store{a, b} {
		for range 10 {
			wg.Go(func() {
				slot, ok, err := s.Cluster().ReserveVoiceSlot(ctx, "AC-test", interval, time.Minute)
				if err != nil || !ok {
					t.Errorf("ReserveVoiceSlot = %v, %v", ok, err)
					return
				}
				if slot.Wait < 0 || slot.Wait > 21*interval {
					t.Errorf("slot wait %s, want between 0 and 20 intervals", slot.Wait)
				}
				mu.Lock()
				slots = append(slots, slot.At)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	slices.SortFunc(slots, time.Time.Compare)
	for i := 1; i < len(slots); i++ {
		if d := slots[i].Sub(slots[i-1]); d < interval {
			t.Errorf("slots %d and %d are %s apart, want at least %s", i-1, i, d, interval)
		}
	}
	// The next free slot is about 20 s away: a call that may wait 0 is
	// refused, one of another account is not.
	if _, ok, err := a.Cluster().ReserveVoiceSlot(ctx, "AC-test", interval, 0); err != nil || ok {
		t.Errorf("reservation past its wait = %v, %v; want refused", ok, err)
	}
	if slot, ok, err := b.Cluster().ReserveVoiceSlot(ctx, "AC-other", interval, 0); err != nil || !ok || slot.Wait != 0 {
		t.Errorf("first call of another account = %+v, %v, %v; want at once", slot, ok, err)
	}
	_, _, err := a.Cluster().ReserveVoiceSlot(ctx, "", interval, 0)
	wantErr(t, "slot of no account", err, devices.ErrInvalid)
}

// testRegistryFeed: registry changes of any node are read in order after
// a cursor; a listener on one connection is woken for registry changes
// and ownership moves of the other nodes.
func testRegistryFeed(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	a, b := open(t, cfg), open(t, cfg)
	ctx := ctxT(t)
	wakes := map[string]chan struct{}{store.RegistryChannel: make(chan struct{}, 16), store.OwnersChannel: make(chan struct{}, 16)}
	handlers := map[string]func(){}
	for ch, c := range wakes {
		handlers[ch] = func() {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Cluster().Listen(lctx, handlers) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen: %v", err)
		}
	}()
	waitWake := func(ch, why string) {
		t.Helper()
		select {
		case <-wakes[ch]:
		case <-time.After(20 * time.Second):
			t.Fatalf("no wake-up on %s %s", ch, why)
		}
	}
	// Every handler is called once the listener is connected.
	waitWake(store.RegistryChannel, "after connecting")
	waitWake(store.OwnersChannel, "after connecting")

	for _, ch := range []struct {
		s      *store.Store
		hub    devices.HubID
		kind   cluster.ChangeKind
		origin string
	}{{a, "hub-1", cluster.ChangeRevoke, "n1"}, {a, "hub-2", cluster.ChangeResident, "n1"}, {b, "hub-1", cluster.ChangeDisable, "n2"}} {
		if err := ch.s.Cluster().NoteRegistryChange(ctx, ch.hub, ch.kind, ch.origin); err != nil {
			t.Fatal(err)
		}
	}
	waitWake(store.RegistryChannel, "after registry changes")
	all, err := a.Cluster().RegistryChanges(ctx, 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("RegistryChanges(0) = %+v, %v; want 3", all, err)
	}
	for i, want := range []cluster.ChangeKind{cluster.ChangeRevoke, cluster.ChangeResident, cluster.ChangeDisable} {
		if all[i].Kind != want || (i > 0 && all[i].Seq <= all[i-1].Seq) {
			t.Errorf("change %d = %+v, want %s in seq order", i, all[i], want)
		}
	}
	if all[2].Origin != "n2" || all[2].Hub != "hub-1" || all[2].At.IsZero() {
		t.Errorf("last change = %+v, want hub-1 disabled by n2 with a time", all[2])
	}
	if rest, err := b.Cluster().RegistryChanges(ctx, all[0].Seq, 10); err != nil || len(rest) != 2 || rest[0].Seq != all[1].Seq {
		t.Errorf("RegistryChanges after the first = %+v, %v; want the last two", rest, err)
	}
	if one, err := b.Cluster().RegistryChanges(ctx, 0, 1); err != nil || len(one) != 1 {
		t.Errorf("RegistryChanges limit 1 = %+v, %v", one, err)
	}
	if none, err := b.Cluster().RegistryChanges(ctx, all[2].Seq, 10); err != nil || len(none) != 0 {
		t.Errorf("RegistryChanges after the newest = %+v, %v; want none", none, err)
	}
	wantErr(t, "unknown change kind", a.Cluster().NoteRegistryChange(ctx, "hub-1", "reboot", "n1"), devices.ErrInvalid)

	// Writers commit in seq order: while another writer's change is
	// uncommitted, a later one waits for it, so a reader's cursor never
	// passes a row that is still to come. (7242020 is the store's lock of
	// the feed's writers; the raw connection writes as another node would.)
	raw := openRaw(t, cfg)
	for _, q := range []string{`BEGIN`, `SELECT pg_advisory_xact_lock(7242020)`,
		`INSERT INTO registry_changes (hub_id, kind, origin, at_us) VALUES ('hub-9', 'revoke', 'n9', 1)`} {
		if err := raw.exec(q); err != nil {
			t.Fatal(err)
		}
	}
	later := make(chan error, 1)
	go func() { later <- b.Cluster().NoteRegistryChange(ctx, "hub-8", cluster.ChangeRevoke, "n2") }()
	select {
	case err := <-later:
		t.Errorf("a registry change committed beside an earlier uncommitted one (%v): a cursor could pass that one", err)
		later <- nil
	case <-time.After(300 * time.Millisecond):
	}
	if seen, err := a.Cluster().RegistryChanges(ctx, all[2].Seq, 10); err != nil || len(seen) != 0 {
		t.Errorf("RegistryChanges while the earlier change is uncommitted = %+v, %v; want none", seen, err)
	}
	if err := raw.exec(`COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	if got, err := a.Cluster().RegistryChanges(ctx, all[2].Seq, 10); err != nil || len(got) != 2 || got[0].Hub != "hub-9" || got[1].Hub != "hub-8" {
		t.Errorf("RegistryChanges after both committed = %+v, %v; want hub-9 then hub-8", got, err)
	}

	// A hub moving from n1 to n2 wakes the owners channel.
	n1, n2 := join(t, a, "n1", 10*time.Second), join(t, a, "n2", 10*time.Second)
	if _, err := a.Cluster().Claim(ctx, n1, "hub-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Cluster().Claim(ctx, n2, "hub-1"); err != nil {
		t.Fatal(err)
	}
	waitWake(store.OwnersChannel, "after hub-1 moved")
}

// testRestartAfterKill: a gateway killed (SIGKILL: no goodbye, its lease
// still live for most of its TTL) and started again with the same --node
// joins at once, not a TTL later: every hub and SOS would wait that long.
// Its old incarnation is dead from then on. Closing the first store's
// connections is what the kernel does to a killed process's sockets.
func testRestartAfterKill(t *testing.T, fresh Fresh) {
	cfg := fresh(t)
	ctx := ctxT(t)
	killed, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	old, err := killed.Cluster().Join(ctx, "n2", "127.0.0.3", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	killed.Close()
	restarted := open(t, cfg)
	var lease cluster.Lease
	deadline := time.Now().Add(5 * time.Second) // the server drops a closed session's locks within moments
	for {
		lease, err = restarted.Cluster().Join(ctx, "n2", "127.0.0.3", time.Hour, false)
		if err == nil || !errors.Is(err, cluster.ErrNodeLive) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart of a killed n2 whose lease runs for an hour more: %v; want it joined at once", err)
	}
	if lease.Incarnation != old.Incarnation+1 {
		t.Errorf("joined as incarnation %d, want %d", lease.Incarnation, old.Incarnation+1)
	}
	_, err = restarted.Cluster().Renew(ctx, old.Member, time.Hour)
	wantErr(t, "renew of the killed incarnation", err, cluster.ErrNotMember)
	// While the restarted gateway lives, a third process cannot take n2.
	third := open(t, cfg)
	_, err = third.Cluster().Join(ctx, "n2", "127.0.0.4", time.Hour, false)
	wantErr(t, "n2 while the restarted gateway lives", err, cluster.ErrNodeLive)
}

// testNameLockPerSchema: a node's name is locked within its deployment (its
// schema), not across the whole database, where advisory locks live: two
// gateways named after the same host, in two schemas of one database, both
// join.
func testNameLockPerSchema(t *testing.T, fresh Fresh) {
	a, b := open(t, fresh(t)), open(t, fresh(t))
	ctx := ctxT(t)
	if _, err := a.Cluster().Join(ctx, "host-1", "", time.Hour, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cluster().Join(ctx, "host-1", "", time.Hour, true); err != nil {
		t.Errorf("the same node name in another schema of the database: %v; want it joined", err)
	}
}

// testLeave: a gateway stopping gracefully leaves: it is dead at once, so
// the other members adopt its homes at their next scan although its lease
// would run for an hour more, and its renewals fail from then on. Leaving
// again does nothing. A single gateway that left makes way for the next at
// once.
func testLeave(t *testing.T, fresh Fresh) {
	s, c, _, ctx := clusterFixture(t, fresh)
	n1, n2 := join(t, s, "n1", time.Hour), join(t, s, "n2", time.Hour)
	if _, err := c.Claim(ctx, n1, "hub-1"); err != nil {
		t.Fatal(err)
	}
	if adopted, err := c.Adopt(ctx, n2, 10*time.Second, false); err != nil || len(adopted) != 0 {
		t.Fatalf("Adopt while n1 is live = %+v, %v; want nothing", adopted, err)
	}
	if err := c.Leave(ctx, n1); err != nil {
		t.Fatal(err)
	}
	adopted, err := c.Adopt(ctx, n2, 10*time.Second, false)
	if err != nil || len(adopted) != 1 || adopted[0].Hub != "hub-1" || !adopted[0].Adopted || adopted[0].Epoch != 2 {
		t.Errorf("Adopt after n1 left = %+v, %v; want hub-1 adopted at epoch 2, without waiting for n1's lease", adopted, err)
	}
	_, err = c.Renew(ctx, n1, time.Hour)
	wantErr(t, "renew after leaving", err, cluster.ErrNotMember)
	if err := c.Leave(ctx, n1); err != nil {
		t.Errorf("leaving again: %v", err)
	}
	if err := c.Leave(ctx, n2); err != nil {
		t.Fatal(err)
	}
	solo, err := c.Join(ctx, "solo-a", "", time.Hour, true)
	if err != nil {
		t.Fatalf("a single gateway once every node left: %v", err)
	}
	if err := c.Leave(ctx, solo.Member); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "solo-b", "", time.Hour, true); err != nil {
		t.Errorf("a second single gateway once the first left: %v; want it joined at once", err)
	}
}
