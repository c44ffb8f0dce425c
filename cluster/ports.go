package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
)

var (
	// ErrNeedsPostgres is returned by every cluster operation of the
	// embedded store: one process owns its file, so there is nothing to
	// share.
	ErrNeedsPostgres = errors.New("cluster: cluster mode needs PostgreSQL (--database-url); the embedded store runs one gateway")
	// ErrNotMember means this incarnation's lease is not live (expired, or
	// marked dead by another node): it may not claim hubs, and must join
	// again as a new incarnation.
	ErrNotMember = errors.New("cluster: this node's lease is not live")
	// ErrNodeLive refuses a Join while a live member has the same node
	// name: another gateway runs with this --node.
	ErrNodeLive = errors.New("cluster: another gateway with this node name is live")
	// ErrSoloConflict refuses a Join that would mix a single gateway
	// (without --cluster) with cluster nodes, or two single gateways, on
	// one database.
	ErrSoloConflict = errors.New("cluster: a single gateway and a cluster cannot share a database")
)

// Member is one incarnation of a node: a node joins as a new incarnation
// each time it starts or loses its lease, so that its earlier incarnation's
// homes and epochs are told apart from its own.
type Member struct {
	Node        string
	Incarnation int64
}

func (m Member) String() string { return fmt.Sprintf("%s#%d", m.Node, m.Incarnation) }

// Lease is a member's lease as the database granted it, on the database's
// clock. Skew is the database's clock minus this node's when the lease was
// granted (for the clock-skew check and metric).
type Lease struct {
	Member
	Renewed, Expires time.Time
	Skew             time.Duration
}

// Owned is a hub whose home a member owns, from a claim or an adoption.
type Owned struct {
	Hub   devices.HubID
	Epoch devices.Epoch
	// FloorSeq is the journal position below which this hub's events were
	// handled before it had an owner: a replay starts after the larger of
	// it and the home's saved position.
	FloorSeq int64
	// Moved is true when the claim took the home from another member (the
	// epoch grew); PrevNode names it.
	Moved    bool
	PrevNode string
	// Adopted marks a home taken because its owner died while its hub was
	// silent (no CONNECT): its deadlines restart with a grace.
	Adopted bool
}

// Move is a hub that moved away from a member, for that member to release.
type Move struct {
	Hub   devices.HubID
	Epoch devices.Epoch // the new owner's
	At    time.Time     // database clock
}

// ChangeKind is what changed in the registry, for the other nodes to act on.
type ChangeKind string

const (
	ChangeRevoke   ChangeKind = "revoke"   // a hub's secret rotated: drop its sessions
	ChangeDisable  ChangeKind = "disable"  // a hub disabled: drop its sessions
	ChangeResident ChangeKind = "resident" // a resident edited: forget cached copies
	ChangeSensors  ChangeKind = "sensors"  // a hub's sensors changed: the owner refreshes
)

// Valid reports whether k is one of the kinds above.
func (k ChangeKind) Valid() bool {
	switch k {
	case ChangeRevoke, ChangeDisable, ChangeResident, ChangeSensors:
		return true
	}
	return false
}

// RegistryChange is one row of the registry feed, in Seq order.
type RegistryChange struct {
	Seq    int64
	Hub    devices.HubID
	Kind   ChangeKind
	Origin string // the node that made the change: it acted locally already
	At     time.Time
}

// VoiceSlot is a reserved start time for one voice call of an account,
// shared by every node: At on the database's clock, Wait from the
// reservation until At.
type VoiceSlot struct {
	At   time.Time
	Wait time.Duration
}

// Store is what the cluster runtime needs of the database; the store
// implements it on PostgreSQL and refuses every call with ErrNeedsPostgres
// on the embedded store.
type Store interface {
	// Join makes node a member as a new incarnation with a lease of ttl.
	Join(ctx context.Context, node, addr string, ttl time.Duration, solo bool) (Lease, error)
	// Renew extends m's lease by ttl from now (database clock); ErrNotMember
	// when m was marked dead.
	Renew(ctx context.Context, m Member, ttl time.Duration) (Lease, error)
	// Leave marks m dead at a graceful stop: the other members adopt what
	// it still owns at their next scan.
	Leave(ctx context.Context, m Member) error
	// Claim takes hub's home for m at a CONNECT (batched with concurrent
	// claims): the epoch is kept when m owns it already, bumped otherwise.
	Claim(ctx context.Context, m Member, hub devices.HubID) (Owned, error)
	// Adopt marks members whose lease expired more than grace ago dead and
	// takes m's share of their homes, and with unowned also of registered
	// hubs with no owner yet (a scan of the whole registry: the runtime
	// asks for it at its first scan and then now and then, not every time).
	Adopt(ctx context.Context, m Member, grace time.Duration, unowned bool) ([]Owned, error)
	// MovedSince lists the hubs taken from m since a time (database clock).
	MovedSince(ctx context.Context, m Member, since time.Time) ([]Move, error)
	// AgreeSettings records settings the first time and compares them
	// later: a *SettingMismatchError names the first that differs.
	AgreeSettings(ctx context.Context, node string, settings []Setting) error
	// RegistryChanges returns up to limit changes after seq.
	RegistryChanges(ctx context.Context, after int64, limit int) ([]RegistryChange, error)
	// Listen calls the handler of each channel on its notifications (and
	// after each reconnect) until ctx ends, on one connection.
	Listen(ctx context.Context, handlers map[string]func()) error
}

// Owners is what the broker asks at a CONNECT, after the password check
// and before the CONNACK: the hub's epoch on this node. The broker
// declares the same one-method port; Solo and the cluster runtime fit it.
type Owners interface {
	Claim(ctx context.Context, hub devices.HubID) (devices.Epoch, error)
}

// Solo is the single gateway: it owns every home at epoch 0, at no cost.
// It writes nothing and never releases a home.
type Solo struct{}

// Claim returns epoch 0 at once.
func (Solo) Claim(context.Context, devices.HubID) (devices.Epoch, error) { return 0, nil }

// Run blocks until ctx ends: there are no leases to renew.
func (Solo) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
