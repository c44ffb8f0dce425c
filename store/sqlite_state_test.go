package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// stateFixture is what the state tests save and expect back.
var stateFixture = struct {
	home    []byte
	battery float64
	node    string
	held    []uint64
}{[]byte("engine-state-of-hub-1"), 40, "node-a", []uint64{7, 9}}

// checkState fails unless s reads back stateFixture for hub-1 and the
// engine's journal position pos.
func checkState(t *testing.T, s *Store, pos int64) {
	t.Helper()
	ctx := context.Background()
	home, ok, err := s.State().LoadHome(ctx, "hub-1")
	if err != nil || !ok || string(home.Data) != string(stateFixture.home) {
		t.Errorf("hub-1's saved home: %q, found %v, %v; want %q", home.Data, ok, err, stateFixture.home)
	}
	health, err := s.State().GetHubHealth(ctx, "hub-1")
	if err != nil || health.Battery != stateFixture.battery {
		t.Errorf("hub-1's saved health: battery %v, %v; want %v", health.Battery, err, stateFixture.battery)
	}
	held, _, err := s.State().LoadHeldHubs(ctx, stateFixture.node)
	if err != nil || !slices.Equal(held, stateFixture.held) {
		t.Errorf("held hubs of %s: %v, %v; want %v", stateFixture.node, held, err, stateFixture.held)
	}
	if got, err := s.Journal().JournalPosition(ctx, "engine"); err != nil || got != pos {
		t.Errorf("the engine's journal position: %d, %v; want %d", got, err, pos)
	}
}

// wantTables fails unless the file at path holds every one of tables (in)
// or none of them.
func wantTables(t *testing.T, path string, tables []string, in bool) {
	t.Helper()
	for name, there := range tablesIn(t, path, tables) {
		if there != in {
			t.Errorf("%s in %s: %v, want %v", name, path, there, in)
		}
	}
}

// The saved state (engine snapshots, hub health, held hubs) and the journal
// positions are written to state.db, none of them to dolbom.db, and read
// back after a restart.
func TestStateAndPositionsLiveInStateFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openEmbedded(t, Config{DataDir: dir})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = s.Run(runCtx); close(ran) }()
	if _, err := s.Journal().JournalPosition(ctx, "engine"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e := &devices.Event{Hub: "hub-1", ID: "sos-1", Kind: devices.EventSOS, Sensor: "pendant", At: now, Received: now}
	if fresh, err := s.Journal().AppendEvent(ctx, e); err != nil || !fresh || e.Seq == 0 {
		t.Fatalf("append: fresh %v, seq %d, %v", fresh, e.Seq, err)
	}
	if err := s.State().SaveHomes(ctx, []detectors.HomeSnapshot{{Hub: "hub-1", Data: stateFixture.home}}); err != nil {
		t.Fatal(err)
	}
	if err := s.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: "hub-1", Battery: stateFixture.battery}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.State().SaveHeldHubs(ctx, stateFixture.node, now, stateFixture.held); err != nil {
		t.Fatal(err)
	}
	if err := s.Journal().JournalApplied(ctx, "engine", []int64{e.Seq}); err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran
	s.Close()

	wantTables(t, StatePath(dir), stateTables, true)
	wantTables(t, SQLitePath(dir), stateTables, false)
	db, err := sql.Open("sqlite", "file:"+StatePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pos int64
	if err := db.QueryRow(`SELECT seq FROM journal_positions WHERE consumer = 'engine'`).Scan(&pos); err != nil || pos != e.Seq {
		t.Errorf("the engine's position in %s: %d, %v; want %d", StateFile, pos, err, e.Seq)
	}

	checkState(t, openEmbedded(t, Config{DataDir: dir}), e.Seq)
}

