package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/defaults"
)

// Homes is what a node does with the homes it gains and loses; the gateway
// wires it to the detectors and the broker.
type Homes interface {
	// Release lets go a home that moved to another member: the detectors
	// first (no save, its timers stop), then the broker's session (no will),
	// so that the disconnect which follows raises nothing.
	Release(hub devices.HubID)
	// Adopt takes homes whose owner died while their hubs were silent: they
	// are loaded and watched from now on, their deadlines restarted with a
	// grace as after a restart.
	Adopt(homes []Owned)
	// ReleaseAll lets every home go: the lease was lost, and any other
	// member may own any of them by now.
	ReleaseAll()
}

// Changes is what a node does with the registry changes other nodes made
// (a hub revoked or disabled, a resident edited, a hub's sensors changed):
// the gateway drops the hub's sessions here, forgets cached residents,
// refreshes what the detectors know.
type Changes interface {
	Apply(c RegistryChange)
}

// Config is a node's name and timing. The zero durations take the
// defaults below; tests shorten them.
type Config struct {
	Node string // --node: the member's name, stable across restarts
	Addr string // where the node serves, shown to operators
	// Renew is how often the lease is renewed (default 2 s); TTL how long
	// a renewal lasts (default 10 s, at least 3 x Renew).
	Renew, TTL time.Duration
	// Scan is how often the node looks for dead members' silent homes to
	// adopt (default 5 s).
	Scan time.Duration
	// MovedEvery is how often the node reads the homes taken from it even
	// without a notification (default 10 s): a safety net for a listener
	// that is down.
	MovedEvery time.Duration
	// Changes, when set, is told the registry changes other nodes made,
	// in order, from the moment the node first joined.
	Changes Changes
	// MaxSkew is the largest difference between this node's clock and the
	// database's it starts with (default 2 s): detections and due times are
	// stamped with the node's clock, leases with the database's.
	MaxSkew time.Duration
	// Solo makes the node the single gateway of its PostgreSQL database
	// (started without --cluster). It holds a lease as a solo member, so
	// that a second gateway on the database, single or a cluster node, is
	// refused (ErrSoloConflict) instead of watching every home a second
	// time; but it claims nothing, adopts nothing and follows no moves:
	// every home is its own at epoch 0, as before clusters. Its Homes may
	// be nil.
	Solo bool
}

func (c Config) withDefaults() Config {
	defaults.Set(&c.Renew, 2*time.Second)
	defaults.Set(&c.TTL, 10*time.Second)
	defaults.Set(&c.Scan, 5*time.Second)
	defaults.Set(&c.MovedEvery, 10*time.Second)
	defaults.Set(&c.MaxSkew, 2*time.Second)
	return c
}

func (c Config) validate() error {
	switch {
	case c.Node == "":
		return errors.New("cluster: a node name is required (--node): a container's host name changes between starts")
	case c.TTL < 3*c.Renew:
		return fmt.Errorf("cluster: lease TTL %v must be at least 3 renewals (%v)", c.TTL, 3*c.Renew)
	}
	return nil
}

// ownersChannel is the notification channel a claim that moves a home
// signals (the store sends it in the claim's transaction).
const ownersChannel = "dolbom_owners"

// registryChannel is the notification channel of the registry feed (the
// store sends it with each change it records).
const registryChannel = "dolbom_registry"

// changesPage is how many registry changes one read takes.
const changesPage = 500

// Node is one gateway's membership of a cluster: it holds the lease,
// claims homes at CONNECT (Owners), lets go the homes other members take,
// adopts dead members' silent homes, and starts over as a new incarnation
// when its lease is lost.
type Node struct {
	cfg   Config
	st    Store
	homes Homes
	log   zerolog.Logger

	mu     sync.Mutex
	member Member // zero until joined, and while rejoining
	// healthySince is when the current run of good renewals began (zero
	// while renewals fail): adoption waits for 2 x TTL of them, so that
	// after a database outage every member renews before any adopts.
	healthySince time.Time
	// lastRenewed is the database time of the last good renewal.
	lastRenewed time.Time
	// movedAfter is the database time up to which moves were handled.
	movedAfter time.Time
	notReady   string
	skew       time.Duration

	moved chan struct{} // a notification: read the moves now
	// joined is closed once the node first joined: hubs are served only
	// from then on (a claim needs the member).
	joined     chan struct{}
	joinedOnce sync.Once
	scans      int // adoption scans made (Run's goroutine only)
	// changed is a registry notification: read the changes now.
	changed chan struct{}
	// changesAfter is the registry feed's cursor (Run's goroutine only);
	// changesRead says it was set, at the first join, to the feed's head:
	// what was changed before this node ran is in what it loads.
	changesAfter int64
	changesRead  bool
}

