package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dolbom/dolbom/cluster"
)

// nameLocks are the node names this process runs as, each held by a
// session advisory lock on a connection of its own for as long as the
// process lives (or until Close).
//
// They tell a dead gateway from a live one at once. A lease alone cannot:
// a gateway killed with SIGKILL leaves its lease live for up to its TTL,
// and its restart, with the same --node, would have to wait that long
// before it could serve (every hub and SOS waiting meanwhile). A killed
// process's connections close with it, and PostgreSQL drops their
// session locks as soon as the backend sees the socket closed; so a
// joiner that gets its name's lock knows that no live process has the
// name, and joins at once, marking the old incarnation dead. One that does
// not get it is refused: another gateway runs with this --node.
type nameLocks struct {
	mu   sync.Mutex
	held map[string]*pgxpool.Conn
}

// nameLockSQL takes the session advisory lock of a node name. The key is
// PostgreSQL's own 64-bit hash of the name (hashtextextended), in a
// namespace of its own, and of the schema the gateway's tables are in:
// advisory locks belong to the whole database, but a deployment is its
// schema (search_path), and two deployments in two schemas of one
// database (the tests' throwaway schemas among them) may each run a
// gateway named after the host.
const nameLockSQL = `SELECT pg_try_advisory_lock(hashtextextended('dolbom-node:' || coalesce(current_schema(), '') || ':' || $1, 0))`

// holdName makes sure this process holds node's name lock: it keeps the
// lock it holds on a connection that still answers, and takes it again
// (on a new connection) when that connection died, the database having
// restarted or dropped it. It fails with cluster.ErrNodeLive when another
// process holds the name.
func (c Cluster) holdName(ctx context.Context, node string) error {
	pg, ok := c.be.(*postgresBackend)
	if !ok {
		return cluster.ErrNeedsPostgres
	}
	c.names.mu.Lock()
	defer c.names.mu.Unlock()
	if conn := c.names.held[node]; conn != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := conn.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		// The session is gone, and its lock with it: never hand that
		// connection back to the pool.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
		delete(c.names.held, node)
	}
	conn, err := pg.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: lock node name %s: %w", node, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, nameLockSQL, node).Scan(&got); err != nil {
		conn.Release()
		return fmt.Errorf("store: lock node name %s: %w", node, err)
	}
	if !got {
		conn.Release()
		return fmt.Errorf("%w: another dolbomd runs with --node %s (it holds the node's lock on the database)", cluster.ErrNodeLive, node)
	}
	if c.names.held == nil {
		c.names.held = map[string]*pgxpool.Conn{}
	}
	c.names.held[node] = conn
	return nil
}

// releaseNames lets every name go (Store.Close): the sessions close, so
// the locks go with them even when the database does not answer.
func (n *nameLocks) releaseNames() {
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for node, conn := range n.held {
		_ = conn.Conn().Close(ctx)
		conn.Release()
		delete(n.held, node)
	}
}