// oldStateLayout builds, in dir, the embedded database as a binary before
// state.db left it: the state tables and the journal positions in
// dolbom.db, holding stateFixture and the engine's position pos, and no
// state.db.
func oldStateLayout(t *testing.T, dir string, pos int64) {
	t.Helper()
	ctx := context.Background()
	be := migratedUnsplit(t, dir)
	var enc healthEncoder
	health, err := enc.encode(&devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: "hub-1", Battery: stateFixture.battery}})
	if err != nil {
		t.Fatal(err)
	}
	held := make([]byte, 0, 8*len(stateFixture.held))
	for _, h := range stateFixture.held {
		held = binary.BigEndian.AppendUint64(held, h)
	}
	// dolbom.db's own writer: the tables are still there.
	for _, w := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO home_state (hub_id, data, updated_us) VALUES ('hub-1', ?, 1)`, []any{stateFixture.home}},
		{`INSERT INTO hub_health (hub_id, data, updated_us) VALUES ('hub-1', ?, 1)`, []any{health}},
		{`INSERT INTO held_hubs (node, saved_us, hubs) VALUES (?, 1, ?)`, []any{stateFixture.node, held}},
		{`UPDATE journal_positions SET seq = ? WHERE consumer = 'engine'`, []any{pos}},
	} {
		if _, err := be.exec(ctx, w.q, w.args...); err != nil {
			t.Fatalf("%s: %v", w.q, err)
		}
	}
	be.close()
	removeDB(t, StatePath(dir))
}

// A data folder written before state.db existed keeps its saved state and
// journal positions: the first start moves them to state.db and drops them
// from dolbom.db; a crash after the copy and before the drop does not copy
// them again (their primary keys would refuse the second copy, and Open
// with them).
func TestMigrateStateToItsOwnFile(t *testing.T) {
	dir := t.TempDir()
	const pos = 42
	oldStateLayout(t, dir, pos)
	wantTables(t, SQLitePath(dir), stateTables, true)

	s := openEmbedded(t, Config{DataDir: dir})
	checkState(t, s, pos)
	s.Close()
	wantTables(t, SQLitePath(dir), stateTables, false)
	wantTables(t, StatePath(dir), stateTables, true)

	// A crash after the copy, before the drop: the rows are in both files.
	db, err := sql.Open("sqlite", "file:"+SQLitePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ATTACH DATABASE ? AS st`, StatePath(dir)); err != nil {
		t.Fatal(err)
	}
	for _, table := range stateTables {
		if _, err := db.Exec(fmt.Sprintf(`CREATE TABLE main.%[1]s AS SELECT * FROM st.%[1]s`, table)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	checkState(t, openEmbedded(t, Config{DataDir: dir}), pos)
	wantTables(t, SQLitePath(dir), stateTables, false)
}

// Under steady state saves, dolbom.db's WAL starts over by itself and its
// checkpoint never holds the writers back: the saves commit to state.db,
// and a checkpoint beside the writers copies dolbom.db's WAL whole between
// two of its commits, so the next commit starts the WAL over. With the
// state in dolbom.db every round's save left it past rewindFrom, and the
// checkpoint took the gate (presync, then the gated pass) with every event
// and incident commit waiting.
func TestEventsWALStartsOverWithoutTheGateUnderStateSaves(t *testing.T) {
	s := openEmbedded(t, Config{})
	b := s.be.(*sqliteBackend)
	st := s.st.(*sqliteBackend)
	// Small, so that a WAL that does not start over by itself passes it in
	// a round or two (the default is 16 MiB).
	b.rewindFrom = 32
	ctx := context.Background()
	blob := make([]byte, 1024)
	homes := make([]detectors.HomeSnapshot, 300)
	for i := range homes {
		homes[i] = detectors.HomeSnapshot{Hub: devices.HubID(fmt.Sprintf("hub-%03d", i)), Data: blob}
	}
	// One save a round, beside the round's event commit and checkpoint.
	saveNow, saved := make(chan struct{}), make(chan error)
	go func() {
		for range saveNow {
			saved <- s.State().SaveHomes(ctx, homes)
		}
	}()
	defer close(saveNow)
	// What Open wrote (the migrations, the moves) is copied back first:
	// the rounds judge the steady state.
	if _, err := b.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	maxFrames, gated := 0, 0
	for r := range rounds {
		saveNow <- struct{}{}
		e := &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d", r)), Kind: devices.EventDoorOpen,
			At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
		if _, _, err := b.insertEvents(ctx, []*devices.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
		out, err := b.checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out.Held > 0 || out.Rewound || out.Presync > 0 {
			gated++
		}
		if err := <-saved; err != nil {
			t.Fatal(err)
		}
		// Frames since dolbom.db's WAL last started over, the save of this
		// round included when it went to dolbom.db.
		maxFrames = max(maxFrames, walFrames(t, b))
		if st != b { // state.db's own checkpoint, as Run's loop does
			if _, err := st.checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if gated > 0 {
		t.Errorf("dolbom.db's checkpoint took the gate in %d of %d rounds under state saves; want none", gated, rounds)
	}
	if maxFrames >= b.rewindFrom {
		t.Errorf("dolbom.db's WAL held up to %d frames since it last started over (one event commit a round); want fewer than %d: it does not start over by itself", maxFrames, b.rewindFrom)
	}
}
