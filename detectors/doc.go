// Package detectors turns what hubs send into detections: residents'
// emergencies and welfare concerns, and the health of the equipment in their
// homes. Every rule reports through one output port, Sink, with one type,
// Detection, which the dispatch stage consumes.
//
// Per-home state lives in shards: one goroutine owns each shard and is fed
// through two bounded lanes, events before everything else, so a home is
// always handled in order and without locks, and an emergency does not wait
// behind other homes' readings. Deadlines for hundreds of thousands of homes
// live in one timing wheel per shard (package wheel), never in a timer per
// home. The shard runtime (its lanes, loop, save rounds in the persister's
// order, journal replay and poison reports) is detectors/internal/shard,
// shared by the engine and the health monitor: each is a shard.Machine.
//
// Engine is the emergency part: fire, CO and gas, falls, heart, breathing,
// inactivity, SOS and the resident's cancel, on the hubs' event time
// (rule_*.go are the rules, engine.go the shards).
//
// Package detectors/health is the device-health part: hub online/offline
// with a heartbeat deadline, mains power, batteries, sensor supervision,
// sensor faults, end of life and clock skew.
package detectors
