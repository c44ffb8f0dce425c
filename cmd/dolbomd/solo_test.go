package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// soloMembers lists the database's cluster_members as "node#incarnation
// live|dead".
func soloMembers(t *testing.T, databaseURL string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT node, incarnation, NOT dead AND expires_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
		FROM cluster_members ORDER BY node, incarnation`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var node string
		var inc int64
		var live bool
		if err := rows.Scan(&node, &inc, &live); err != nil {
			t.Fatal(err)
		}
		state := "dead"
		if live {
			state = "live"
		}
		out = append(out, fmt.Sprintf("%s#%d %s", node, inc, state))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSoloRestartAfterKillStartsAtOnce: a single dolbomd on PostgreSQL
// holds a solo member's lease (the solo guard: a second gateway on the
// database is refused). Killed with SIGKILL, it leaves that lease live for
// its TTL, ten minutes here; started again with the same --node it is
// ready at once all the same: its name's lock went with the killed
// process's connections, so the lease is known to be a dead process's.
// Stopped with SIGTERM, it gives its lease up, and another single gateway
// may start on the database at once instead of ten minutes later.
func TestSoloRestartAfterKillStartsAtOnce(t *testing.T) {
	base := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("DOLBOM_REQUIRE_POSTGRES") == "1" {
			t.Fatal("DOLBOM_REQUIRE_POSTGRES=1 but DOLBOM_TEST_DATABASE_URL is not set")
		}
		t.Skip("DOLBOM_TEST_DATABASE_URL not set (make test sets it)")
	}
	db := freshDatabase(t, base)
	lease := []string{"--cluster-renew", "1s", "--cluster-ttl", "10m"}
	g := startGateway(t, db, append([]string{"--node", "solo-1"}, lease...)...)
	if got, want := soloMembers(t, db), []string{"solo-1#1 live"}; !slices.Equal(got, want) {
		t.Fatalf("members of a single gateway's database: %v, want %v", got, want)
	}

	g.kill(t)
	killed := time.Now()
	g.start(t) // fails the test if it is not ready within its bounds
	t.Logf("ready again %s after the SIGKILL (machine shared)", time.Since(killed).Round(time.Millisecond))
	if got, want := soloMembers(t, db), []string{"solo-1#1 dead", "solo-1#2 live"}; !slices.Equal(got, want) {
		t.Errorf("members after the restart: %v, want %v", got, want)
	}

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := g.waitExit(t, "dolbomd to exit after SIGTERM"); err != nil {
		t.Fatalf("dolbomd exited with %v after SIGTERM", err)
	}
	if got, want := soloMembers(t, db), []string{"solo-1#1 dead", "solo-1#2 dead"}; !slices.Equal(got, want) {
		t.Errorf("members after the graceful stop: %v, want %v", got, want)
	}
	startGateway(t, db, append([]string{"--node", "solo-2"}, lease...)...)
}
