package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/every"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
)

// SQLiteFile is the database file's name in the data directory.
const SQLiteFile = "dolbom.db"

// SQLitePath returns the path of the embedded database under dataDir.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, SQLiteFile) }

// ReadingsFile is the readings database's name in the data directory:
// raw reading batches, accelerometer chunks and the hourly rollups live in
// a file of their own (see openSQLite).
const ReadingsFile = "readings.db"

// ReadingsPath returns the path of the embedded readings database under
// dataDir.
func ReadingsPath(dataDir string) string { return filepath.Join(dataDir, ReadingsFile) }

// readingsTables are the tables kept in ReadingsFile: only the readings
// writer, the sealer, the readings queries and retention touch them.
var readingsTables = []string{"reading_batches", "accel", "rollup_hub_1h", "rollup_dirty", "rollup_seal"}

// StateFile is the saved state's database in the data directory: the
// State sub-store's tables and the journal positions (stateTables).
const StateFile = "state.db"

// StatePath returns the path of the embedded state database under dataDir.
func StatePath(dataDir string) string { return filepath.Join(dataDir, StateFile) }

// stateTables are the tables kept in StateFile.
//
// Why a file of their own: the state saves are the one steady stream of
// commits left in dolbom.db (tens of megabytes in 500-home chunks every
// 5 s at national scale), and a WAL starts over only when a writer begins
// with every frame of it copied back; with the saves' chunks back to back
// no checkpoint beside the writers ever finished first, so dolbom.db's WAL
// started over only through the checkpoint's gated pass, which held every
// event and incident commit back for two fsyncs on a disk busy with those
// same saves (over 50 ms, 1 to 4 times a 300,000-home run). Without them
// dolbom.db takes a trickle of commits (events, incidents, outbox), a
// checkpoint beside the writers copies its WAL whole between two of them,
// and the next commit starts it over by itself: no gate
// (TestEventsWALStartsOverWithoutTheGateUnderStateSaves). state.db's
// commits never pause, so it keeps the gated rewind, where only the save
// loop waits.
//
// journal_positions must live here, with the state: a consumer's position
// vouches for the state saved before it, and the state commits relaxed (no
// fsync), which is safe only because a later durable commit to the same
// WAL file (the position's) is never on disk without every frame before it.
// Two files give no such order: a position in dolbom.db could reach the
// disk while the state it vouches for, in state.db, did not. What else a
// position vouches for, the detections' incident changes, are durable
// commits of dolbom.db made before the state is saved (the save loop
// flushes the detections first, detectors/internal/shard.Persister), so
// the position needs no order across files. No transaction and no query
// spans the state tables and dolbom.db's: each State and journal-position
// statement touches one state table, and the events a position counts are
// read on their own. Migrations after the move must not touch stateTables
// in dolbom.db.
var stateTables = []string{"home_state", "hub_health", "held_hubs", "journal_positions"}

// sqliteBackend is the embedded back end. SQLite has one writer at a time;
// gate makes writers queue in Go instead of in SQLite's busy handler,
// which sleeps in steps of milliseconds and would ruin commit latency, and
// lets the emergency path's commits go before the bulk writes.
//
// The store is three database files, each a sqliteBackend with its own
// write lock, gate and WAL: dolbom.db (everything an emergency commits to),
// in rd, readings.db (readingsTables) and, in st, state.db (stateTables).
// In one file an SOS's commit waited for the readings flush holding the
// lock (tens of milliseconds at national scale) and for that flush's WAL
// to be checkpointed, and the state saves kept the WAL from starting over
// without the gate (stateTables); now neither writer holds anything an
// event needs.
type sqliteBackend struct {
	sqlQuerier
	db      *sql.DB
	gate    writeGate
	stmts   stmtCache
	walPath string
	// rd is the readings database and st the state database; both nil in
	// those databases themselves.
	rd, st *sqliteBackend
	// samplesLocked, when set (tests only), runs inside writeSamples's
	// transaction once its rows are written, the write lock held.
	samplesLocked func()
	// rewindFrom is the WAL size, in frames, from which a checkpoint
	// rewinds it (defaultRewindFrom; tests set 0 to rewind every time).
	rewindFrom int
	// aroundPass, when set (tests only), runs before each of checkpoint's
	// passes beside the writers, and what it returns after that pass.
	aroundPass func() (after func())
	// dbFile is the database file, open for as long as SQLite has it open,
	// for presync's fsync. It is closed only after SQLite's connections:
	// closing any descriptor of a file drops every POSIX lock this process
	// holds on it, SQLite's included.
	dbFile *os.File
	// syncFile syncs one file for presync ((*os.File).Sync; tests record).
	syncFile func(*os.File) error
}

