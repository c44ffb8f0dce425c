package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPickSilent(t *testing.T) {
	var hubs []string
	for i := range 1000 {
		hubs = append(hubs, fmt.Sprintf("sim-%07d", i))
	}
	got := pickSilent(hubs, 0.01, 1)
	if len(got) != 10 {
		t.Fatalf("1%% of 1,000: %d", len(got))
	}
	if again := pickSilent(hubs, 0.01, 1); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Error("the same seed picked other hubs")
	}
	if n := len(pickSilent(hubs[:5], 0.01, 1)); n != 1 {
		t.Errorf("a node with 5 hubs: %d silent, want at least one", n)
	}
	if n := len(pickSilent(hubs, 0, 1)); n != 0 {
		t.Errorf("--silent 0: %d silent", n)
	}
}

// testDatabase creates an empty database on DOLBOM_TEST_DATABASE_URL's
// server for one test, or skips.
func testDatabase(t *testing.T) *pgx.Conn {
	t.Helper()
	base := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("DOLBOM_REQUIRE_POSTGRES") == "1" {
			t.Fatal("DOLBOM_REQUIRE_POSTGRES=1 but DOLBOM_TEST_DATABASE_URL is not set")
		}
		t.Skip("DOLBOM_TEST_DATABASE_URL not set (make test sets it)")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("cluster_owners_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	db, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// TestOwnerWatch: before migration 0012 there is nothing to watch; after
// it, the figures wait for every hub of the node to be owned elsewhere and
// every silent one to be adopted, on the real table's columns.
func TestOwnerWatch(t *testing.T) {
	db := testDatabase(t)
	ctx := context.Background()
	if hubs, err := ownedBy(ctx, db, "n2"); err != nil || hubs != nil {
		t.Fatalf("without hub_owners: %v, %v; want nothing and no error", hubs, err)
	}
	// The columns the watch reads, as in store/migrations/postgres/0012_cluster.sql.
	if _, err := db.Exec(ctx, `CREATE TABLE hub_owners (hub_id TEXT PRIMARY KEY, node TEXT NOT NULL, adopted BOOLEAN NOT NULL DEFAULT false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO hub_owners (hub_id, node) VALUES ('sim-0000001','n2'), ('sim-0000002','n2'), ('sim-0000003','n1')`); err != nil {
		t.Fatal(err)
	}
	hubs, err := ownedBy(ctx, db, "n2")
	if err != nil || fmt.Sprint(hubs) != "[sim-0000001 sim-0000002]" {
		t.Fatalf("owned by n2: %v, %v", hubs, err)
	}
	kill := time.Now()
	w := newOwnerWatch("n2", kill, hubs, []string{"sim-0000002"})
	step := func(d time.Duration, sql string) bool {
		t.Helper()
		if sql != "" {
			if _, err := db.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		done, err := w.poll(ctx, db, kill.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	if step(time.Second, "") {
		t.Fatal("done before anything moved")
	}
	step(2*time.Second, `UPDATE hub_owners SET node='n1' WHERE hub_id='sim-0000001'`)
	// The silent one is owned elsewhere first without adoption (a claim).
	step(3*time.Second, `UPDATE hub_owners SET node='n3' WHERE hub_id='sim-0000002'`)
	if moved, adopted := w.figures(); moved == nil || *moved != 3 || adopted != nil {
		t.Fatalf("moved %v adopted %v; want 3 s and not yet", moved, adopted)
	}
	if !step(7*time.Second, `UPDATE hub_owners SET adopted=true WHERE hub_id='sim-0000002'`) {
		t.Fatal("not done after the adoption")
	}
	if moved, adopted := w.figures(); *moved != 3 || adopted == nil || *adopted != 7 {
		t.Errorf("moved %v adopted %v; want 3 s and 7 s", *moved, adopted)
	}
	if m, a := newOwnerWatch("n2", kill, nil, nil).figures(); m != nil || a != nil {
		t.Errorf("nothing watched: %v %v, want null", m, a)
	}
}

// TestStateWatchCountsBackwards: a save of an older epoch, or of the same
// epoch with an older time, counts; newer saves and new homes do not.
func TestStateWatchCountsBackwards(t *testing.T) {
	db := testDatabase(t)
	ctx := context.Background()
	s := &stateWatch{last: map[string][2]int64{}}
	if err := s.poll(ctx, db); err != nil || !s.absent {
		t.Fatalf("without home_state: %v, absent %v", err, s.absent)
	}
	s.absent = false
	if _, err := db.Exec(ctx, `CREATE TABLE home_state (hub_id TEXT PRIMARY KEY, epoch BIGINT NOT NULL, updated_us BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		sql  string
		want int64
	}{
		{`INSERT INTO home_state VALUES ('a', 1, 100), ('b', 2, 100)`, 0},
		{`UPDATE home_state SET updated_us = 200 WHERE hub_id = 'a'`, 0},                        // newer save
		{`INSERT INTO home_state VALUES ('c', 1, 50)`, 0},                                       // a new home
		{`UPDATE home_state SET epoch = 1, updated_us = 300 WHERE hub_id = 'b'`, 1},             // older epoch
		{`UPDATE home_state SET updated_us = 150 WHERE hub_id = 'a'`, 2},                        // same epoch, older save
		{`UPDATE home_state SET epoch = 3, updated_us = 10 WHERE hub_id IN ('a', 'b', 'c')`, 2}, // a newer epoch
	} {
		if _, err := db.Exec(ctx, step.sql); err != nil {
			t.Fatal(err)
		}
		if err := s.poll(ctx, db); err != nil {
			t.Fatal(err)
		}
		if s.backwards != step.want {
			t.Fatalf("after %s: %d backwards, want %d", step.sql, s.backwards, step.want)
		}
	}
}