// unownedEvery is how many adoption scans pass between two looks for hubs
// with no owner at all (about a minute at the default scan of 5 s).
const unownedEvery = 12

// NewNode returns a node; Run joins and keeps it a member.
func NewNode(cfg Config, st Store, homes Homes, log zerolog.Logger) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, st: st, homes: homes, log: log.With().Str("component", "cluster").Str("node", cfg.Node).Logger(),
		notReady: "cluster: joining", moved: make(chan struct{}, 1), changed: make(chan struct{}, 1), joined: make(chan struct{})}, nil
}

// Claim takes hub's home for this node at its CONNECT (the broker's
// Owners port). A single gateway (Solo) owns every home at epoch 0.
func (n *Node) Claim(ctx context.Context, hub devices.HubID) (devices.Epoch, error) {
	if n.cfg.Solo {
		return 0, nil
	}
	n.mu.Lock()
	m := n.member
	n.mu.Unlock()
	if m.Node == "" {
		return 0, ErrNotMember
	}
	o, err := n.st.Claim(ctx, m, hub)
	if err != nil {
		return 0, err
	}
	return o.Epoch, nil
}

// Joined is closed once the node first joined the cluster.
func (n *Node) Joined() <-chan struct{} { return n.joined }

// Ready says whether the node may serve hubs, and if not why (for /readyz).
func (n *Node) Ready() (bool, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.notReady == "", n.notReady
}

// Member is the incarnation the node runs as now (zero while joining).
func (n *Node) Member() Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.member
}

// Skew is the database's clock minus this node's at the last renewal.
func (n *Node) Skew() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.skew
}

// Join makes the node a member now, before Run, retrying as Run would
// until ctx ends (then the store's last refusal says why): a single gateway
// joins before it serves, so that a conflict refuses its start. Run then
// keeps the lease.
func (n *Node) Join(ctx context.Context) error { return n.join(ctx) }

// Run joins the cluster (unless Join did) and keeps the node a member
// until ctx ends. It returns an error only for what an operator must fix:
// a node name in use by a live gateway is waited out, but a clock too far
// from the database's, or a single gateway beside a cluster, is refused.
// It does not leave: a graceful stop calls Leave once the node's hubs and
// homes are let go.
func (n *Node) Run(ctx context.Context) error {
	if n.Member().Node == "" {
		if err := n.join(ctx); err != nil {
			return err
		}
	}
	renew := time.NewTicker(n.cfg.Renew)
	defer renew.Stop()
	if n.cfg.Solo {
		return n.keepSoloLease(ctx, renew.C)
	}
	n.skipPastChanges(ctx)
	go n.listen(ctx)
	scan := time.NewTicker(n.cfg.Scan)
	defer scan.Stop()
	safety := time.NewTicker(n.cfg.MovedEvery)
	defer safety.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-renew.C:
			if err := n.renew(ctx); err != nil {
				return err
			}
		case <-scan.C:
			n.adopt(ctx)
		case <-safety.C:
			n.releaseMoved(ctx)
			n.applyChanges(ctx)
		case <-n.moved:
			n.releaseMoved(ctx)
		case <-n.changed:
			n.applyChanges(ctx)
		}
	}
}

// keepSoloLease is a single gateway's Run: its lease renewed, nothing else
// (it owns every home, so there is nothing to claim, adopt or let go).
func (n *Node) keepSoloLease(ctx context.Context, renew <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-renew:
			if err := n.renew(ctx); err != nil {
				return err
			}
		}
	}
}

