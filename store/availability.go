package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/internal/every"
)

// ErrUnavailable is wrapped by the errors of a store whose database does
// not answer (a hung or unreachable server): appends and credential
// lookups fail at once with it instead of each waiting for a timeout.
var ErrUnavailable = errors.New("store: database unavailable")

// Write paths whose failures make the store not ready.
const (
	pathEvents     = "events"
	pathReadings   = "readings"
	pathCheckpoint = "wal_checkpoint"
	// pathReadingsCheckpoint: readings.db's WAL (the embedded store).
	pathReadingsCheckpoint = "readings_wal_checkpoint"
	// pathStateCheckpoint: state.db's WAL (the embedded store).
	pathStateCheckpoint = "state_wal_checkpoint"
)

// availability is what the store knows of its database's health, for
// /readyz (Ping), the hubs' CONNECTs and the journal: whether the database
// answered the last ping (the monitor pings it every HealthInterval,
// bounded by PingTimeout), and which write paths failed on their last
// attempt for a reason of the store's own (a full disk, an I/O error, a
// timeout), not of the data written. A path is cleared by its next
// successful write: the readings writer and the checkpoints retry by
// themselves; events come from hubs, so while they fail the monitor
// probes with a small write of its own.
type availability struct {
	log zerolog.Logger

	mu          sync.Mutex
	unreachable error // last ping's error; nil once a ping answered
	downSince   time.Time
	failing     map[string]writeFailure
	// down mirrors unreachable != nil for the hot paths, without the lock.
	down atomic.Bool
	// monitored is set while the monitor runs: Ping then reads its
	// findings instead of pinging (which could wait PingTimeout).
	monitored atomic.Bool
}

type writeFailure struct {
	err   error
	since time.Time
}

// wrote records the outcome of one attempt of a write path. A failure
// caused by the data (a constraint, a malformed value) says nothing about
// the store and is not recorded.
func (a *availability) wrote(path string, err error) {
	if err != nil && !storeFault(err) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, was := a.failing[path]
	switch {
	case err == nil && was:
		delete(a.failing, path)
		a.log.Info().Str("path", path).Dur("failed_for", time.Since(f.since)).Msg("store writes again")
	case err != nil && !was:
		if a.failing == nil {
			a.failing = make(map[string]writeFailure)
		}
		a.failing[path] = writeFailure{err: err, since: time.Now()}
		a.log.Error().Err(err).Str("path", path).Msg("store cannot write: not ready until a write succeeds")
	case err != nil:
		a.failing[path] = writeFailure{err: err, since: f.since} // the latest reason
	}
}

// isFailing reports whether path's last attempt failed.
func (a *availability) isFailing(path string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.failing[path]
	return ok
}

// pinged records the outcome of a ping.
func (a *availability) pinged(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err != nil && a.unreachable == nil:
		a.downSince = time.Now()
		a.log.Error().Err(err).Msg("database unreachable: refusing hubs and events until it answers")
	case err == nil && a.unreachable != nil:
		a.log.Info().Dur("down_for", time.Since(a.downSince)).Msg("database answers again")
	}
	a.unreachable = err
	a.down.Store(err != nil)
}

// unavailable returns an error wrapping ErrUnavailable while the last ping
// failed, nil otherwise; cheap enough for every append and CONNECT.
func (a *availability) unavailable() error {
	if !a.down.Load() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unreachable == nil {
		return nil
	}
	return fmt.Errorf("%w since %s: %v", ErrUnavailable, a.downSince.Format(time.TimeOnly), a.unreachable)
}

// err explains why the store is not ready (nil when it is).
func (a *availability) err() error {
	if err := a.unavailable(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failing) == 0 {
		return nil
	}
	paths := make([]string, 0, len(a.failing))
	for p := range a.failing {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var b strings.Builder
	for i, p := range paths {
		if i > 0 {
			b.WriteString("; ")
		}
		f := a.failing[p]
		fmt.Fprintf(&b, "%s since %s: %v", p, f.since.Format(time.TimeOnly), f.err)
	}
	return fmt.Errorf("store: cannot write (%s)", b.String())
}

// failureLog is the log event for one failed write: a failure of the
// store itself is logged once per outage (availability.wrote) and at debug
// level each time, since a full disk fails every commit (and a log on the
// same disk would only fill it faster); a refusal of the data is a warning.
func (s *database) failureLog(err error) *zerolog.Event {
	if storeFault(err) {
		return s.log.Debug()
	}
	return s.log.Warn()
}

// runMonitor pings the database every HealthInterval, each ping bounded by
// PingTimeout, and probes with a small write while event commits fail,
// until ctx ends.
func (s *database) runMonitor(ctx context.Context) {
	s.avail.monitored.Store(true)
	defer s.avail.monitored.Store(false)
	every.Tick(ctx, s.cfg.HealthInterval, func() {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
		err := s.be.ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.avail.pinged(err)
		if err == nil && s.avail.isFailing(pathEvents) {
			wctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
			err := s.be.probeWrite(wctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			s.avail.wrote(pathEvents, err)
		}
	})
}

// storeFault reports whether err is the store's own failure (the database
// unreachable, hung, out of space, failing I/O, read-only) rather than a
// refusal of the data written, which writing other data would not meet.
func storeFault(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrUnavailable) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: statement timeout, shutdown
			"58", // system error: I/O
			"XX": // internal error
			return true
		}
		return pgErr.Code == "25006" // read-only transaction: a standby
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // the primary result code
		case 5, // SQLITE_BUSY
			6,  // SQLITE_LOCKED
			7,  // SQLITE_NOMEM
			8,  // SQLITE_READONLY
			10, // SQLITE_IOERR
			11, // SQLITE_CORRUPT
			13, // SQLITE_FULL
			14, // SQLITE_CANTOPEN
			15, // SQLITE_PROTOCOL
			26: // SQLITE_NOTADB
			return true
		}
		return false
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.As(err, &netErr) || errors.As(err, &connectErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}
