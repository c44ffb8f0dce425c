package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

var updateSoloSQL = flag.Bool("update-solo-sql", false, "rewrite testdata/solo-postgres.sql from this tree's statements")

// sqlRecorder is a backend that notes the SQL of every statement run through
// it (in transactions too) before running it.
type sqlRecorder struct {
	backend
	mu  *sync.Mutex
	log *[]string
}

func (r sqlRecorder) note(query string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, query)
}

type recordingQuerier struct {
	querier
	r sqlRecorder
}

func (q recordingQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.r.note(query)
	return q.querier.exec(ctx, query, args...)
}

func (q recordingQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	q.r.note(query)
	return q.querier.query(ctx, query, args...)
}

func (q recordingQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	q.r.note(query)
	return q.querier.queryRow(ctx, query, args...)
}

func (r sqlRecorder) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return recordingQuerier{r.backend, r}.exec(ctx, query, args...)
}

func (r sqlRecorder) query(ctx context.Context, query string, args ...any) (rows, error) {
	return recordingQuerier{r.backend, r}.query(ctx, query, args...)
}

func (r sqlRecorder) queryRow(ctx context.Context, query string, args ...any) row {
	return recordingQuerier{r.backend, r}.queryRow(ctx, query, args...)
}

func (r sqlRecorder) inTx(ctx context.Context, fn func(q querier) error) error {
	return r.backend.inTx(ctx, func(q querier) error { return fn(recordingQuerier{q, r}) })
}

// pgSchema creates a schema of its own for t in the database at url,
// dropped when t ends, and returns the URL that uses it.
func pgSchema(t testing.TB, url, prefix string) string {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + "_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// TestSoloSQLUnchanged (PostgreSQL): a store opened without Config.Cluster
// runs exactly the statements the single gateway ran before fencing
// existed, byte for byte: state and health saves, a detection's incident
// (fenced by an epoch that a cluster would check) with a check-in command,
// outbox claims and the event insert. testdata/solo-postgres.sql was
// recorded by this test on the tree before fencing (-update-solo-sql).
func TestSoloSQLUnchanged(t *testing.T) {
	url := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("DOLBOM_TEST_DATABASE_URL not set")
	}
	ctx := context.Background()
	s, err := Open(ctx, Config{DatabaseURL: pgSchema(t, url, "solosql"), SecretKey: make([]byte, 32),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var log []string
	s.be = sqlRecorder{backend: s.be, mu: &mu, log: &log}
	s.st = s.be // the saved state is in the same PostgreSQL database

	if err := s.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: []byte("a")}, {Hub: "hub-2", Data: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: "hub-1", Battery: -1}}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	open := dispatch.Mutation{Fingerprint: "fp-1", FoldHub: "hub-1", Fence: dispatch.Fence{Hub: "hub-1", Epoch: 3},
		Fold: func([]dispatch.Incident) *dispatch.Incident { return nil },
		Apply: func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
			inc := &dispatch.Incident{ID: "inc-1", Fingerprint: "fp-1", Hub: "hub-1", Cause: detectors.CauseSOS,
				Class: detectors.ClassEmergency, Priority: 1, State: dispatch.StateOpen, OpenedAt: t0, UpdatedAt: t0}
			return dispatch.Change{Incident: inc, Enqueue: []dispatch.OutboxRow{
				{Key: "inc-1/cmd", Kind: dispatch.KindCommand, Channel: dispatch.ChannelHub, Priority: 1, DueAt: t0, Deadline: t0.Add(time.Hour)},
				{Key: "inc-1/cap", Kind: dispatch.KindNotify, Channel: dispatch.Channel119, Priority: 1, DueAt: t0, Deadline: t0.Add(time.Hour)},
			}}, nil
		}}
	if res, err := s.Incidents().ApplyIncidents(ctx, []dispatch.Mutation{open}); err != nil || res[0].Err != nil {
		t.Fatalf("ApplyIncidents = %+v, %v", res, err)
	}
	if rows, err := s.Incidents().ClaimOutbox(ctx, dispatch.Claim{ID: "c1", Now: t0, Lease: time.Minute, Limit: 1}); err != nil || len(rows) != 1 {
		t.Fatalf("ClaimOutbox = %v, %v", rows, err)
	}
	again := open
	again.Apply = func(cur *dispatch.Incident, _ *dispatch.OutboxRow) (dispatch.Change, error) {
		inc := *cur
		inc.Count++
		return dispatch.Change{Incident: &inc}, nil
	}
	if _, _, err := s.Incidents().ApplyIncidentsAndClaim(ctx, []dispatch.Mutation{again}, dispatch.Claim{ID: "c2", Now: t0, Lease: time.Minute, Limit: 5}); err != nil {
		t.Fatal(err)
	}

	got := strings.Join(log, "\n;\n") + "\n;\n" + insertEventsSQL + "\n"
	golden := filepath.Join("testdata", "solo-postgres.sql")
	if *updateSoloSQL {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("a single gateway's statements changed; got:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	if strings.Contains(got, "hub_owners") || strings.Contains(got, "clock_timestamp") {
		t.Errorf("a single gateway's statements read hub_owners or the database's clock:\n%s", got)
	}
}
