package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Under sustained writes with readers always active, the WAL must not grow
// without bound: the checkpoint loop resets it past walResetBytes.
func TestWALStaysBoundedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("writes for a few seconds")
	}
	old := walResetBytes
	walResetBytes = 2 << 20
	defer func() { walResetBytes = old }()
	dir := t.TempDir()
	s := openEmbedded(t, Config{DataDir: dir, FlushInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 { // readers that never let go for long
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.Journal().ListEvents(ctx, EventQuery{Hub: "hub-1", Limit: 10})
			}
		}()
	}
	now := time.Now()
	var maxWAL int64
	deadline := time.Now().Add(4 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		b := &devices.ReadingBatch{Hub: devices.HubID(fmt.Sprintf("hub-%d", i%50)), SentAt: now, Received: now}
		for k := range 50 {
			b.Readings = append(b.Readings, devices.Reading{Sensor: "s1", Metric: devices.MetricTemperature,
				At: now.Add(time.Duration(i*50+k) * time.Millisecond), Value: 21, Quality: -1})
		}
		if err := s.Journal().AppendReadings(ctx, b); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(SQLitePath(dir) + "-wal"); err == nil && fi.Size() > maxWAL {
			maxWAL = fi.Size()
		}
	}
	close(stop)
	wg.Wait()
	time.Sleep(2 * checkpointEvery)
	fi, err := os.Stat(SQLitePath(dir) + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("WAL peaked at %d KiB, %d KiB at the end (reset threshold %d KiB)", maxWAL>>10, fi.Size()>>10, walResetBytes>>10)
	if fi.Size() > 4*walResetBytes {
		t.Fatalf("WAL is %d KiB after sustained writes, threshold %d KiB: not reset", fi.Size()>>10, walResetBytes>>10)
	}
}

// walFrames returns the frames in the WAL since it last started over (a
// passive checkpoint's second column).
func walFrames(t *testing.T, b *sqliteBackend) int {
	t.Helper()
	frames, _, err := b.passiveCheckpoint(context.Background(), b.db)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// Under commits that never pause, each checkpoint must start the WAL over:
// frames since the last start stay at what one round commits instead of
// piling up round after round. A passive checkpoint alone never finishes
// before the next commit appends, so the WAL grew until it was truncated
// with the writers held back (tens of milliseconds of stalled PUBACKs).
func TestCheckpointStartsTheWALOverUnderSteadyCommits(t *testing.T) {
	s := openEmbedded(t, Config{})
	b := s.be.(*sqliteBackend)
	b.rewindFrom = 0 // rewind at every checkpoint
	ctx := context.Background()
	const perRound, rounds = 150, 8
	var committed atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { // commits back to back, one event each, as the journal does under load
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			e := &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d", i)), Kind: devices.EventDoorOpen,
				At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
			if _, _, err := b.insertEvents(ctx, []*devices.Event{e}, nil); err != nil {
				writerDone <- err
				return
			}
			committed.Add(1)
		}
	}()
	waitCommits := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); committed.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer made %d commits in a minute, want %d", committed.Load(), n)
			}
		}
	}
	var frames []int
	rewound := 0
	for r := 1; r <= rounds; r++ {
		waitCommits(int64(r * perRound))
		frames = append(frames, walFrames(t, b))
		out, err := b.checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out.Rewound && out.Held <= 0 {
			t.Fatalf("round %d: the checkpoint rewound the WAL holding the writers back for %v: the hold, which every event arriving then waits for, is not measured", r, out.Held)
		}
		if out.Rewound {
			rewound++
		}
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("WAL frames before each checkpoint: %v; %d of %d checkpoints rewound", frames, rewound, rounds)
	if rewound == 0 {
		t.Fatalf("no checkpoint of %d under steady commits rewound the WAL", rounds)
	}
	// Each round holds about its own commits' frames (the writer runs on
	// while the test checkpoints, so a little more or less; on a busy disk
	// a rewind may wait for the next round, doubling one round's); without
	// the restarts the last round would hold all rounds' (eight times the
	// first's).
	if last, second := frames[len(frames)-1], frames[1]; last > 4*second {
		t.Fatalf("WAL frames before each checkpoint %v: the WAL does not start over (last round %d, second %d)", frames, last, second)
	}
}

