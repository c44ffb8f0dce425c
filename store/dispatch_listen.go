package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ListenOutbox implements dispatch.OutboxListener. On PostgreSQL it holds
// one dedicated connection (outside the pool: LISTEN belongs to a session)
// listening on the outbox channel and calls wake for every notification,
// reconnecting within a second or two when the connection drops (not
// pgxlisten's one-minute default): the gap would otherwise delay every
// notification committed by other gateways until the next poll. After each
// (re)connect it calls wake once, since what was notified meanwhile is lost.
// On SQLite one process owns the database and the in-process wake-up is
// enough: it returns nil at once.
func (s *Store) ListenOutbox(ctx context.Context, wake func()) error {
	if !s.isPostgres() {
		return nil
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake, &backoff)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("outbox listener lost its connection; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (s *Store) listenOnce(ctx context.Context, wake func(), backoff *time.Duration) error {
	conn, err := pgx.Connect(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("store: listen: connect: %w", err)
	}
	defer func() {
		// Bounded: after a cancelled wait the server may not answer the
		// goodbye, and a shutdown must not hang on it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		return fmt.Errorf("store: listen: %w", err)
	}
	*backoff = 100 * time.Millisecond
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("store: listen: %w", err)
		}
		wake()
	}
}
