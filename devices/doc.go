// Package devices is the leaf of Dolbom's domain: the identifiers of hubs and
// sensors, what they measure and report, the hub wire protocol (MQTT topics and
// JSON payloads, version 1) and the registry records of residents, hubs and
// sensors. It imports no other package of the project, so every stage of the
// pipeline (broker, detectors, dispatch, store, console, firmware-sim) can speak
// it.
//
// The wire protocol is specified in docs/protocol.md; the decoder here is its
// reference implementation and refuses anything the document does not allow,
// with a *DecodeError whose Code a hub can act on.
package devices