// defaultRewindFrom: the WAL is rewound (checkpoint's gated second pass)
// only once it holds 4,096 frames, 16 MiB of 4 KiB pages. Every rewind
// holds the writers back for an fsync of the WAL and one of the database
// file, which on a disk busy with the readings and state saves took over
// 50 ms several times per 300,000-home run (every event and incident
// arriving meanwhile waits); a 16 MiB WAL costs nothing but its space, and
// the passes beside the writers keep copying it every second.
const defaultRewindFrom = 4096

func openSQLite(ctx context.Context, dataDir string) (*sqliteBackend, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("store: %w: DataDir or DatabaseURL is required", devices.ErrInvalid)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	b, err := openSQLiteFile(ctx, SQLitePath(dataDir), "")
	if err != nil {
		return nil, err
	}
	// The readings database's connections attach dolbom.db as "core",
	// read only in practice, for the few queries that join readings with
	// hubs or evidence; unqualified names resolve there when readings.db
	// has no such table. Its transactions begin DEFERRED, so that a flush
	// takes readings.db's write lock only (BEGIN IMMEDIATE would take every
	// attached file's), never dolbom.db's.
	rd, err := openSQLiteFile(ctx, ReadingsPath(dataDir), SQLitePath(dataDir))
	if err != nil {
		b.close()
		return nil, err
	}
	b.rd = rd
	// state.db likewise (DEFERRED, never dolbom.db's write lock); its
	// "core" serves only the move of its tables out of dolbom.db
	// (splitFiles): no state statement reads dolbom.db.
	st, err := openSQLiteFile(ctx, StatePath(dataDir), SQLitePath(dataDir))
	if err != nil {
		b.close()
		return nil, err
	}
	b.st = st
	return b, nil
}

// openSQLiteFile opens one database file of the embedded store; with core
// set, every connection attaches that file as "core".
func openSQLiteFile(ctx context.Context, path, core string) (*sqliteBackend, error) {
	// SQLite would create the database 0644 (less the umask), and its -wal
	// and -shm files take the database's mode: names, phones, addresses and
	// medical notes readable by every local user. An empty file is an empty
	// database to SQLite.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", path, err)
	} else {
		f.Close()
	}
	// WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL
	// at every commit, which is what "durable before PUBACK" means here.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)",
		// Checkpoints run in the background (checkpointLoop), not inside
		// whichever commit crosses the threshold, where they stall the
		// events waiting on that commit for tens of milliseconds.
		"wal_autocheckpoint(0)",
		// A page cache sized for national scale: reading batches and rollups
		// are inserted in (hub, time) order, i.e. all over their indexes, and
		// SQLite's default 2 MB cache made every insert a page read once
		// the database outgrew it (measured: the writer fell behind
		// 100,000 homes). Memory is taken only as pages are used.
		"cache_size(-262144)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	var db *sql.DB
	if core == "" {
		q.Set("_txlock", "immediate")
		var err error
		if db, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode()); err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
	} else {
		db = sql.OpenDB(attachConnector{dsn: "file:" + path + "?" + q.Encode(), core: core})
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	dbFile, err := os.Open(path)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return &sqliteBackend{sqlQuerier: sqlQuerier{db}, db: db, walPath: path + "-wal", rewindFrom: defaultRewindFrom, dbFile: dbFile, syncFile: (*os.File).Sync}, nil
}

// attachConnector opens connections to dsn with the file core attached as
// "core".
type attachConnector struct {
	dsn, core string
}