// A reader in an old snapshot keeps the checkpoint's second pass from
// finishing: it must give up at once (the writers are held back while it
// runs), and the WAL starts over at the first checkpoint after the reader
// has gone.
func TestCheckpointDoesNotWaitForAReader(t *testing.T) {
	dir := t.TempDir()
	s := openEmbedded(t, Config{DataDir: dir})
	b := s.be.(*sqliteBackend)
	b.rewindFrom = 0 // rewind at every checkpoint
	ctx := context.Background()
	insert := func(id string) {
		t.Helper()
		e := &devices.Event{Hub: "hub-1", ID: devices.EventID(id), Kind: devices.EventMotion, At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
		if _, _, err := b.insertEvents(ctx, []*devices.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
	}
	insert("before-the-reader")
	tx := oldSnapshot(t, b)
	insert("after-the-reader") // a frame the reader's snapshot does not see
	out, err := b.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rewound {
		t.Fatal("checkpoint reports the WAL rewound while a reader held an older snapshot")
	}
	insert("while-the-reader-reads") // the gate was handed back
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if out, err = b.checkpoint(ctx); err != nil || !out.Rewound {
		t.Fatalf("checkpoint after the reader ended: %+v, %v; want the WAL rewound", out, err)
	}
	insert("after-the-rewind")
	if f := walFrames(t, b); f > 8 {
		t.Fatalf("%d frames in the WAL after one commit: it did not start over", f)
	}
}

// The journal's INSERT is prepared once per connection, not at every
// commit: preparing it cost more CPU than running it, inside the write lock.
func TestEventCommitReusesItsStatement(t *testing.T) {
	s := openEmbedded(t, Config{})
	b := s.be.(*sqliteBackend)
	for i := range 3 {
		e := &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d", i)), Kind: devices.EventMotion,
			At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
		if _, _, err := b.insertEvents(context.Background(), []*devices.Event{e, e}, nil); err != nil { // e twice: the redelivery lookup too
			t.Fatal(err)
		}
	}
	b.stmts.mu.Lock()
	defer b.stmts.mu.Unlock()
	for _, q := range []string{insertEventSQL, eventSeqSQL} {
		if b.stmts.m[q] == nil {
			t.Errorf("statement not kept in the cache: %.40s...", q)
		}
	}
}

// The gated second pass must not copy a large remainder with every event
// waiting: when the passes beside the writers leave more than
// rewindMaxFrames behind (here a reader pins a snapshot older than ~2 MiB
// of commits), the checkpoint holds nobody back and rewinds next time.
func TestCheckpointDoesNotHoldWritersForALargeRemainder(t *testing.T) {
	s := openEmbedded(t, Config{DataDir: t.TempDir()})
	b := s.be.(*sqliteBackend)
	b.rewindFrom = 0 // rewind at every checkpoint
	ctx := context.Background()
	tx := oldSnapshot(t, b)
	// ~2 MiB of new pages the reader's snapshot does not see: events with
	// large, distinct details.
	for i := range 40 {
		var batch []*devices.Event
		for j := range 25 {
			batch = append(batch, &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d-%d", i, j)), Kind: devices.EventMotion,
				At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0), Detail: json.RawMessage(`{"pad":"` + strings.Repeat(fmt.Sprint(i, j), 800) + `"}`)})
		}
		if _, _, err := b.insertEvents(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	if f := walFrames(t, b); f <= 2*rewindMaxFrames {
		t.Fatalf("only %d frames in the WAL: the test needs more than %d", f, 2*rewindMaxFrames)
	}
	out, err := b.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Held != 0 || !out.Deferred || out.Rewound {
		t.Fatalf("checkpoint with a large remainder: %+v; want the writers not held back and the rewind deferred", out)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if out, err = b.checkpoint(ctx); err != nil || !out.Rewound || out.Deferred {
		t.Fatalf("checkpoint after the reader ended: %+v, %v; want the WAL rewound", out, err)
	}
}

// oldSnapshot opens a read transaction that has read the events table, so
// that it pins the WAL at this moment until it ends (rolled back at the
// test's end if the test does not).
func oldSnapshot(t *testing.T, b *sqliteBackend) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	reader, err := b.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		reader.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tx.Rollback() // before reader.Close, which waits for an open transaction
		reader.Close()
	})
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return tx
}

