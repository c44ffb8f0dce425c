package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
)

// ClusterOptions makes the gateway one node of a cluster of gateways on one
// PostgreSQL database, any one of which may die (docs/cluster.md). Off (the
// zero value), the gateway is the single gateway: it owns every home at
// epoch 0 and its statements are those it ran before clusters existed; on
// PostgreSQL it also holds a solo member's lease, so that a second gateway
// on the database is refused (joinSolo).
type ClusterOptions struct {
	Enabled bool
	// Renew, TTL and Scan time the node's lease and its adoption scans
	// (cluster.Config; zero: 2 s, 10 s, 5 s); Renew and TTL also a single
	// gateway's lease on PostgreSQL. Tests shorten them.
	Renew, TTL, Scan time.Duration
}

// clusterProblems lists what a cluster node needs and o lacks. Every
// secret is given, never generated per data folder: a key or token one
// gateway made for itself would differ on the next, and the other nodes
// would refuse the first's consoles, door codes and 119's answers.
func (o Options) clusterProblems() []error {
	if !o.Cluster.Enabled {
		return nil
	}
	var errs []error
	if o.DatabaseURL == "" {
		errs = append(errs, errors.New("a cluster's gateways share one PostgreSQL database: give it (Options.DatabaseURL, --database-url)"))
	}
	if o.Broker.Node == "" {
		errs = append(errs, errors.New("a cluster node needs its name (Options.Broker.Node, --node): the host name, the default of a single gateway, changes when a container is made anew"))
	}
	for _, s := range []struct{ name, v string }{
		{"DOLBOM_SECRET_KEY (Options.SecretKey)", o.SecretKey},
		{"DOLBOM_ADMIN_TOKEN (Options.AdminToken)", o.AdminToken},
		{"DOLBOM_CAP_ANSWER_TOKEN (Options.Channels.CAPAnswerToken)", o.Channels.CAPAnswerToken},
	} {
		if s.v == "" {
			errs = append(errs, fmt.Errorf("every gateway of a cluster needs the same %s: none is made per data folder in a cluster", s.name))
		}
	}
	return errs
}

// clusterSettings are the values every gateway of the database must share,
// as the digests AgreeSettings compares (secrets never leave the node: a
// keyed digest of each is recorded).
func clusterSettings(o Options, key []byte, capSender string) []cluster.Setting {
	return []cluster.Setting{
		{Name: "secret_key", Digest: cluster.KeyCheckValue(key)},
		{Name: "admin_token", Digest: cluster.SecretDigest(key, "admin_token", o.AdminToken)},
		{Name: "cap_answer_token", Digest: cluster.SecretDigest(key, "cap_answer_token", o.Channels.CAPAnswerToken)},
		// The CAP identifier is built from the sender: two senders would
		// give one incident two identifiers at 119.
		{Name: "cap_sender", Digest: capSender},
		// Twilio signs its callbacks for the exact URL it was given.
		{Name: "public_url", Digest: orNone(o.Channels.PublicURL)},
	}
}

// orNone records an unset value as such: agreeing on "not set" is a
// setting too (one node with a public URL, one without, answer Twilio
// differently).
func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// joinCluster agrees the shared settings with the other gateways of the
// database and makes the node that will hold this gateway's lease; the
// broker claims each hub's home through it.
func (g *Gateway) joinCluster(ctx context.Context, key []byte) (*cluster.Node, error) {
	o := g.opts
	if err := g.Store.Cluster().AgreeSettings(ctx, o.Broker.Node, clusterSettings(o, key, g.channels.capSender)); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return cluster.NewNode(cluster.Config{Node: o.Broker.Node, Addr: o.MQTTAddr,
		Renew: o.Cluster.Renew, TTL: o.Cluster.TTL, Scan: o.Cluster.Scan, Changes: clusterChanges{g}},
		g.Store.Cluster(), clusterHomes{g}, g.log)
}

// soloJoinWait bounds a single gateway's join at its start: long enough
// for PostgreSQL to drop the name lock of a predecessor killed a moment
// ago (its backend sees the closed socket within moments), short enough
// that a second gateway with the same name is told soon.
const soloJoinWait = 10 * time.Second

// joinSolo makes a single gateway on PostgreSQL a solo member of its
// database before it serves: the solo guard. Two gateways without
// --cluster on one database, or one beside cluster nodes, would each watch
// every home and raise hub-offline, then welfare and 119 alarms, for the
// hubs connected to the other (issue 16). The store's refusal names the
// live gateway; New returns it, and the gateway does not start. The lease
// is timed like a cluster node's (Options.Cluster's Renew and TTL).
func (g *Gateway) joinSolo(ctx context.Context, node string) (*cluster.Node, error) {
	n, err := cluster.NewNode(cluster.Config{Node: node, Addr: g.opts.MQTTAddr, Renew: g.opts.Cluster.Renew, TTL: g.opts.Cluster.TTL, Solo: true},
		g.Store.Cluster(), nil, g.log)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	jctx, cancel := context.WithTimeout(ctx, soloJoinWait)
	defer cancel()
	if err := n.Join(jctx); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return n, nil
}