func (c attachConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, `ATTACH DATABASE ? AS core`,
		[]driver.NamedValue{{Ordinal: 1, Value: c.core}}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("attach %s: %w", c.core, err)
	}
	return conn, nil
}

func (attachConnector) Driver() driver.Driver { return &sqlite.Driver{} }

func (b *sqliteBackend) name() string                                  { return "sqlite" }
func (b *sqliteBackend) migrations() fs.FS                             { return mustSub("migrations/sqlite") }
func (b *sqliteBackend) lockMigrations(context.Context, querier) error { return nil }
func (b *sqliteBackend) least() string                                 { return "min" }
func (b *sqliteBackend) greatest() string                              { return "max" }
func (b *sqliteBackend) values(rows, width int) string                 { return anonPlaceholders(rows, width) }
func (b *sqliteBackend) rowID() string                                 { return "rowid" }

// readings is the readings database (itself, in the readings database).
func (b *sqliteBackend) readings() backend {
	if b.rd == nil {
		return b
	}
	return b.rd
}

// state is the state database (itself, in the state database).
func (b *sqliteBackend) state() backend {
	if b.st == nil {
		return b
	}
	return b.st
}

func (b *sqliteBackend) close() {
	for _, sub := range []*sqliteBackend{b.rd, b.st} {
		if sub != nil {
			sub.close()
		}
	}
	b.stmts.mu.Lock()
	for _, st := range b.stmts.m {
		_ = st.Close()
	}
	b.stmts.m = nil
	b.stmts.mu.Unlock()
	_ = b.db.Close()
	if b.dbFile != nil {
		_ = b.dbFile.Close()
	}
}

// checkpointEvery is how often the WAL is copied back into the database
// and started over.
const checkpointEvery = time.Second

// checkpointMaxBackoff is the longest pause between checkpoint attempts
// while they fail (a full disk): they are retried, never given up on, or
// the WAL would grow without end once space returned.
const checkpointMaxBackoff = 10 * time.Second

// walResetBytes is the WAL file size past which the checkpoint loop
// truncates the WAL. Normally the WAL starts over every checkpointEvery
// (see checkpoint) and never gets near it; it grows past it only while a
// long reader keeps an old snapshot (or the disk was full), and the
// truncation then gives the space back.
var walResetBytes int64 = 64 << 20

// walResetBusy bounds how long the reset waits for readers to finish while
// it holds the writers back; when they do not, it tries again next second.
const walResetBusy = 50 * time.Millisecond

// checkpointOutcome is what one pass of the checkpoint loop achieved.
type checkpointOutcome struct {
	// Rewound: the whole WAL was copied back while no writer could append,
	// so the next commit starts the WAL over from its beginning.
	Rewound bool
	// Truncated: the WAL had grown past walResetBytes and was truncated,
	// the writers held back meanwhile.
	Truncated bool
	// Held is how long the writers were held back at the gate (the second
	// pass and any truncation): every event arriving meanwhile waits.
	Held time.Duration
	// Presync is how long the rewind's syncs took beside the writers,
	// before the gate (presync).
	Presync time.Duration
	// Small: the WAL held fewer than rewindFrom frames; it was copied
	// beside the writers and not rewound.
	Small bool
	// Deferred: the passes beside the writers left more than
	// rewindMaxFrames behind, so the writers were not held back at all and
	// the rewind waits for the next checkpoint.
	Deferred bool
}

// rewindMaxFrames bounds what the gated second pass may have to copy: 256
// frames (1 MiB of 4 KiB pages) copy and sync in a few milliseconds, which
// is what an SOS may wait for a checkpoint.
const rewindMaxFrames = 256

// checkpointPasses is how many passes beside the writers one checkpoint
// runs before it gives the rewind up for this time.
const checkpointPasses = 3

// checkpointLoop checkpoints the WAL until ctx ends and reports each
// attempt's outcome. A failed attempt is retried after a pause that
// doubles up to checkpointMaxBackoff.
func (b *sqliteBackend) checkpointLoop(ctx context.Context, report func(checkpointOutcome, error)) {
	every.Backoff(ctx, checkpointEvery, checkpointMaxBackoff, func() error {
		out, err := b.checkpoint(ctx)
		if ctx.Err() != nil {
			return nil // stopping: not an outcome to report
		}
		report(out, err)
		return err
	})
}

