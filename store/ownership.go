package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/devices"
)

// OwnersChannel is the NOTIFY channel of ownership moves: the previous
// owners wake up and read MovedSince (hub_owners is the truth; a missed
// notification only delays a release until the next poll).
const OwnersChannel = "dolbom_owners"

// Claim takes hub's home for m at a CONNECT, after the hub's password was
// checked and before its CONNACK. Concurrent claims of m share one query
// per batch, like the credential lookups (hubBatcher): a connect wave of a
// region costs a round trip per thousand hubs, and a lone CONNECT waits
// for no timer. It fails with cluster.ErrNotMember when m's lease is not
// live: the CONNECT is then refused as a failed credential lookup is.
func (c Cluster) Claim(ctx context.Context, m cluster.Member, hub devices.HubID) (cluster.Owned, error) {
	if err := c.need("claim a hub"); err != nil {
		return cluster.Owned{Hub: hub}, err
	}
	if err := c.avail.unavailable(); err != nil {
		return cluster.Owned{Hub: hub}, fmt.Errorf("store: claim hub %s: %w", hub, err)
	}
	return c.claimBatcher(m).get(ctx, hub)
}

func (c Cluster) claimBatcher(m cluster.Member) *hubBatcher[cluster.Owned] {
	c.claims.mu.Lock()
	defer c.claims.mu.Unlock()
	if b := c.claims.batchers[m]; b != nil {
		return b
	}
	// One member at a time: an earlier incarnation's batcher finishes
	// what it holds and is dropped.
	b := &hubBatcher[cluster.Owned]{
		what: "claim hub",
		lookup: func(ctx context.Context, ids []string) (map[devices.HubID]cluster.Owned, error) {
			return c.claimHubs(ctx, m, ids)
		},
		blank: func(hub devices.HubID) cluster.Owned { return cluster.Owned{Hub: hub} },
	}
	c.claims.batchers = map[cluster.Member]*hubBatcher[cluster.Owned]{m: b}
	return b
}

// ClaimHubs claims hubs for m in one transaction (Claim batches into it).
func (c Cluster) ClaimHubs(ctx context.Context, m cluster.Member, hubs []devices.HubID) (map[devices.HubID]cluster.Owned, error) {
	if err := c.need("claim hubs"); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(hubs))
	for _, h := range hubs {
		ids = append(ids, string(h))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	owned, err := c.claimHubs(ctx, m, ids)
	if err != nil {
		return nil, fmt.Errorf("store: claim hubs: %w", err)
	}
	return owned, nil
}

// claimHubs claims distinct ids for m in one statement, so one round trip
// (a transaction of its own):
//   - m's member row must be live, and is share-locked (as checkLive), or
//     nothing is claimed and the claim fails with cluster.ErrNotMember;
//   - one upsert, in hub_id order (the one lock order of every writer of
//     hub_owners, so no two claims deadlock), inserts new hubs at epoch 1
//     with the journal's end as their floor, keeps the epoch of a hub m
//     owns already (bumping it would fence m's own writes in flight and
//     refuse an SOS it is handling), and bumps it otherwise, recording the
//     previous owner and the time of the move;
//   - a moved row (updated, not inserted, and claimed at this statement's
//     time) sends a NOTIFY on OwnersChannel, delivered at commit; identical
//     notifications of one transaction are delivered once.
//
// The database's now is read once, in the first CTE: every row of the
// batch is claimed at the same time, and that equality tells a move.
const claimSQL = `WITH n AS (SELECT ` + dbNowUS + ` AS us),
live AS (SELECT 1 FROM cluster_members, n
	WHERE node = $2 AND incarnation = $3 AND NOT dead AND expires_us > n.us FOR SHARE OF cluster_members),
up AS (INSERT INTO hub_owners AS o (hub_id, node, incarnation, epoch, floor_seq, claimed_us)
	SELECT h, $2, $3, 1, (SELECT COALESCE(max(seq), 0) FROM events), n.us
	FROM n, unnest($1::text[]) h WHERE EXISTS (SELECT 1 FROM live) ORDER BY h
	ON CONFLICT (hub_id) DO UPDATE SET
		epoch = CASE WHEN o.node = excluded.node AND o.incarnation = excluded.incarnation THEN o.epoch ELSE o.epoch + 1 END,
		prev_node = CASE WHEN o.node = excluded.node AND o.incarnation = excluded.incarnation THEN o.prev_node ELSE o.node END,
		prev_incarnation = CASE WHEN o.node = excluded.node AND o.incarnation = excluded.incarnation THEN o.prev_incarnation ELSE o.incarnation END,
		claimed_us = CASE WHEN o.node = excluded.node AND o.incarnation = excluded.incarnation THEN o.claimed_us ELSE excluded.claimed_us END,
		node = excluded.node, incarnation = excluded.incarnation, adopted = false
	RETURNING hub_id, epoch, floor_seq, prev_node, claimed_us, xmax = 0 AS inserted),
moved AS (SELECT up.*, NOT up.inserted AND up.claimed_us = n.us AS moved FROM up, n)
SELECT hub_id, epoch, floor_seq, prev_node, moved,
	CASE WHEN moved THEN pg_notify('` + OwnersChannel + `', '') END IS NULL
FROM moved`