// A WAL under rewindFrom frames is only copied beside the writers (it
// starts over by itself when a commit finds it all copied): the rewind's
// hold (two fsyncs with every writer waiting) is paid once per rewindFrom
// frames under steady commits, not every second.
func TestCheckpointLetsASmallWALGrow(t *testing.T) {
	s := openEmbedded(t, Config{DataDir: t.TempDir()})
	b := s.be.(*sqliteBackend)
	ctx := context.Background()
	insert := func(n int) {
		t.Helper()
		for i := range n {
			e := &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d-%d", n, i)), Kind: devices.EventMotion,
				At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
			if _, _, err := b.insertEvents(ctx, []*devices.Event{e}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(20)
	before := walFrames(t, b)
	b.rewindFrom = before + 1000
	out, err := b.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Small || out.Held != 0 || out.Rewound {
		t.Fatalf("checkpoint of a %d-frame WAL under rewindFrom %d: %+v; want it copied beside the writers, nobody held back", before, b.rewindFrom, out)
	}
	insert(5)
	b.rewindFrom = 1
	if out, err = b.checkpoint(ctx); err != nil || !out.Rewound || out.Held <= 0 {
		t.Fatalf("checkpoint past rewindFrom: %+v, %v; want the WAL rewound, the writers held back for it", out, err)
	}
}

// A WAL past its reset size is rewound and truncated even when commits keep
// every pass beside the writers more than rewindMaxFrames behind: deferring
// the rewind then, as for a small WAL, let it grow for as long as the
// commits went on. Each pass here runs while a reader holds the snapshot
// from before ~1.5 MiB of new commits (readers and writers that never
// pause, made deterministic).
func TestCheckpointTruncatesAnOversizeWALUnderSteadyCommits(t *testing.T) {
	defer SetWALResetBytes(1 << 20)()
	s := openEmbedded(t, Config{DataDir: t.TempDir()})
	b := s.be.(*sqliteBackend)
	ctx := context.Background()
	round := 0
	commit := func() { // ~1.5 MiB of new pages
		t.Helper()
		round++
		for i := range 30 {
			var batch []*devices.Event
			for j := range 25 {
				batch = append(batch, &devices.Event{Hub: "hub-1", ID: devices.EventID(fmt.Sprintf("e-%d-%d-%d", round, i, j)), Kind: devices.EventMotion,
					At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0), Detail: json.RawMessage(`{"pad":"` + strings.Repeat(fmt.Sprint(round, i, j), 600) + `"}`)})
			}
			if _, _, err := b.insertEvents(ctx, batch, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit()
	if fi, err := os.Stat(b.walPath); err != nil || fi.Size() <= walResetBytes {
		t.Fatalf("WAL %v, %v: the test needs it past %d bytes", fi.Size(), err, walResetBytes)
	}
	b.aroundPass = func() func() {
		reader, err := b.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		commit()
		return func() {
			_ = tx.Rollback()
			reader.Close()
		}
	}
	out, err := b.checkpoint(ctx)
	b.aroundPass = nil
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(b.walPath)
	if err != nil {
		t.Fatal(err)
	}
	if out.Deferred || !out.Truncated || fi.Size() > walResetBytes {
		t.Fatalf("checkpoint of a WAL past its reset size under steady commits: %+v, WAL %d bytes; want it rewound and truncated, not deferred", out, fi.Size())
	}
}

// The rewind's syncs happen beside the writers: a pass that leaves any of
// the WAL uncopied does not sync the database, so the gated pass's fsync
// used to write every page copied since the last rewind (up to 16 MiB)
// with every event waiting at the gate. Both files must be synced with
// the gate free, before the gated pass, and a pass beside the writers must
// copy what came in during those syncs.
func TestCheckpointSyncsBesideTheWritersBeforeTheGate(t *testing.T) {
	s := openEmbedded(t, Config{DataDir: t.TempDir()})
	b := s.be.(*sqliteBackend)
	b.rewindFrom = 0 // rewind at every checkpoint
	ctx := context.Background()
	insert := func(tag string) {
		t.Helper()
		e := &devices.Event{Hub: "hub-1", ID: devices.EventID("e-" + tag), Kind: devices.EventMotion,
			At: time.Unix(1_700_000_000, 0), Received: time.Unix(1_700_000_000, 0)}
		if _, _, err := b.insertEvents(ctx, []*devices.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
	}
	insert("before")
	var steps []string
	b.syncFile = func(f *os.File) error {
		b.gate.mu.Lock()
		held := b.gate.held
		b.gate.mu.Unlock()
		steps = append(steps, fmt.Sprintf("sync %s held=%v", filepath.Base(f.Name()), held))
		if strings.HasSuffix(f.Name(), "-wal") {
			insert("during-sync") // a commit beside the syncs
		}
		return f.Sync()
	}
	b.aroundPass = func() func() {
		steps = append(steps, "pass")
		return nil
	}
	out, err := b.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pass", "sync dolbom.db held=false", "sync dolbom.db-wal held=false", "pass"}
	if !slices.Equal(steps, want) || !out.Rewound || out.Presync <= 0 {
		t.Fatalf("checkpoint steps %q, outcome %+v; want %q, then the WAL rewound", steps, out, want)
	}
}
