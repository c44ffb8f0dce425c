package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Fencing (cluster mode, PostgreSQL; docs/cluster.md, "Fencing"): every
// per-home write carries the ownership epoch it was made under and is
// written only while that is the hub's current epoch in hub_owners. A
// gateway that lost a home without knowing it (paused, cut off) can then
// neither overwrite the new owner's state, nor journal an event the new
// owner's replay would miss, nor raise an incident for the home.
//
// The check and the write are one statement (or one transaction) that
// reads the hub's owner row FOR SHARE: a claim moving the hub updates that
// row, so it waits for the write to commit, or the write waits for the
// claim and then reads the new epoch and is refused. In either order a
// write of an old epoch commits only before the claim. It must be FOR
// SHARE, not FOR KEY SHARE: a claim changes no key, and FOR KEY SHARE
// would not conflict with it.
//
// Lock order, everywhere: hub_owners rows first, in hub_id order (the
// claims' order, ownership.go), then the data rows. No cycle is possible
// between a claim (hub_owners only) and a fenced write.
//
// The single gateway (Config.Cluster off) runs none of this: its
// statements are those it ran before clusters existed.

// ErrUnfenced is a per-home write without an epoch (0) in cluster mode: a
// wiring bug (a writer that was not given the claim's epoch), refused so
// that it cannot bypass fencing.
var ErrUnfenced = errors.New("store: a per-home write carries no ownership epoch (0) in cluster mode")

// fenced reports whether per-home writes are fenced (Config.Cluster; Open
// refuses it on the embedded store).
func (s *database) fenced() bool { return s.cfg.Cluster }

// ownersForShare share-locks the owner rows of the hubs in $1 (text[]) in
// hub_id order and yields (hub_id, epoch). MATERIALIZED: the rows are
// locked once, by this scan, whatever plan the statement around it gets.
// IN (SELECT unnest), not = ANY($1): once the prepared statement runs on
// a generic plan, = ANY compares each row with the whole array (a 1,000-
// event group then spent ~30 ms there), while the semi-join hashes the
// array or looks each hub up in the primary key.
const ownersForShare = `own AS MATERIALIZED (SELECT hub_id, epoch FROM hub_owners
	WHERE hub_id IN (SELECT unnest($1::text[])) ORDER BY hub_id FOR SHARE)`

// fencedData is how each fenced table's data column is passed: the
// array type bound and the cast of one element.
var fencedData = map[string]struct{ array, cast string }{
	"home_state": {"bytea[]", ""},
	"hub_health": {"text[]", "::jsonb"},
}

// fencedUpsertSQL writes each (hub, data, epoch) whose epoch is its hub's
// current one ($1 hubs, $2 data, $3 epochs, $4 updated_us), never over a
// row of a newer epoch (state never goes backwards), and returns the hubs
// it wrote: the others were refused.
func fencedUpsertSQL(table string) string {
	d := fencedData[table]
	return `WITH ` + ownersForShare + `
INSERT INTO ` + table + ` AS t (hub_id, data, updated_us, epoch)
	SELECT u.h, u.d` + d.cast + `, $4, u.e FROM unnest($1::text[], $2::` + d.array + `, $3::bigint[]) AS u(h, d, e)
	JOIN own ON own.hub_id = u.h AND own.epoch = u.e ORDER BY u.h
ON CONFLICT (hub_id) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us, epoch = excluded.epoch
	WHERE t.epoch <= excluded.epoch
RETURNING hub_id`
}