// checkpoint copies the WAL back into the database in two passes, so that
// the WAL starts over without a commit ever waiting for a long copy.
//
// A WAL starts over only when a writer begins while every frame in it has
// been copied back; under steady commits (a thousand a second) a passive
// checkpoint, which runs beside the writers, never finishes before the next
// commit appends, so the WAL grew by ~10 MB a second and was truncated
// every few seconds by a TRUNCATE checkpoint that held the writers back for
// as long as it copied, synced and truncated: 33-78 ms measured, every
// event committed meanwhile waiting (the durable PUBACK's p99,
// docs/performance.md). So: the first pass, PASSIVE, runs beside the
// writers and copies nearly everything; the second, PASSIVE again but with
// the writers held back at the gate, only copies what was committed
// meanwhile (a second's worth of frames, mostly pages the first pass
// already wrote) and syncs, so that the whole WAL is in the database at a
// moment no writer appends, and the next commit starts the WAL over. A
// reader still in an older snapshot keeps the second pass from finishing;
// it then simply tries again next time.
//
// The second pass holds the writers back for as long as it copies and
// syncs, so it runs only once the WAL is big enough to be worth it
// (rewindFrom), and only when the first left little behind: after a state
// save round (tens of megabytes committed while the first pass ran) it
// copied the whole round with every event waiting (held 128 ms at p99, up
// to half a second, at 50,000 homes: docs/performance.md). Then more
// passes run beside the writers first, and if the remainder stays large
// (commits keep coming, or a reader pins an old snapshot) the rewind waits
// for the next checkpoint, unless the WAL has grown past walResetBytes: it
// is then rewound and truncated all the same, the writers held back for
// the remainder, so that steady commits cannot grow it without bound.
// Before the gated pass, presync writes out beside the writers what its
// syncs would otherwise write with everyone waiting.
func (b *sqliteBackend) checkpoint(ctx context.Context) (checkpointOutcome, error) {
	var out checkpointOutcome
	presynced := false
	for pass := 1; ; pass++ {
		var after func()
		if b.aroundPass != nil {
			after = b.aroundPass()
		}
		logFrames, copied, err := b.passiveCheckpoint(ctx, b.db)
		if after != nil {
			after()
		}
		if err != nil {
			return out, err
		}
		oversize := b.walOversize()
		if logFrames < b.rewindFrom && !oversize {
			out.Small = true // not worth holding the writers back yet
			return out, nil
		}
		if logFrames-copied <= rewindMaxFrames {
			if presynced {
				break
			}
			// Sync beside the writers what the gated pass would otherwise
			// sync with every writer held back, then copy beside them
			// again what was committed meanwhile.
			start := time.Now()
			err := b.presync()
			out.Presync = time.Since(start)
			if err != nil {
				return out, err
			}
			presynced = true
			// What was committed during the syncs is copied by fresh
			// passes: the syncs must not use up the passes the rewind
			// gets (under steady commits on a busy disk it was then
			// deferred, and the WAL grew).
			pass = 0
			continue
		}
		if pass >= checkpointPasses {
			if oversize {
				// Past its reset size the WAL is rewound and truncated
				// whatever is left to copy: under commits that keep every
				// pass more than rewindMaxFrames behind, deferring would
				// let it grow without bound (TestCheckpointTruncatesAnOversizeWALUnderSteadyCommits).
				break
			}
			out.Deferred = true
			return out, nil
		}
	}
	rewound, held, err := b.rewindWAL(ctx)
	out.Held = held
	if err != nil {
		return out, err
	}
	out.Rewound = rewound
	if b.walOversize() {
		out.Truncated = true
		held, err := b.resetWAL(ctx)
		out.Held += held
		return out, err
	}
	return out, nil
}

