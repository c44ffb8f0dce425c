package store

import (
	"context"
	"fmt"
	"time"
)

// registryFeedKeep is how long registry_changes rows are kept: a node
// that was away longer has joined again since, and reads from the newest.
const registryFeedKeep = 24 * time.Hour

// RunRetentionAlone runs RunRetention unless another gateway of the
// database is running it (an advisory lock on PostgreSQL; one process owns
// the embedded store's file, so it always runs there): several gateways
// deleting the same chunks at once only wait for each other's row locks.
// ran is false when it was skipped. On PostgreSQL the holder also trims the
// registry feed.
func (s *Store) RunRetentionAlone(ctx context.Context, now time.Time) (res RetentionResult, ran bool, err error) {
	unlock, ok, err := s.be.tryLock(ctx, retentionLockKey)
	if err != nil {
		return res, false, fmt.Errorf("store: retention lock: %w", err)
	}
	if !ok {
		return res, false, nil
	}
	defer unlock()
	res, err = s.RunRetention(ctx, now)
	if err != nil || !s.isPostgres() {
		return res, true, err
	}
	if _, err := s.be.exec(ctx, `DELETE FROM registry_changes WHERE at_us < `+dbNowUS+` - $1`, registryFeedKeep.Microseconds()); err != nil {
		return res, true, fmt.Errorf("store: retention of registry_changes: %w", err)
	}
	return res, true, nil
}

// LockName names a job that one gateway of a database runs at a time.
type LockName int

const (
	// LockRetention is held while a gateway runs retention.
	LockRetention LockName = iota + 1
)

// TryLock takes the lock of job name if no gateway of the database holds
// it, and returns its unlock; ok is false when another one holds it. The
// lock belongs to a connection kept out of the pool: if that connection or
// the whole gateway dies, PostgreSQL releases it.
func (c Cluster) TryLock(ctx context.Context, name LockName) (unlock func(), ok bool, err error) {
	if err := c.need("take a cluster lock"); err != nil {
		return nil, false, err
	}
	var key int64
	switch name {
	case LockRetention:
		key = retentionLockKey
	default:
		return nil, false, invalid("unknown cluster lock %d", name)
	}
	unlock, ok, err = c.be.tryLock(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("store: cluster lock: %w", err)
	}
	return unlock, ok, nil
}
