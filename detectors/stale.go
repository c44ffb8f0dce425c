package detectors

import (
	"fmt"
	"strings"

	"github.com/dolbom/dolbom/devices"
)

// StaleError is what a cluster store's save (EngineStore.SaveHomes, the
// health monitor's SaveHubHealth) returns when it refused the state of
// some homes because their epoch is no longer the hub's current one: the
// home moved to another gateway, which owns its state now. The other
// homes of the call were saved. The caller releases the homes named (no
// save, no detection) and counts them.
//
// It is declared here, beside the ports that return it, as dispatch
// declares ErrStaleEpoch for its Store: the detectors and their health
// monitor (which imports this package) branch on it, the store only
// returns it. It matches devices.ErrNotOwner under errors.Is, the one
// sentinel of "this gateway no longer owns the home".
type StaleError struct {
	// Hubs are the homes whose state was refused, in the order saved.
	Hubs []devices.HubID
}

func (e *StaleError) Error() string {
	const most = 5
	names := make([]string, 0, min(len(e.Hubs), most))
	for _, h := range e.Hubs[:min(len(e.Hubs), most)] {
		names = append(names, string(h))
	}
	more := ""
	if len(e.Hubs) > most {
		more = fmt.Sprintf(" and %d more", len(e.Hubs)-most)
	}
	return fmt.Sprintf("state of %d home(s) refused, owned by another gateway now (stale epoch): %s%s",
		len(e.Hubs), strings.Join(names, ", "), more)
}

// Is makes errors.Is(err, devices.ErrNotOwner) true.
func (e *StaleError) Is(target error) bool { return target == devices.ErrNotOwner }