// presync writes the WAL and the database file out to disk beside the
// writers, before the gated pass. A pass that does not copy the whole WAL
// does not sync the database (SQLite syncs it only when the WAL is all
// copied), so under steady commits every page the passes beside the writers
// copied since the last rewind (up to rewindFrom frames, 16 MiB) was still
// unwritten when the gated pass copied the last frames and synced: that
// fsync, with every event and incident commit waiting at the gate, held
// them over 50 ms four to seven times per 300,000-home run. Relaxed commits
// (state saves) likewise leave WAL frames unsynced for the gated pass's
// first sync. After presync those syncs only write what came in meanwhile.
func (b *sqliteBackend) presync() error {
	if b.dbFile != nil {
		if err := b.syncFile(b.dbFile); err != nil {
			return fmt.Errorf("store: sync %s: %w", b.fileName(), err)
		}
	}
	// The WAL is opened anew each time: SQLite deletes and recreates it
	// when its last connection closes. Closing this descriptor drops no
	// lock SQLite needs: its WAL locks are on the -shm file.
	wal, err := os.Open(b.walPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: sync %s: %w", filepath.Base(b.walPath), err)
	}
	defer wal.Close()
	if err := b.syncFile(wal); err != nil {
		return fmt.Errorf("store: sync %s: %w", filepath.Base(b.walPath), err)
	}
	return nil
}

// walOversize reports whether the WAL file has grown past walResetBytes
// (a reader kept an old snapshot, or the disk was full): it is then
// rewound and truncated whatever its frames.
func (b *sqliteBackend) walOversize() bool {
	fi, err := os.Stat(b.walPath)
	return err == nil && fi.Size() > walResetBytes
}

