// Package firmwaresim plays the hubs and sensors of many homes as black
// boxes that speak only the Dolbom hub wire protocol (docs/protocol.md) over
// MQTT. It imports nothing of this project but devices, so that what it
// tests is the contract a hub vendor implements, never the gateway's
// internals.
//
// The parts:
//
//   - Clock: simulated time that may run faster than the wall clock, so a
//     week of readings passes in minutes (readings carry event time).
//   - Home: a seeded, deterministic resident and their sensors: the same
//     seed gives the same days, minute by minute.
//   - Hub: the firmware of one home: raw MQTT frames (mochi's packets
//     package), persistent session, last will, QoS 1 with PUBACK tracking,
//     store and forward, reconnect with backoff and full jitter, commands.
//   - Fleet: many hubs on a few scheduler goroutines (no goroutine or timer
//     per hub); the transport decides whether a hub has a reader goroutine
//     (TCP) or none at all (the in-memory transport delivers the gateway's
//     writes by calling the hub directly).
package firmwaresim