func (c Cluster) claimHubs(ctx context.Context, m cluster.Member, ids []string) (map[devices.HubID]cluster.Owned, error) {
	slices.Sort(ids) // rows come back in any order; the lock order is the statement's
	out := make(map[devices.HubID]cluster.Owned, len(ids))
	rs, err := c.be.query(ctx, claimSQL, ids, m.Node, m.Incarnation)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var id, prev string
		var epoch, floor int64
		var moved, ignored bool
		if err := rs.Scan(&id, &epoch, &floor, &prev, &moved, &ignored); err != nil {
			return nil, err
		}
		o := cluster.Owned{Hub: devices.HubID(id), Epoch: devices.Epoch(epoch), FloorSeq: floor, Moved: moved}
		if moved {
			o.PrevNode = prev
		}
		out[o.Hub] = o
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 && len(ids) > 0 {
		return nil, fmt.Errorf("%w: the lease of %s is not live", cluster.ErrNotMember, m)
	}
	return out, nil
}

// adoptAtLeast is the least share of orphans one adoption scan takes. The
// live members scan in turn, each taking its share of what is left, so a
// plain share (half, with two live members) left the last silent homes of a
// dead node to a trickle of scans five seconds apart: 50, 13, 3, 1 homes,
// 20 s more before the last was watched again (the 30,000-home cluster run,
// docs/performance.md). A few hundred homes are adopted in one statement;
// only a large death is split between the live members.
const adoptAtLeast = 256

