package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
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
func (s Incidents) ListenOutbox(ctx context.Context, wake func()) error {
	return s.listen(ctx, map[string]channelHandler{outboxChannel: {wake: wake}})
}

// processToken tells this process's stores from other processes'.
var processToken = func() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// notifyOrigin names this Store in the payload of its incident NOTIFYs, so
// that its own listener can skip them: its dispatcher has published those
// changes already.
func (s *database) notifyOrigin() string { return fmt.Sprintf("%s-%p", processToken, s) }

// ListenIncidents implements dispatch.IncidentListener: wake is called
// whenever any gateway on the database committed incident changes (and
// once after each (re)connect), so that every gateway's live feed follows
// the database and not only its own writer. On SQLite it returns nil at
// once: one process owns the file.
func (s Incidents) ListenIncidents(ctx context.Context, wake func()) error {
	return s.listen(ctx, map[string]channelHandler{incidentChannel: {self: s.notifyOrigin(), wake: wake}})
}

// channelHandler is what a listener does with one channel's
// notifications: wake, except for those whose payload is self (the
// listener's own store sent them) when self is not empty.
type channelHandler struct {
	self string
	wake func()
}

// listen holds one dedicated connection LISTENing on every channel of
// handlers (see ListenOutbox) until ctx ends, and hands each notification
// to its channel's handler: one connection for any number of channels, not
// one each. After each (re)connect every handler's wake is called once.
func (s *database) listen(ctx context.Context, handlers map[string]channelHandler) error {
	if !s.isPostgres() {
		return nil
	}
	channels := slices.Sorted(maps.Keys(handlers))
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channels, handlers, &backoff)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Strs("channels", channels).Dur("retry_in", backoff).Msg("listener lost its connection; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

func (s *database) listenOnce(ctx context.Context, channels []string, handlers map[string]channelHandler, backoff *time.Duration) error {
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
	for _, channel := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return fmt.Errorf("store: listen on %s: %w", channel, err)
		}
	}
	*backoff = 100 * time.Millisecond
	for _, channel := range channels {
		handlers[channel].wake()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("store: listen: %w", err)
		}
		h, ok := handlers[n.Channel]
		if !ok || (h.self != "" && n.Payload == h.self) {
			continue
		}
		h.wake()
	}
}
