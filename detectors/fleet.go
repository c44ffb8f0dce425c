package detectors

import (
	"context"

	"github.com/dolbom/dolbom/devices"
)

// Fleet is the registry as the detectors need it: which hubs exist, their
// end of life and whether they are disabled, and each sensor's reporting
// interval (the health monitor's supervision) and location (the engine's
// steam rule).
type Fleet interface {
	// FleetSnapshot calls visit once per hub with its sensors. An error
	// from visit stops the walk and is returned.
	FleetSnapshot(ctx context.Context, visit func(hub devices.Hub, sensors []devices.Sensor) error) error
}

// FleetFunc adapts a function to Fleet.
type FleetFunc func(ctx context.Context, visit func(devices.Hub, []devices.Sensor) error) error

// FleetSnapshot calls f.
func (f FleetFunc) FleetSnapshot(ctx context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
	return f(ctx, visit)
}

// registryEntry is a hub and its sensors as the registry hands them on.
type registryEntry struct {
	hub     devices.Hub
	sensors []devices.Sensor
	// ctl is a cluster's acquisition or release, queued to the engine's
	// shard as a registry change is. It rides here rather than in
	// engineOp, which every input copies through the shard's channel (the
	// health monitor's op measurably slowed by a field more; see its
	// registryEntry).
	ctl *engineCtl
}