// upsertFenced is upsertByHub in cluster mode: chunks as there, each one
// statement (fencedUpsertSQL). The homes refused come back as one
// *detectors.StaleError after every chunk was written; a record without
// an epoch fails the whole call with ErrUnfenced before anything is
// written.
func upsertFenced[T any](ctx context.Context, s *database, table string, recs []T, hub func(T) devices.HubID, epoch func(T) devices.Epoch, data func(T) (any, error)) error {
	for _, r := range recs {
		if id := hub(r); id != "" && epoch(r) == 0 {
			return fmt.Errorf("%w: %s of hub %s", ErrUnfenced, table, id)
		}
	}
	query := fencedUpsertSQL(table)
	now := toUS(s.now())
	var stale []devices.HubID
	for start := 0; start < len(recs); start += hubChunk {
		chunk := recs[start:min(start+hubChunk, len(recs))]
		hubs := make([]string, 0, len(chunk))
		epochs := make([]int64, 0, len(chunk))
		var blobs [][]byte
		var texts []string
		for _, i := range lastOfEachHub(chunk, hub) {
			d, err := data(chunk[i])
			if err != nil {
				return err
			}
			hubs = append(hubs, string(hub(chunk[i])))
			epochs = append(epochs, int64(epoch(chunk[i])))
			switch v := d.(type) {
			case []byte:
				blobs = append(blobs, v)
			case string:
				texts = append(texts, v)
			default:
				return fmt.Errorf("store: %s data of type %T", table, d)
			}
		}
		if len(hubs) == 0 {
			continue
		}
		var arg any = texts
		if fencedData[table].array == "bytea[]" {
			arg = blobs
		}
		saved := make(map[string]bool, len(hubs))
		err := s.inRelaxedTx(ctx, s.st, func(q querier) error {
			clear(saved)
			rs, err := q.query(ctx, query, hubs, arg, epochs, now)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var h string
				if err := rs.Scan(&h); err != nil {
					return err
				}
				saved[h] = true
			}
			return rs.Err()
		})
		if err != nil {
			return err
		}
		for i := len(hubs) - 1; i >= 0; i-- { // back in the order given
			if !saved[hubs[i]] {
				stale = append(stale, devices.HubID(hubs[i]))
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	s.metrics.staleRejected.WithLabelValues(table).Add(float64(len(stale)))
	return &detectors.StaleError{Hubs: stale}
}

// lockFences starts a dispatch transaction in cluster mode: the owner rows
// of the hubs that muts are fenced by, share-locked in hub_id order before
// any incident or outbox row, so that the epochs read hold until the
// commit (a claim moving one of the hubs waits for it). It returns each
// hub's current epoch (a hub without an owner row is missing: epoch 0).
// It is nil when no mutation is fenced, and reads nothing.
func lockFences(ctx context.Context, q querier, muts []dispatch.Mutation) (map[devices.HubID]devices.Epoch, error) {
	var hubs []string
	for _, m := range muts {
		if m.Fence.Hub != "" && m.Fence.Epoch != 0 {
			hubs = append(hubs, string(m.Fence.Hub))
		}
	}
	epochs := map[devices.HubID]devices.Epoch{}
	if len(hubs) == 0 {
		return epochs, nil
	}
	slices.Sort(hubs)
	rs, err := q.query(ctx, `WITH `+ownersForShare+` SELECT hub_id, epoch FROM own`, slices.Compact(hubs))
	if err != nil {
		return nil, fmt.Errorf("lock hub owners: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var hub string
		var epoch int64
		if err := rs.Scan(&hub, &epoch); err != nil {
			return nil, fmt.Errorf("lock hub owners: %w", err)
		}
		epochs[devices.HubID(hub)] = devices.Epoch(epoch)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("lock hub owners: %w", err)
	}
	return epochs, nil
}

// fenceRefusal is why a mutation fenced by f may not be applied (nil: it
// may): f's epoch is not its hub's current one (dispatch.ErrStaleEpoch),
// or f names a hub without an epoch (ErrUnfenced). An unfenced mutation
// (119, the console, callbacks, timers) always may.
func fenceRefusal(f dispatch.Fence, epochs map[devices.HubID]devices.Epoch) error {
	switch {
	case f.Hub == "":
		return nil
	case f.Epoch == 0:
		return fmt.Errorf("%w: detection of hub %s", ErrUnfenced, f.Hub)
	case epochs[f.Hub] != f.Epoch:
		return fmt.Errorf("store: detection of hub %s at epoch %d, now %d: %w", f.Hub, f.Epoch, epochs[f.Hub], dispatch.ErrStaleEpoch)
	}
	return nil
}

// countStaleMutations counts the committed group's mutations refused as
// stale (once per commit, not per attempt of its transaction).
func (s *database) countStaleMutations(results []dispatch.MutationResult) {
	n := 0
	for _, r := range results {
		if r.Err != nil && errors.Is(r.Err, dispatch.ErrStaleEpoch) {
			n++
		}
	}
	if n > 0 {
		s.metrics.staleRejected.WithLabelValues("detection").Add(float64(n))
	}
}

// outboxClaim is what claimIn's statement varies by: the two selections
// ($1 the claim's now; abandoned rows, then due rows), the claimed rows'
// lease expiry (its SQL and the argument bound as $3) and arguments from
// $5 on.
type outboxClaim struct {
	sels     []string
	until    string
	untilArg any
	more     []any
}

// clusterOutboxClaim is the claim in cluster mode:
//   - leases on the database's clock ($3 is the lease's length): a node
//     whose clock is behind would otherwise see another node's live lease
//     as over and send the row again, and one ahead would hand out leases
//     that last longer than meant. Due times keep the claim's now: the
//     planner's times, off by at most the clock skew the node checks at
//     start;
//   - command rows only of hubs member owns ($5, $6): a check-in command
//     claimed by a node that lost the hub would go into a stale session
//     and be recorded as sent. A store that has not joined (member nil)
//     claims no command row.
func clusterOutboxClaim(c dispatch.Claim, member *cluster.Member) outboxClaim {
	m := cluster.Member{}
	if member != nil {
		m = *member
	}
	const owned = ` AND (kind <> 'command' OR hub_id IN (SELECT hub_id FROM hub_owners WHERE node = $5 AND incarnation = $6))`
	return outboxClaim{
		sels: []string{
			`state = 'sending' AND claimed_until_us <= ` + dbNowUS + owned,
			`state = 'pending' AND due_us <= $1` + owned,
		},
		until:    dbNowUS + ` + $3`,
		untilArg: c.Lease.Microseconds(),
		more:     []any{m.Node, m.Incarnation},
	}
}

// commandHub is the hub_id written with an outbox row: its incident's hub
// for a command, none for the others (only commands are claimed by owner).
func commandHub(r *dispatch.OutboxRow, hub devices.HubID) devices.HubID {
	if r.Kind != dispatch.KindCommand {
		return ""
	}
	return hub
}
