package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dolbom/dolbom/cluster"
)

// Cluster is the sub-store of a cluster of gateways on one PostgreSQL
// database: node leases, hub ownership and adoption, the shared settings,
// the voice rate, the registry feed and the listener (cluster.Store;
// docs/cluster.md, "Design: ownership, leases and fencing"). On the
// embedded store every method fails with cluster.ErrNeedsPostgres: one
// process owns the file, there is nothing to share, and the single gateway
// never calls them (cluster.Solo).
//
// Every lease, expiry and claim time is the database's clock
// (clock_timestamp()), the one clock the nodes share: no node compares
// its own clock with a lease, so a node whose clock is off by an hour
// joins, renews and adopts exactly like the others.
type Cluster struct{ *database }

// The cluster runtime's port (cluster.Node) is served by this sub-store.
var _ cluster.Store = Cluster{}

// Cluster returns the cluster sub-store.
func (s *Store) Cluster() Cluster { return Cluster{s.database} }

// clusterClaims batches the claims of one member (ownership.go); a new
// incarnation gets a new batcher.
type clusterClaims struct {
	mu       sync.Mutex
	batchers map[cluster.Member]*hubBatcher[cluster.Owned]
}

// dbNowUS is the database's clock in Unix microseconds, read anew by each
// use (clock_timestamp, not the transaction's start: a lease granted late
// in a transaction is measured from then).
const dbNowUS = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint`

// need refuses every cluster operation of the embedded store.
func (c Cluster) need(what string) error {
	if !c.isPostgres() {
		return fmt.Errorf("store: %s: %w", what, cluster.ErrNeedsPostgres)
	}
	return nil
}

// joinLockKey serialises joins (advisory transaction lock): the checks of
// live members and the insert of the new one are then one step, so two
// gateways started with the same --node cannot both join.
const joinLockKey = 7242019

// maxNodeName bounds a node's name (it is written into every owner row).
const maxNodeName = 64

// Join makes node a member as a new incarnation with a lease of ttl from
// now (database clock). It refuses, with cluster.ErrNodeLive, a node name
// that another live process holds (another gateway runs with this --node:
// see nameLocks), and
// with cluster.ErrSoloConflict a single gateway (solo) beside any live
// member, or a cluster node beside a live single gateway. Earlier
// incarnations of node whose leases expired are marked dead: the name is
// this process's now, and their homes go to adoption.
func (c Cluster) Join(ctx context.Context, node, addr string, ttl time.Duration, solo bool) (cluster.Lease, error) {
	if err := c.need("join the cluster"); err != nil {
		return cluster.Lease{}, err
	}
	if node == "" || len(node) > maxNodeName {
		return cluster.Lease{}, invalid("a node needs a name of 1 to %d characters (--node), got %q", maxNodeName, node)
	}
	if ttl <= 0 {
		return cluster.Lease{}, invalid("the lease of node %s needs a positive duration, got %s", node, ttl)
	}
	// The name's lock first: holding it proves that no other live process
	// runs as node, so a live lease of node is a dead process's (killed
	// before it expired) and is taken over at once (cluster_names.go).
	if err := c.holdName(ctx, node); err != nil {
		return cluster.Lease{}, fmt.Errorf("store: join the cluster as %s: %w", node, err)
	}
	local := c.cfg.Now()
	var lease cluster.Lease
	err := c.be.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, joinLockKey); err != nil {
			return err
		}
		rs, err := q.query(ctx, `SELECT node, incarnation, addr, solo, `+dbNowUS+` - renewed_us FROM cluster_members
			WHERE NOT dead AND expires_us > `+dbNowUS+` ORDER BY node, incarnation`)
		if err != nil {
			return err
		}
		var refusal error
		for rs.Next() {
			var other cluster.Member
			var otherAddr string
			var otherSolo bool
			var agoUS int64
			if err := rs.Scan(&other.Node, &other.Incarnation, &otherAddr, &otherSolo, &agoUS); err != nil {
				rs.Close()
				return err
			}
			if refusal != nil {
				continue
			}
			ago := usDuration(agoUS).Round(100 * time.Millisecond)
			switch {
			case other.Node == node:
				// Its process is gone: this one holds the name's lock.
			case solo && otherSolo:
				refusal = fmt.Errorf("%w: the single gateway %s is live on this database (renewed %s ago, %s): two gateways need --cluster", cluster.ErrSoloConflict, other.Node, ago, otherAddr)
			case solo:
				refusal = fmt.Errorf("%w: cluster node %s is live on this database (renewed %s ago, %s): start this gateway with --cluster", cluster.ErrSoloConflict, other.Node, ago, otherAddr)
			case otherSolo:
				refusal = fmt.Errorf("%w: the single gateway %s is live on this database (renewed %s ago, %s): stop it, or start it with --cluster", cluster.ErrSoloConflict, other.Node, ago, otherAddr)
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		if refusal != nil {
			return refusal
		}
		if _, err := q.exec(ctx, `UPDATE cluster_members SET dead = true WHERE node = $1 AND NOT dead`, node); err != nil {
			return err
		}
		lease.Node = node
		var renewed, expires int64
		if err := q.queryRow(ctx, `INSERT INTO cluster_members (node, incarnation, addr, started_us, renewed_us, expires_us, solo)
			SELECT $1, COALESCE((SELECT max(incarnation) FROM cluster_members WHERE node = $1), 0) + 1, $2, n.us, n.us, n.us + $3, $4
			FROM (SELECT `+dbNowUS+` AS us) n
			RETURNING incarnation, renewed_us, expires_us`, node, addr, ttl.Microseconds(), solo).Scan(&lease.Incarnation, &renewed, &expires); err != nil {
			return err
		}
		lease.Renewed, lease.Expires = fromUS(renewed), fromUS(expires)
		return nil
	})
	if err != nil {
		return cluster.Lease{}, fmt.Errorf("store: join the cluster as %s: %w", node, err)
	}
	lease.Skew = lease.Renewed.Sub(local)
	// The gateway is this member now: its outbox claims take the command
	// rows of the hubs this member owns (fence.go).
	m := lease.Member
	c.member.Store(&m)
	return lease, nil
}

// Renew extends m's lease to ttl from now (database clock). A renewal is
// accepted late, after the lease expired, as long as no other node marked
// m dead: after a PostgreSQL failover every node renews late at once, and
// none of them has lost anything. When m was marked dead it fails with
// cluster.ErrNotMember: m's homes are being adopted, and the node must
// release them all and join again.
func (c Cluster) Renew(ctx context.Context, m cluster.Member, ttl time.Duration) (cluster.Lease, error) {
	if err := c.need("renew the lease"); err != nil {
		return cluster.Lease{}, err
	}
	if ttl <= 0 {
		return cluster.Lease{}, invalid("the lease of %s needs a positive duration, got %s", m, ttl)
	}
	// A name lock lost with its connection (the database restarted) is
	// taken again; taken by another process meanwhile, the lease is lost.
	if err := c.holdName(ctx, m.Node); err != nil {
		if errors.Is(err, cluster.ErrNodeLive) {
			return cluster.Lease{}, fmt.Errorf("store: renew %s: %w (%v)", m, cluster.ErrNotMember, err)
		}
		return cluster.Lease{}, fmt.Errorf("store: renew %s: %w", m, err)
	}
	local := c.cfg.Now()
	var renewed, expires int64
	err := c.be.queryRow(ctx, `UPDATE cluster_members SET renewed_us = n.us, expires_us = n.us + $3
		FROM (SELECT `+dbNowUS+` AS us) n
		WHERE node = $1 AND incarnation = $2 AND NOT dead
		RETURNING renewed_us, expires_us`, m.Node, m.Incarnation, ttl.Microseconds()).Scan(&renewed, &expires)
	switch {
	case isNoRows(err):
		return cluster.Lease{}, fmt.Errorf("store: renew %s: %w (marked dead by another node)", m, cluster.ErrNotMember)
	case err != nil:
		return cluster.Lease{}, fmt.Errorf("store: renew %s: %w", m, err)
	}
	lease := cluster.Lease{Member: m, Renewed: fromUS(renewed), Expires: fromUS(expires)}
	lease.Skew = lease.Renewed.Sub(local)
	return lease, nil
}

// Leave marks m dead at once: its gateway stops gracefully, having let its
// hubs go to the other nodes and saved its homes (fenced by their epochs).
// The live members then adopt what m still owns (homes whose hubs are
// offline or still reconnecting) at their next scan, instead of a TTL and
// the grace later as after a crash; and a single gateway started next on
// the database does not wait for m's lease to run out. Leaving twice, or
// after another node marked m dead, does nothing.
func (c Cluster) Leave(ctx context.Context, m cluster.Member) error {
	if err := c.need("leave the cluster"); err != nil {
		return err
	}
	if _, err := c.be.exec(ctx, `UPDATE cluster_members SET dead = true, expires_us = LEAST(expires_us, `+dbNowUS+`)
		WHERE node = $1 AND incarnation = $2 AND NOT dead`, m.Node, m.Incarnation); err != nil {
		return fmt.Errorf("store: leave %s: %w", m, err)
	}
	return nil
}

// checkLive fails with cluster.ErrNotMember unless m's lease is live now
// (database clock): not marked dead and not expired. A claim or an
// adoption made on an expired lease could race the adoption of m's own
// homes. The member row stays share-locked until the transaction ends, so
// a scan marking m dead waits for it and then sees (and adopts) what it
// claimed.
func checkLive(ctx context.Context, q querier, m cluster.Member) error {
	var live bool
	err := q.queryRow(ctx, `SELECT NOT dead AND expires_us > `+dbNowUS+` FROM cluster_members
		WHERE node = $1 AND incarnation = $2 FOR SHARE`, m.Node, m.Incarnation).Scan(&live)
	switch {
	case isNoRows(err):
		return fmt.Errorf("%w: %s never joined", cluster.ErrNotMember, m)
	case err != nil:
		return err
	case !live:
		return fmt.Errorf("%w: the lease of %s expired", cluster.ErrNotMember, m)
	}
	return nil
}

// markDead marks the members whose lease expired more than grace ago
// dead; their homes are then orphans, for the live members to adopt.
func markDead(ctx context.Context, q querier, grace time.Duration) error {
	_, err := q.exec(ctx, `UPDATE cluster_members SET dead = true
		WHERE NOT dead AND expires_us < `+dbNowUS+` - $1`, grace.Microseconds())
	return err
}