// keepLease is the cluster stage: the node's lease kept until the stop
// reaches this step (the hubs gone, the detectors' saves done), then given
// up, within leave, so that the other gateways adopt the homes left at
// their next scan (a single gateway: so that the next may start at once).
func (g *Gateway) keepLease(n *cluster.Node, leave time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		err := n.Run(ctx)
		g.leave(n, leave)
		return err
	}
}

// leave gives n's lease up within d. A failure only costs time, so it is
// logged, not returned: the other gateways adopt the homes once the lease
// expires, and a single gateway's successor waits as long.
func (g *Gateway) leave(n *cluster.Node, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := n.Leave(ctx); err != nil {
		g.log.Warn().Err(err).Msg("cluster lease not given up")
	}
}

// releaseHubs is a cluster gateway's first step of a stop after intake:
// every hub's session ends as moved ("use another server", no will), so
// that each reconnects to another gateway at once instead of waiting for
// this one's final saves, which are fenced: a home its hub claimed
// elsewhere meanwhile is refused and let go, never overwritten. The stop
// waits for the DISCONNECTs at most release, then goes on while the rest
// are written.
func (g *Gateway) releaseHubs(release time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Broker.ReleaseAll()
		}()
		select {
		case <-done:
		case <-time.After(release):
			g.log.Warn().Dur("waited", release).Msg("hubs still being released to the other gateways; the stop goes on")
		}
		return nil
	}
}

// clusterChanges acts here on the registry changes made through another
// gateway of the cluster (cluster.Changes).
type clusterChanges struct{ g *Gateway }

func (c clusterChanges) Apply(ch cluster.RegistryChange) {
	g := c.g
	switch ch.Kind {
	case cluster.ChangeRevoke, cluster.ChangeDisable:
		// The hub's old secret, or the hub itself, stops working here too:
		// its cached verification goes and its session here is dropped.
		g.Broker.Revoke(ch.Hub)
	case cluster.ChangeResident:
		g.Dispatch.InvalidateResidents()
	case cluster.ChangeSensors:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.refreshHub(ctx, ch.Hub)
	}
}

// noteChange records a registry change made through this gateway for the
// others (nothing on the single gateway). A change that cannot be recorded
// is logged: the others then catch up when their cached copy expires, or
// at the hub's next CONNECT.
func (g *Gateway) noteChange(ctx context.Context, hub devices.HubID, kind cluster.ChangeKind) {
	if g.Node == nil {
		return
	}
	if err := g.Store.Cluster().NoteRegistryChange(ctx, hub, kind, g.opts.Broker.Node); err != nil {
		g.log.Error().Err(err).Str("hub_id", string(hub)).Str("kind", string(kind)).Msg("registry change not recorded for the other gateways")
	}
}

// clusterHubControl is the broker as the consoles' hub control, telling the
// other gateways of each revocation (the hub may hold a session on any).
type clusterHubControl struct {
	g *Gateway
}

func (h clusterHubControl) Revoke(hub devices.HubID) {
	h.g.Broker.Revoke(hub)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.g.noteChange(ctx, hub, cluster.ChangeRevoke)
}

func (h clusterHubControl) Connected() int { return h.g.Broker.Connected() }

// hubControl is what the consoles revoke hubs through.
func (g *Gateway) hubControl() console.HubControl {
	if g.Node == nil {
		return g.Broker
	}
	return clusterHubControl{g}
}

// clusterVoiceSlots reserves voice calls on the schedule every gateway of
// the database shares (twilio.VoiceSlots over the store's).
type clusterVoiceSlots struct{ st store.Cluster }

func (s clusterVoiceSlots) ReserveVoiceSlot(ctx context.Context, account string, interval, maxWait time.Duration) (time.Duration, bool, error) {
	slot, ok, err := s.st.ReserveVoiceSlot(ctx, account, interval, maxWait)
	return slot.Wait, ok, err
}

// clusterHomes is what the node does with the homes it gains and loses:
// the detectors first, then the broker (cluster.Homes).
type clusterHomes struct{ g *Gateway }

// Release lets go a home another node took: the detectors drop it unsaved,
// then the hub's session here ends without its will (the hub is online on
// the other node), so that the disconnect raises nothing.
func (h clusterHomes) Release(hub devices.HubID) {
	h.g.Engine.Release(hub)
	h.g.Health.Release(hub)
	h.g.Broker.Release(hub)
}

// Adopt takes the homes of a dead node whose hubs are silent: the detectors
// load and watch them, with the restart grace on their deadlines.
func (h clusterHomes) Adopt(homes []cluster.Owned) {
	acq := make([]detectors.Acquired, len(homes))
	for i, o := range homes {
		acq[i] = detectors.Acquired{Hub: o.Hub, Epoch: o.Epoch, Floor: o.FloorSeq, Adopted: true}
	}
	h.g.Engine.Acquire(acq)
	h.g.Health.Acquire(acq)
}

// ReleaseAll lets every home go: the lease was lost, and any of them may be
// another node's now. Every session ends too, so that each hub claims its
// home again (here or elsewhere) before it is watched again.
func (h clusterHomes) ReleaseAll() {
	h.g.Engine.ReleaseAll()
	h.g.Health.ReleaseAll()
	h.g.Broker.ReleaseAll()
}
