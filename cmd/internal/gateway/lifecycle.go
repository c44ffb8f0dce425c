package gateway

// The gateway's lifecycle: what New opens is released in one place, last
// in first out, whether New fails half way or Run stops; Run stops the
// stages in the order the data flows, each within its share of the
// shutdown budget.

import "time"

// cleanups is what New has opened so far (files, listeners, the store),
// each with the function that releases it. New registers each resource as
// soon as it is open, so that an error return at any later step releases
// everything before it: a listener left open would keep the port taken
// for the next attempt, in tests and in a supervisor's restart loop alike.
type cleanups struct {
	undo []func()
}

// push registers the release of something just opened.
func (c *cleanups) push(undo func()) { c.undo = append(c.undo, undo) }

// unwind releases everything registered, the last opened first (a later
// stage may use an earlier one until it is released: the broker writes to
// the store), and forgets it, so that a second unwind does nothing.
func (c *cleanups) unwind() {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
	c.undo = nil
}

// stageName names one long-lived part of a running gateway (see Run).
type stageName string

const (
	stageHTTP       stageName = "http"
	stageOTA        stageName = "ota"     // firmware rollouts: they command hubs through the broker
	stageIntake     stageName = "intake"  // the broker stops taking hubs' messages
	stageRelease    stageName = "release" // a cluster's gateway: its hubs sent to the others
	stageEngine     stageName = "engine"
	stageHealth     stageName = "device_health"
	stageBroker     stageName = "broker" // its disconnect pass
	stageEvidence   stageName = "evidence"
	stageWorkOrders stageName = "work_orders"
	stageDispatch   stageName = "dispatch"
	stageChannels   stageName = "channels"
	stageWeb        stageName = "web"
	stageStore      stageName = "store"
	stageCluster    stageName = "cluster" // the lease: a cluster node's, or a single gateway's on PostgreSQL
)

// stopOrder is the order Run stops the stages in, one step after another;
// the stages of one step stop together. It follows the data: nothing more
// is taken in (HTTP, then the hubs' messages), the detectors hand on and
// save what they hold, only then are the hubs disconnected (so that none
// starts backing off during the detectors' final saves, seconds at national
// scale), then dispatch and the channels finish their sends, the web
// console its last audit rows, and the store, last, writes everything
// accepted.
//
// A cluster's gateway leaves instead: right after intake its hubs are
// released ("use another server", no will) and reconnect to the other
// gateways at once, since they have somewhere to go and an SOS not
// acknowledged since intake stopped waits for that; the detectors' final
// saves follow, fenced (a home claimed elsewhere meanwhile is refused and
// let go, never overwritten); then the lease is given up, so that the
// others adopt the homes whose hubs are offline at their next scan.
var stopOrder = [][]stageName{
	{stageHTTP},
	{stageOTA}, // no more commands once operators can no longer start one
	{stageIntake},
	{stageRelease}, // a cluster's gateway only
	// Engine and health do not depend on each other: their final saves
	// overlap, every second of which the hubs wait.
	{stageEngine, stageHealth},
	{stageBroker},
	// The lease is kept until the detectors have saved and the hubs are
	// gone: given up earlier, another node could adopt a home whose final
	// save is still to come. Then it is given up at once (the member
	// marked dead), not left to expire.
	{stageCluster},
	{stageEvidence},
	{stageWorkOrders}, // follows the dispatcher's feed: stops before it
	{stageDispatch},
	{stageChannels},
	{stageWeb},
	{stageStore},
}

// shutdownBudget shares Options.ShutdownTimeout between the steps of a
// stop that can take long, each bounded by its share, so that a step that
// overruns leaves the later ones their time (the store's drain, last, is
// what keeps acknowledged messages). The shares add up to 90 %: the rest
// is for the quick steps (evidence, dispatch, channels, web).
type shutdownBudget struct {
	// intake: the publishes under way handed on (a journal commit or two).
	intake time.Duration
	// detectors: the engine's and the health monitor's final saves, each
	// bounded by this (they run together).
	detectors time.Duration
	// broker: the disconnect pass over every connected hub.
	broker time.Duration
	// store: the drain of everything accepted into the database.
	store time.Duration
	// http is fixed, not a share: requests are short, and the incident
	// streams end with the server.
	http time.Duration
	// release (a cluster's gateway) is how long the stop waits for the
	// hubs' DISCONNECTs before the detectors' saves start beside the rest;
	// leave bounds the lease's one statement. Both fixed, like http.
	release, leave time.Duration
}

func newShutdownBudget(total time.Duration) shutdownBudget {
	return shutdownBudget{
		intake:    total * 15 / 100,
		detectors: total * 15 / 100,
		broker:    total * 30 / 100,
		store:     total * 30 / 100,
		http:      5 * time.Second,
		release:   time.Second,
		leave:     2 * time.Second,
	}
}
