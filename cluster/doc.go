// Package cluster lets several gateways share one fleet on one PostgreSQL
// database, any one of which may die (issue 16; docs/cluster.md, "Design:
// ownership, leases and fencing").
//
// Its place in the house: cluster is a runtime beside the broker, not a
// stage on the data's way (hub -> broker -> detectors -> dispatch ->
// channels). It decides which gateway serves which hub's home, and tells
// the stages so: the broker asks it for a hub's epoch at CONNECT, the
// detectors load and release homes when it says, and every per-home write
// carries the epoch it hands out. It therefore imports only devices (the
// leaf domain, for HubID and Epoch); the broker and the detectors declare
// the one-method ports they call (consumer side) and cmd wires this
// package's types into them, so no stage imports cluster. The store
// implements Store here, as it implements dispatch's ports.
//
// Leases, claims and adoption all run on the database's clock: the
// database is the one thing every node shares, so no gateway ever
// compares its own clock with a lease. Consensus is PostgreSQL's (row
// locks, SKIP LOCKED, advisory locks), not ours.
//
// The single gateway (the embedded store, or PostgreSQL without
// --cluster) uses Solo: every claim is epoch 0 at once, and nothing is
// ever released. On PostgreSQL it also holds a solo member's lease (a Node
// with Config.Solo, which claims and adopts nothing), so that a second
// gateway on its database is refused instead of watching every home again.
package cluster