// Leave gives the lease up at a graceful stop, after Run returned and once
// the node's hubs and homes are let go: the member is marked dead at once,
// so that the other nodes adopt what it still owns at their next scan
// instead of a TTL and a grace later, and a single gateway started next
// need not wait for the lease to run out. Claims are refused from then on.
// A node that never joined, or lost its lease, has nothing to give up.
func (n *Node) Leave(ctx context.Context) error {
	n.mu.Lock()
	m := n.member
	n.member, n.notReady = Member{}, "cluster: left"
	n.mu.Unlock()
	if m.Node == "" {
		return nil
	}
	if err := n.st.Leave(ctx, m); err != nil {
		return fmt.Errorf("cluster: leave as %s: %w (the other nodes adopt its homes once its lease expires)", m, err)
	}
	n.log.Info().Str("member", m.String()).Msg("lease given up: marked dead for the other nodes")
	return nil
}

// join makes the node a member as a new incarnation, retrying while the
// database is unreachable or the node's previous incarnation is still live
// (a restart within its TTL). When ctx ends first, the last refusal is in
// the error, which also matches ctx's.
func (n *Node) join(ctx context.Context) error {
	wait := n.cfg.Renew
	for {
		lease, err := n.st.Join(ctx, n.cfg.Node, n.cfg.Addr, n.cfg.TTL, n.cfg.Solo)
		if err == nil {
			if d := lease.Skew; d > n.cfg.MaxSkew || d < -n.cfg.MaxSkew {
				if !n.cfg.Solo {
					return fmt.Errorf("cluster: this machine's clock is %v off the database's (at most %v): fix its time synchronisation (NTP) and start again", d, n.cfg.MaxSkew)
				}
				// A single gateway compares its clock with no other
				// gateway's: it runs, as it did before it held a lease.
				n.log.Warn().Dur("skew", d).Msg("this machine's clock is off the database's: fix its time synchronisation (NTP)")
			}
			n.mu.Lock()
			n.member, n.skew = lease.Member, lease.Skew
			n.healthySince, n.lastRenewed = lease.Renewed, lease.Renewed
			n.movedAfter = lease.Renewed
			n.notReady = ""
			n.mu.Unlock()
			n.log.Info().Int64("incarnation", lease.Incarnation).Dur("skew", lease.Skew).Bool("solo", n.cfg.Solo).Msg("joined the cluster")
			n.joinedOnce.Do(func() { close(n.joined) })
			return nil
		}
		if errors.Is(err, ErrSoloConflict) {
			return err // an operator's set-up error: a single gateway shares the database
		}
		n.log.Warn().Err(err).Dur("retry_in", wait).Msg("cluster join failed")
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: not joined as %s: %w (%w)", n.cfg.Node, err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// renew extends the lease. A lease found lost makes the node let every
// home go and join again as a new incarnation; a failed renewal (the
// database unreachable) only ends the run of good renewals.
func (n *Node) renew(ctx context.Context) error {
	m := n.Member()
	lease, err := n.st.Renew(ctx, m, n.cfg.TTL)
	switch {
	case err == nil:
		n.mu.Lock()
		if n.healthySince.IsZero() {
			n.healthySince = lease.Renewed
		}
		n.lastRenewed = lease.Renewed
		n.skew = lease.Skew
		if d := lease.Skew; d > n.cfg.MaxSkew || d < -n.cfg.MaxSkew {
			n.log.Warn().Dur("skew", d).Msg("this machine's clock drifted from the database's")
		}
		n.mu.Unlock()
		return nil
	case errors.Is(err, ErrNotMember):
		n.mu.Lock()
		n.member = Member{}
		n.notReady = "cluster lease lost"
		n.mu.Unlock()
		if n.cfg.Solo {
			// Its homes are its own whatever happens: joining again is
			// all, refused if a cluster node is live by now.
			n.log.Warn().Err(err).Str("member", m.String()).Msg("single gateway's lease lost; joining again")
			return n.join(ctx)
		}
		n.log.Error().Str("member", m.String()).Msg("cluster lease lost: every home let go; joining again")
		n.homes.ReleaseAll()
		return n.join(ctx)
	default:
		n.log.Warn().Err(err).Msg("cluster lease not renewed")
		n.mu.Lock()
		n.healthySince = time.Time{}
		n.mu.Unlock()
		return nil
	}
}

// adopt takes this node's share of dead members' silent homes, once the
// node has renewed well for 2 x TTL (judged on the database's clock, by
// the renew loop's last renewal: the scan writes no renewal of its own).
func (n *Node) adopt(ctx context.Context) {
	n.mu.Lock()
	m, since, last := n.member, n.healthySince, n.lastRenewed
	n.mu.Unlock()
	if m.Node == "" || since.IsZero() || last.Sub(since) < 2*n.cfg.TTL {
		return
	}
	// Hubs with no owner at all (registered but never connected since the
	// cluster began) take a scan of the whole registry: at the first
	// adoption scan, then every unownedEvery scans.
	unowned := n.scans%unownedEvery == 0
	n.scans++
	// A member is dead one renewal after its lease expired. A longer grace
	// protects nothing: after a database outage every node renews late
	// before any may adopt (the 2 x TTL above), and a stalled node's writes
	// are fenced by the epoch. It only kept the silent homes of a killed
	// node unwatched a TTL longer (10 s of the failover).
	homes, err := n.st.Adopt(ctx, m, n.cfg.Renew, unowned)
	if err != nil {
		n.log.Warn().Err(err).Msg("adoption scan failed")
		return
	}
	if len(homes) > 0 {
		n.log.Info().Int("homes", len(homes)).Msg("adopted homes of dead members")
		n.homes.Adopt(homes)
	}
}

// releaseMoved lets go the homes other members took since the last look.
func (n *Node) releaseMoved(ctx context.Context) {
	n.mu.Lock()
	m, after := n.member, n.movedAfter
	n.mu.Unlock()
	if m.Node == "" {
		return
	}
	moves, err := n.st.MovedSince(ctx, m, after)
	if err != nil {
		n.log.Warn().Err(err).Msg("reading the homes that moved failed")
		return
	}
	for _, mv := range moves {
		n.homes.Release(mv.Hub)
		if mv.At.After(after) {
			after = mv.At
		}
	}
	n.mu.Lock()
	if n.member == m {
		n.movedAfter = after
	}
	n.mu.Unlock()
}

// skipPastChanges sets the registry feed's cursor to its head: the
// changes made before this node ran are in what it loads. Retried by
// applyChanges while the database does not answer.
func (n *Node) skipPastChanges(ctx context.Context) {
	if n.cfg.Changes == nil || n.changesRead {
		return
	}
	for {
		page, err := n.st.RegistryChanges(ctx, n.changesAfter, changesPage)
		if err != nil {
			n.log.Warn().Err(err).Msg("reading the registry feed's head failed; tried again")
			return
		}
		if len(page) > 0 {
			n.changesAfter = page[len(page)-1].Seq
		}
		if len(page) < changesPage {
			n.changesRead = true
			return
		}
	}
}

// applyChanges hands the registry changes other nodes made since the
// cursor to Changes, in order. This node's own are skipped: it acted on
// them when it made them (a second revocation would drop the hub's new,
// good session).
func (n *Node) applyChanges(ctx context.Context) {
	if n.cfg.Changes == nil {
		return
	}
	if !n.changesRead {
		n.skipPastChanges(ctx)
		return
	}
	for {
		page, err := n.st.RegistryChanges(ctx, n.changesAfter, changesPage)
		if err != nil {
			n.log.Warn().Err(err).Msg("reading the registry feed failed; read again at the next notification or within seconds")
			return
		}
		for _, c := range page {
			if c.Origin != n.cfg.Node {
				n.cfg.Changes.Apply(c)
			}
			n.changesAfter = c.Seq
		}
		if len(page) < changesPage {
			return
		}
	}
}

// listen wakes releaseMoved on each claim that moves a home, and
// applyChanges on each registry change, on one connection the store keeps
// (and after each reconnect, when what was notified meanwhile is lost).
func (n *Node) listen(ctx context.Context) {
	wake := func(ch chan struct{}) func() {
		return func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	err := n.st.Listen(ctx, map[string]func(){ownersChannel: wake(n.moved), registryChannel: wake(n.changed)})
	if err != nil && ctx.Err() == nil {
		n.log.Warn().Err(err).Msg("ownership notifications stopped; the moves are read every few seconds")
	}
}
