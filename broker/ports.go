package broker

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Journal makes what hubs send durable. The broker calls it before the
// PUBACK (from a handoff worker, one at a time per hub and lane, or from the
// hub's read goroutine for what stays on mochi's path), so a hub is
// acknowledged only for what the journal has taken.
type Journal interface {
	// AppendEvent returns once the event is durable (fsynced in the embedded
	// store, committed in PostgreSQL), grouped with other hubs' events into
	// one commit, and sets e.Seq to its journal position. fresh is false
	// when (hub, event id) was stored before: a redelivery, acknowledged
	// again and handed on marked Replayed with the stored position.
	// It blocks while the writer is behind (push back) until ctx ends.
	AppendEvent(ctx context.Context, e *devices.Event) (fresh bool, err error)
	// AppendReadings queues a batch for the next group write and returns; it
	// blocks while the queue is full (push back) until ctx ends.
	AppendReadings(ctx context.Context, b *devices.ReadingBatch) error
	// AppendAccel queues an accelerometer chunk like AppendReadings.
	AppendAccel(ctx context.Context, c *devices.AccelChunk) error
}

// Ingester receives everything the broker accepted, after the journal took
// it: the detectors and the device-health monitor. Its methods run on the
// goroutine handling the hub's message and must not block for long; they
// queue.
type Ingester interface {
	// Ingest receives a decoded message. An event arrives with its journal
	// position, marked Replayed when it is a redelivery.
	Ingest(m *devices.Message)
	// Connection receives hub connects and disconnects.
	Connection(c devices.ConnectionEvent)
}

// BatchSharer is implemented by a Journal or an Ingester that Retains a
// readings batch it keeps past the call that hands it over and Releases it
// once done (devices.ReadingBatch.Retain). When both ports say so, the
// broker decodes batches from a pool (devices.Limits.DecodeShared): the
// largest allocation per message of the gateway's own otherwise
// (docs/performance.md, "Per-message costs"). A port that keeps batches
// without retaining them (a test's recorder) must not say so: it would
// read a batch after it went to another hub.
type BatchSharer interface {
	SharesReadingBatches() bool
}

func sharesBatches(port any) bool {
	s, ok := port.(BatchSharer)
	return ok && s.SharesReadingBatches()
}

// Owners gives the ownership epoch under which this node holds a hub's
// home, in a cluster of gateways (docs/cluster.md): asked at each CONNECT
// after the hub's password is checked, so that a wrong password can never
// move a home, and before the CONNACK. An error refuses the CONNECT with
// "server unavailable", like a failed credential lookup: the hub backs off
// and tries again, possibly through the load balancer to another node.
// Config.Owners nil is the single gateway: epoch 0, nothing asked.
type Owners interface {
	Claim(ctx context.Context, hub devices.HubID) (devices.Epoch, error)
}

// HubDirectory looks up hub credentials for authentication. It returns an
// error wrapping devices.ErrNotFound for an unknown hub.
type HubDirectory interface {
	HubCredential(ctx context.Context, hub devices.HubID) (devices.HubCredential, error)
}

// HeldHubs keeps the set of hubs a broker node holds across its restarts:
// an optional capability of the HubDirectory given to New (the store has
// it). After a restart every hub is new to mochi, but the hubs the node held
// before it are the load it carried, not more: the load guard lets them back
// in (see heldHubs). hubs are 64-bit hashes of hub ids (hubHash), sorted.
type HeldHubs interface {
	SaveHeldHubs(ctx context.Context, node string, at time.Time, hubs []uint64) error
	// LoadHeldHubs returns the node's last saved set and when it was saved;
	// none and a zero time when it never saved one.
	LoadHeldHubs(ctx context.Context, node string) (hubs []uint64, at time.Time, err error)
}