// passiveCheckpoint copies what it can of the WAL into the database without
// waiting for anyone, and returns the WAL's frames and those copied back.
func (b *sqliteBackend) passiveCheckpoint(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (logFrames, copied int, err error) {
	var busy int
	if err := q.QueryRowContext(ctx, `PRAGMA main.wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &copied); err != nil {
		return 0, 0, fmt.Errorf("store: wal checkpoint of %s: %w", b.fileName(), err)
	}
	return logFrames, copied, nil
}

// rewindWAL is checkpoint's second pass, with the writers held back: it
// reports whether every frame is now in the database (the next commit then
// starts the WAL over), and how long it held the writers back.
func (b *sqliteBackend) rewindWAL(ctx context.Context) (bool, time.Duration, error) {
	// The connection first, so that the gate is held only for the pass.
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("store: wal checkpoint of %s: %w", b.fileName(), err)
	}
	defer conn.Close()
	unlock := b.holdGate()
	logFrames, copied, err := b.passiveCheckpoint(ctx, conn)
	held := unlock()
	if err != nil {
		return false, held, err
	}
	return copied == logFrames, held, nil
}

// fileName is the database file's name, for errors.
func (b *sqliteBackend) fileName() string {
	return filepath.Base(strings.TrimSuffix(b.walPath, "-wal"))
}

// holdGate holds the writers back at the gate (as a bulk writer) until the
// returned function is called, which says for how long.
func (b *sqliteBackend) holdGate() (unlock func() time.Duration) {
	b.gate.lock(bulkWrite)
	start := time.Now()
	return func() time.Duration {
		b.gate.unlock()
		return time.Since(start)
	}
}

// resetWAL runs a TRUNCATE checkpoint with the writers held back and a short
// busy timeout, so that readers still in an old snapshot make it give up
// (and retry) rather than stall commits. It says how long it held the
// writers back.
func (b *sqliteBackend) resetWAL(ctx context.Context) (held time.Duration, err error) {
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: wal reset of %s: %w", b.fileName(), err)
	}
	defer conn.Close()
	unlock := b.holdGate()
	defer func() { held = unlock() }()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout=%d", walResetBusy.Milliseconds())); err != nil {
		return 0, fmt.Errorf("store: wal reset of %s: %w", b.fileName(), err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout=10000")
	var busy, logPages, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil && !isBusy(err) {
		return 0, fmt.Errorf("store: wal reset of %s: %w", b.fileName(), err)
	}
	return 0, nil
}

// exec runs a statement outside any transaction (an autocommit write: a
// session, an audit line, a policy, the sealer's mark) through the gate like
// every other writer. Past the gate it would take SQLite's write lock on its
// own, and a commit beginning meanwhile would find the database busy and
// sleep in SQLite's busy handler (in steps of milliseconds) instead of
// queueing: an event's PUBACK delayed by a console login.
func (b *sqliteBackend) exec(ctx context.Context, query string, args ...any) (int64, error) {
	b.gate.lock(bulkWrite)
	defer b.gate.unlock()
	return b.sqlQuerier.exec(ctx, query, args...)
}

// ping: the embedded database lives in this process, so there is nothing
// to reach. A query through the pool would only measure how busy its eight
// connections are, and a false "unreachable" refuses every hub and event;
// what does fail here is writing, which the write paths and the probe
// report.
func (b *sqliteBackend) ping(context.Context) error { return nil }

// probeWrite rewrites the database header's user_version (unused) with its
// own value: one page through the WAL and an fsync, like an event commit.
func (b *sqliteBackend) probeWrite(ctx context.Context) error {
	return b.txClass(ctx, urgentWrite, false, func(tx *sql.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v))
		return err
	})
}

// isBusy reports SQLite's "database is locked/busy": readers still active.
func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") || strings.Contains(msg, "busy")
}

// tryLock: one process owns the file; its own mutexes (Store.sealMu) keep
// each job alone.
func (b *sqliteBackend) tryLock(context.Context, int64) (func(), bool, error) {
	return func() {}, true, nil
}

func (b *sqliteBackend) inTx(ctx context.Context, fn func(q querier) error) error {
	return b.tx(ctx, func(tx *sql.Tx) error { return fn(sqlQuerier{tx}) })
}

// inTxCached is inTx whose statements are prepared once per connection and
// kept (see stmtCache): for the dispatch writer, whose few statements ran
// hundreds of times a second and spent a third of its CPU in SQLite's
// parser. Dispatch writes are urgent (an incident waits for them); relaxed
// as in txClass.
func (b *sqliteBackend) inTxCached(ctx context.Context, relaxed bool, fn func(q querier) error) error {
	run := func(tx *sql.Tx) error { return fn(cachedTxQuerier{tx: tx, cache: &b.stmts, db: b.db}) }
	return b.txClass(ctx, urgentWrite, relaxed, run)
}

// stmtCacheSize bounds the cached statements: the dispatch writer's set is
// a few dozen texts (multi-row INSERTs vary with the row count); texts past
// the bound are simply run unprepared.
const stmtCacheSize = 256

// stmtCache holds prepared statements by SQL text. modernc's driver has no
// cache of its own and parses every statement it runs; a *sql.Stmt is
// prepared lazily on each pooled connection and reused there
// (Tx.StmtContext).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= stmtCacheSize {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared; the error, if real, shows there
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = st
	return st
}

// cachedTxQuerier runs statements in tx through the cache.
type cachedTxQuerier struct {
	tx    *sql.Tx
	cache *stmtCache
	db    *sql.DB
}

func (q cachedTxQuerier) stmt(ctx context.Context, query string) sqlDB {
	if st := q.cache.get(ctx, q.db, query); st != nil {
		return txStmt{q.tx.StmtContext(ctx, st)}
	}
	return q.tx
}

func (q cachedTxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqlQuerier{q.stmt(ctx, query)}.exec(ctx, query, args...)
}

func (q cachedTxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return sqlQuerier{q.stmt(ctx, query)}.query(ctx, query, args...)
}

func (q cachedTxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return sqlQuerier{q.stmt(ctx, query)}.queryRow(ctx, query, args...)
}

// txStmt adapts a prepared statement to sqlDB (the query text is already
// bound to it).
type txStmt struct{ st *sql.Stmt }

func (s txStmt) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s txStmt) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (s txStmt) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

func (b *sqliteBackend) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return b.txClass(ctx, bulkWrite, false, fn)
}

// txClass runs fn in a write transaction once the gate lets a writer of
// class through. With relaxed the commit does not wait for fsync
// (synchronous=NORMAL for this transaction only): for writes whose loss in
// a power cut is harmless (dispatch.Mutation.Relaxed, readings flushes).
// WAL frames are written in order, so the next ordinary commit's fsync
// in the same file makes them durable too (in readings.db, where every
// commit is relaxed, the next checkpoint's, within about a second), and a
// process crash loses nothing (they are in the OS's cache).
func (b *sqliteBackend) txClass(ctx context.Context, class writeClass, relaxed bool, fn func(tx *sql.Tx) error) error {
	b.gate.lock(class)
	defer b.gate.unlock()
	run := func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	if !relaxed {
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		return run(tx)
	}
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
			// Never hand a relaxed connection back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return run(tx)
}

// insertEvents: statements in SQLite run in-process, so one prepared INSERT
// per event inside the group's transaction costs microseconds, and its
// RETURNING row says exactly which events were new and where the journal put
// them; a redelivery's position is read back from the stored row. The
// statements come from the cache (stmtCache): preparing the INSERT anew for
// every commit cost more CPU than running it (measured: 37 µs a commit, a
// commit a millisecond at 1,000 events/s), and the commit holds the write
// lock meanwhile.
func (b *sqliteBackend) insertEvents(ctx context.Context, evs []*devices.Event, locked func()) ([]bool, []int64, error) {
	fresh := make([]bool, len(evs))
	seqs := make([]int64, len(evs))
	err := b.txClass(ctx, urgentWrite, false, func(tx *sql.Tx) error {
		if locked != nil {
			locked()
		}
		q := cachedTxQuerier{tx: tx, cache: &b.stmts, db: b.db}
		ins := q.stmt(ctx, insertEventSQL)
		for i, e := range evs {
			err := ins.QueryRowContext(ctx, insertEventSQL, eventArgs(e)...).Scan(&seqs[i])
			switch {
			case err == nil:
				fresh[i] = true
			case errors.Is(err, sql.ErrNoRows):
				if err := q.stmt(ctx, eventSeqSQL).QueryRowContext(ctx, eventSeqSQL, string(e.Hub), string(e.ID)).Scan(&seqs[i]); err != nil {
					return fmt.Errorf("position of a stored event: %w", err)
				}
			default:
				return err
			}
		}
		return nil
	})
	return fresh, seqs, err
}

const (
	insertEventSQL = `INSERT INTO events
			(hub_id, event_id, kind, sensor_id, ts_us, received_us, value, has_value, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (hub_id, event_id) DO NOTHING RETURNING seq`
	eventSeqSQL = `SELECT seq FROM events WHERE hub_id = $1 AND event_id = $2`
)

// sqliteInsertChunk is rows per multi-row INSERT: large enough to amortise
// the statement, small enough for SQLite's parameter limit.
const sqliteInsertChunk = 128

// The flush's plain inserts say OR ROLLBACK: a multi-row INSERT whose NOT
// NULL checks may abort the statement alone (SQLite's default, OR ABORT)
// makes SQLite copy every page the statement changes into a statement
// journal first, so that it can undo that one statement: ~4 KiB copied per
// row into the (hub_id, from_us) index's leaves, 10-16% of the writer's CPU
// under the flood (docs/performance.md, "Flood"). A failed flush is rolled
// back whole anyway (txClass), so undoing one statement buys nothing
// (TestFlushInsertsNeedNoStatementJournal).
const (
	sqliteInsertBatches = `INSERT OR ROLLBACK INTO reading_batches (hub_id, from_us, to_us, n, received_us, data) VALUES `
	sqliteInsertAccel   = `INSERT OR ROLLBACK INTO accel (hub_id, sensor_id, ts_us, received_us, rate_hz, samples) VALUES `
)

// writeSamples writes a flush in one transaction: one row per batch (per
// hour of a batch), the chunks, the markers of late rows and the merge of
// very old ones (sampleBatch.planLate). The writer holds the gate, and one
// process owns the file, so the blobs read here cannot change before the
// upsert.
//
// The commit is relaxed (no fsync): a readings batch is acknowledged once
// queued, not once durable (docs/protocol.md section 14), so the fsync bought
// nothing the hub was promised, and ten flushes a second at national scale
// each held the writer, and every emergency behind it, for an fsync.
func (b *sqliteBackend) writeSamples(ctx context.Context, w *sampleBatch) error {
	return b.txClass(ctx, bulkWrite, true, func(tx *sql.Tx) error {
		if err := insertChunked(ctx, tx, sqliteInsertBatches, ``,
			6, len(w.batches), func(i int, args []any) []any {
				r := &w.batches[i]
				return append(args, string(r.hub), r.fromUS, r.toUS, r.n, r.receivedUS, w.data(r))
			}); err != nil {
			return fmt.Errorf("reading batches: %w", err)
		}
		if err := insertChunked(ctx, tx, sqliteInsertAccel, ``,
			6, len(w.accel), func(i int, args []any) []any {
				return append(args, accelArgs(w.accel[i])...)
			}); err != nil {
			return fmt.Errorf("accel: %w", err)
		}
		if err := insertChunked(ctx, tx, `INSERT INTO rollup_dirty (hub_id, bucket_us) VALUES `, ` ON CONFLICT DO NOTHING`,
			2, len(w.dirty), func(i int, args []any) []any {
				return append(args, string(w.dirty[i].hub), w.dirty[i].bucket)
			}); err != nil {
			return fmt.Errorf("rollup markers: %w", err)
		}
		if b.samplesLocked != nil {
			b.samplesLocked()
		}
		if len(w.old) > 0 {
			if err := b.mergeOldHours(ctx, tx, w); err != nil {
				return fmt.Errorf("hourly rollups: %w", err)
			}
		}
		return nil
	})
}

// mergeOldHours reads the stored blobs of w.old's (hub, hour) keys, one
// batched SELECT per chunk, merges the flush's aggregates in and upserts
// them.
func (b *sqliteBackend) mergeOldHours(ctx context.Context, tx *sql.Tx, w *sampleBatch) error {
	keys := w.sortedOldKeys()
	args := make([]any, 0, 2*hourChunk)
	for start := 0; start < len(keys); start += hourChunk {
		chunk := keys[start:min(start+hourChunk, len(keys))]
		args = args[:0]
		for _, k := range chunk {
			args = append(args, string(k.hub), k.bucket)
		}
		rows, err := tx.QueryContext(ctx, `SELECT hub_id, bucket_us, data FROM rollup_hub_1h
			WHERE (hub_id, bucket_us) IN (VALUES `+anonPlaceholders(len(chunk), 2)+`)`, args...)
		if err != nil {
			return err
		}
		old := make(map[hourKey][]byte, len(chunk))
		for rows.Next() {
			var data []byte
			k, err := scanHourKey(rows, &data)
			if err != nil {
				_ = rows.Close()
				return err
			}
			old[k] = data
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := insertChunked(ctx, tx, `INSERT INTO rollup_hub_1h (hub_id, bucket_us, data) VALUES `,
			` ON CONFLICT (hub_id, bucket_us) DO UPDATE SET data = excluded.data`,
			3, len(chunk), func(i int, args []any) []any {
				k := chunk[i]
				return append(args, string(k.hub), k.bucket, w.mergedHour(k, old[k]))
			}); err != nil {
			return err
		}
	}
	return nil
}

// insertChunked inserts n rows with prepared multi-row INSERTs.
func insertChunked(ctx context.Context, tx *sql.Tx, prefix, suffix string, width, n int, appendRow func(i int, args []any) []any) error {
	if n == 0 {
		return nil // most flushes carry no accel chunks or markers
	}
	var full *sql.Stmt
	// Sized for this flush: a 128-row chunk's 12 KB per table and flush
	// was the writer's largest allocation after database/sql's own.
	args := make([]any, 0, min(n, sqliteInsertChunk)*width)
	for start := 0; start < n; start += sqliteInsertChunk {
		end := min(start+sqliteInsertChunk, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = appendRow(i, args)
		}
		var err error
		if end-start == sqliteInsertChunk {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, prefix+anonPlaceholders(sqliteInsertChunk, width)+suffix); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, prefix+anonPlaceholders(end-start, width)+suffix, args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Store.Run finds the checkpoint loop by this method set.
var _ interface {
	checkpointLoop(context.Context, func(checkpointOutcome, error))
} = (*sqliteBackend)(nil)
