package store

import (
	"context"
	"fmt"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/devices"
)

// RegistryChannel is the NOTIFY channel of the registry feed. The table
// registry_changes is the truth: NOTIFY is delivered at commit and kept
// for nobody who is not listening, so a node reads the table after its
// cursor on every wake-up and after every reconnect of its listener.
const RegistryChannel = "dolbom_registry"

// NoteRegistryChange records that hub's registry entry changed in a way
// every node must act on (cluster.ChangeKind: drop sessions of a revoked
// or disabled hub, forget a resident, refresh sensors), by node origin,
// and wakes the other nodes, in one transaction.
func (c Cluster) NoteRegistryChange(ctx context.Context, hub devices.HubID, kind cluster.ChangeKind, origin string) error {
	if err := c.need("record a registry change"); err != nil {
		return err
	}
	if !kind.Valid() {
		return invalid("unknown registry change %q (want %s, %s, %s or %s)", kind,
			cluster.ChangeRevoke, cluster.ChangeDisable, cluster.ChangeResident, cluster.ChangeSensors)
	}
	err := c.be.inTx(ctx, func(q querier) error { return noteRegistryChange(ctx, q, hub, kind, origin) })
	if err != nil {
		return fmt.Errorf("store: record registry change %s of hub %s: %w", kind, hub, err)
	}
	return nil
}

// registryFeedLockKey serialises the writers of registry_changes (an
// advisory transaction lock, held until commit): rows then commit in seq
// order, so a reader that has seen seq n has seen every row before it, and
// a cursor never skips a row whose transaction was still open. Registry
// changes are operators' edits, a few a minute at most: waiting for each
// other costs nothing.
const registryFeedLockKey = 7242020

// noteRegistryChange writes the change inside a registry write's own
// transaction, so that the change and its record commit together.
func noteRegistryChange(ctx context.Context, q querier, hub devices.HubID, kind cluster.ChangeKind, origin string) error {
	if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, registryFeedLockKey); err != nil {
		return err
	}
	if _, err := q.exec(ctx, `INSERT INTO registry_changes (hub_id, kind, origin, at_us) VALUES ($1, $2, $3, `+dbNowUS+`)`,
		string(hub), string(kind), origin); err != nil {
		return err
	}
	_, err := q.exec(ctx, `SELECT pg_notify($1, '')`, RegistryChannel)
	return err
}

// RegistryChanges returns up to limit changes after seq, in order. The
// writers commit in seq order (registryFeedLockKey), so the newest seq
// read is a safe cursor: no row below it can appear later.
func (c Cluster) RegistryChanges(ctx context.Context, after int64, limit int) ([]cluster.RegistryChange, error) {
	if err := c.need("read the registry feed"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, invalid("the registry feed needs a positive limit, got %d", limit)
	}
	rs, err := c.be.query(ctx, `SELECT seq, hub_id, kind, origin, at_us FROM registry_changes
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: registry feed: %w", err)
	}
	defer rs.Close()
	var out []cluster.RegistryChange
	for rs.Next() {
		var ch cluster.RegistryChange
		var hub, kind string
		var at int64
		if err := rs.Scan(&ch.Seq, &hub, &kind, &ch.Origin, &at); err != nil {
			return nil, fmt.Errorf("store: registry feed: %w", err)
		}
		ch.Hub, ch.Kind, ch.At = devices.HubID(hub), cluster.ChangeKind(kind), fromUS(at)
		out = append(out, ch)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: registry feed: %w", err)
	}
	return out, nil
}

// Listen holds one connection LISTENing on every channel of handlers
// (OwnersChannel, RegistryChannel, ...) and calls a channel's handler on
// each of its notifications, and every handler after each (re)connect,
// until ctx ends (then it returns nil). A lost connection is made again
// within a second or two.
func (c Cluster) Listen(ctx context.Context, handlers map[string]func()) error {
	if err := c.need("listen for cluster changes"); err != nil {
		return err
	}
	if len(handlers) == 0 {
		return invalid("listen needs at least one channel")
	}
	hs := make(map[string]channelHandler, len(handlers))
	for ch, wake := range handlers {
		if ch == "" || wake == nil {
			return invalid("listen needs a channel name and a handler for each channel, got %q", ch)
		}
		hs[ch] = channelHandler{wake: wake}
	}
	return c.listen(ctx, hs)
}
