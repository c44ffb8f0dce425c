package devices

import "errors"

// Epoch numbers the ownership of one hub's home by a gateway of a cluster
// (docs/cluster.md, "Design: ownership, leases and fencing"). It grows each
// time the home moves to another gateway (or to a new incarnation of the
// same one) and stays the same while its owner keeps it. Every per-home
// write carries the epoch it was made under, and the store refuses a write
// whose epoch is not the current one: a gateway that lost a home without
// knowing it (paused, cut off) cannot overwrite the new owner's state or
// raise an incident for it.
//
// 0 means "not fenced": the single gateway, which owns every home, writes
// with epoch 0 and nothing is checked. Epochs given by a cluster start at 1.
type Epoch uint64

// ErrNotOwner is a per-home write refused because this gateway no longer
// owns the home (its epoch is not the hub's current one): an event so
// refused was not journaled, so it is not acknowledged, and the hub's
// session here is ended; the hub sends it again to its new owner.
var ErrNotOwner = errors.New("the hub's home is owned by another gateway now")