// Adopt runs one adoption scan for m, in one transaction:
//  1. members whose lease expired more than grace ago are marked dead;
//  2. m takes its share (orphans divided by live members, rounded up, and
//     at least adoptAtLeast) of the homes of dead members, skipping rows that another adopter has
//     locked (SKIP LOCKED): two nodes scanning at once split the orphans
//     without overlap and without waiting for each other;
//  3. with unowned, m takes its share of registered, enabled hubs that
//     have no owner at all (never connected since the cluster began),
//     which a single gateway would be watching. Finding them reads the
//     whole registry against hub_owners (0.3 s at 300,000 hubs on the
//     shared test machine), so the runtime asks for it at its first scan
//     and then every few minutes, not on every scan;
//  4. dead members that own nothing are deleted, except each node's newest
//     incarnation, so incarnation numbers never repeat.
//
// Adopted homes come back with Adopted set and their epoch bumped; the
// runtime acquires them with a restart grace on their deadlines. m must be
// live itself (cluster.ErrNotMember). Whether m has renewed long enough to
// be trusted to adopt (after a database outage) is the runtime's rule.
func (c Cluster) Adopt(ctx context.Context, m cluster.Member, grace time.Duration, unowned bool) ([]cluster.Owned, error) {
	if err := c.need("adopt homes"); err != nil {
		return nil, err
	}
	if grace < 0 {
		return nil, invalid("the adoption grace cannot be negative, got %s", grace)
	}
	var out []cluster.Owned
	err := c.be.inTx(ctx, func(q querier) error {
		out = out[:0]
		if err := checkLive(ctx, q, m); err != nil {
			return err
		}
		if err := markDead(ctx, q, grace); err != nil {
			return err
		}
		var live, orphans, ownerless int64
		if err := q.queryRow(ctx, `SELECT
			(SELECT count(*) FROM cluster_members WHERE NOT dead AND NOT solo AND expires_us > `+dbNowUS+`),
			(SELECT count(*) FROM hub_owners o JOIN cluster_members d ON d.node = o.node AND d.incarnation = o.incarnation WHERE d.dead)`).
			Scan(&live, &orphans); err != nil {
			return err
		}
		if unowned {
			if err := q.queryRow(ctx, `SELECT count(*) FROM hubs h WHERE NOT h.disabled
				AND NOT EXISTS (SELECT 1 FROM hub_owners o WHERE o.hub_id = h.id)`).Scan(&ownerless); err != nil {
				return err
			}
		}
		share := func(n int64) int64 { return max((n+live-1)/max(live, 1), adoptAtLeast) }
		collect := func(r rows, err error) error {
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var id, prev string
				var epoch, floor int64
				if err := r.Scan(&id, &epoch, &floor, &prev); err != nil {
					return err
				}
				out = append(out, cluster.Owned{Hub: devices.HubID(id), Epoch: devices.Epoch(epoch), FloorSeq: floor,
					Moved: prev != "", PrevNode: prev, Adopted: true})
			}
			return r.Err()
		}
		if orphans > 0 {
			if err := collect(q.query(ctx, `UPDATE hub_owners o SET prev_node = o.node, prev_incarnation = o.incarnation,
				node = $1, incarnation = $2, epoch = o.epoch + 1, claimed_us = `+dbNowUS+`, adopted = true
				WHERE o.hub_id IN (SELECT x.hub_id FROM hub_owners x
					JOIN cluster_members d ON d.node = x.node AND d.incarnation = x.incarnation
					WHERE d.dead ORDER BY x.hub_id LIMIT $3 FOR UPDATE OF x SKIP LOCKED)
				RETURNING o.hub_id, o.epoch, o.floor_seq, o.prev_node`, m.Node, m.Incarnation, share(orphans))); err != nil {
				return err
			}
		}
		if ownerless > 0 {
			if err := collect(q.query(ctx, `INSERT INTO hub_owners (hub_id, node, incarnation, epoch, floor_seq, claimed_us, adopted)
				SELECT h.id, $1, $2, 1, (SELECT COALESCE(max(seq), 0) FROM events), `+dbNowUS+`, true
				FROM hubs h WHERE NOT h.disabled AND NOT EXISTS (SELECT 1 FROM hub_owners o WHERE o.hub_id = h.id)
				ORDER BY h.id LIMIT $3
				ON CONFLICT (hub_id) DO NOTHING
				RETURNING hub_id, epoch, floor_seq, prev_node`, m.Node, m.Incarnation, share(ownerless))); err != nil {
				return err
			}
		}
		if len(out) > 0 {
			if _, err := q.exec(ctx, `SELECT pg_notify($1, '')`, OwnersChannel); err != nil {
				return err
			}
		}
		_, err := q.exec(ctx, `DELETE FROM cluster_members d WHERE dead
			AND NOT EXISTS (SELECT 1 FROM hub_owners o WHERE o.node = d.node AND o.incarnation = d.incarnation)
			AND incarnation < (SELECT max(incarnation) FROM cluster_members x WHERE x.node = d.node)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: adoption scan of %s: %w", m, err)
	}
	return out, nil
}

// MovedSince lists the hubs that moved away from m at or after since
// (database clock, as Move.At), oldest first: m releases them (its
// detectors drop the homes unsaved, its broker the sessions without a
// will). The caller keeps the newest At as its next since.
func (c Cluster) MovedSince(ctx context.Context, m cluster.Member, since time.Time) ([]cluster.Move, error) {
	if err := c.need("list moved hubs"); err != nil {
		return nil, err
	}
	rs, err := c.be.query(ctx, `SELECT hub_id, epoch, claimed_us FROM hub_owners
		WHERE prev_node = $1 AND prev_incarnation = $2 AND claimed_us >= $3
		AND NOT (node = $1 AND incarnation = $2)
		ORDER BY claimed_us, hub_id`, m.Node, m.Incarnation, toUS(since))
	if err != nil {
		return nil, fmt.Errorf("store: hubs moved from %s: %w", m, err)
	}
	defer rs.Close()
	var out []cluster.Move
	for rs.Next() {
		var id string
		var epoch, at int64
		if err := rs.Scan(&id, &epoch, &at); err != nil {
			return nil, fmt.Errorf("store: hubs moved from %s: %w", m, err)
		}
		out = append(out, cluster.Move{Hub: devices.HubID(id), Epoch: devices.Epoch(epoch), At: fromUS(at)})
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: hubs moved from %s: %w", m, err)
	}
	return out, nil
}
