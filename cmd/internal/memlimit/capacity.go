package memlimit

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// HubCost is the memory one connected hub holds in a gateway process that
// the collector cannot free, all owners together: goroutine stacks 20.5 KiB
// (mochi's read goroutine 16 KiB, kept there by the broker's handoff; its
// write goroutine 4 KiB) and live heap ~9 KB (mochi's client and buffers
// 2.9 KB, its two goroutine records 0.95 KB, the detectors 2.9 KB, the
// broker with the hub's subscriptions 0.7 KB, the store 0.1 KB; in-memory
// links of the simulator's transport 1.4 KB), measured by
// BenchmarkGatewayMemoryPerHub (docs/performance.md, "Issue 14: memory per
// hub"). Lower it as the per-hub cost comes down.
const HubCost = 31 << 10

// GuardShare is the share of the soft memory limit the hubs may hold before
// the broker's memory guard refuses new ones (broker.Config.MemoryHighWater,
// --memory-high-water); the rest is the heap's room to grow between
// collections. The default capacity stays under it, so that hubs are
// refused by count, cleanly, before the guard has to.
const GuardShare = 0.8

// Values of --max-hubs besides a number.
const (
	MaxHubsAuto      = "auto"      // derived from memory (HubCapacity); the default
	MaxHubsUnlimited = "unlimited" // no cap on hubs; the memory guard still refuses
)

// Available is the memory this process may use, the cgroup's limit when
// there is one below the RAM, else the RAM, and which of the two it is
// ("cgroup" or "ram"; 0 and "" when neither can be read).
func Available() (bytes int64, source string) {
	total, source := machineBytes(), "ram"
	if c := cgroupBytes(); c > 0 && (total == 0 || c < total) {
		total, source = c, "cgroup"
	}
	if total <= 0 {
		return 0, ""
	}
	return total, source
}

// Capacity is a hub count derived from memory, and how.
type Capacity struct {
	Hubs  int   // 0: no cap (the memory could not be read)
	Limit int64 // the soft memory limit it was derived from
}

// HubCapacity derives the default --max-hubs from the soft memory limit in
// force for a gateway on this store (the operator's GOMEMLIMIT, else
// what Set chooses): GuardShare of it over HubCost. On this project's machines
// (23.5 GiB of RAM, a 12.2 GiB limit with the embedded store) that is
// about 330,000 hubs, above the 300,000 of national scale.
func HubCapacity(embeddedStore bool) Capacity {
	limit := int64(math.MaxInt64)
	if os.Getenv("GOMEMLIMIT") != "" {
		limit = debug.SetMemoryLimit(-1)
	} else if mem, _ := Available(); mem > 0 {
		limit = Limit(mem, embeddedStore)
	}
	return capacityOf(limit)
}

func capacityOf(limit int64) Capacity {
	c := Capacity{Limit: limit}
	if limit > 0 && limit < math.MaxInt64 {
		c.Hubs = max(int(GuardShare*float64(limit))/HubCost, 1)
	}
	return c
}

func (c Capacity) String() string {
	if c.Hubs == 0 {
		return "memory unknown: no cap"
	}
	return fmt.Sprintf("%.0f%% of the %.1f GiB memory limit / %d KiB per hub", GuardShare*100, float64(c.Limit)/(1<<30), HubCost>>10)
}

// ParseMaxHubs reads a --max-hubs value: a positive whole number,
// "unlimited" (0 is returned), or "auto" or "" (auto is true: derive it
// with HubCapacity when the gateway starts).
func ParseMaxHubs(v string) (n int, auto bool, err error) {
	switch v = strings.TrimSpace(v); v {
	case "", MaxHubsAuto:
		return 0, true, nil
	case MaxHubsUnlimited:
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%q: want a positive number of hubs, %q (derived from memory) or %q", v, MaxHubsAuto, MaxHubsUnlimited)
	}
	return n, false, nil
}

// ResolveMaxHubs turns a --max-hubs value into the broker's MaxHubs (0: no
// cap) and says how it was chosen, for the start log.
func ResolveMaxHubs(v string, embeddedStore bool) (int, string, error) {
	n, auto, err := ParseMaxHubs(v)
	switch {
	case err != nil:
		return 0, "", err
	case auto:
		c := HubCapacity(embeddedStore)
		return c.Hubs, "derived: " + c.String(), nil
	case n == 0:
		return 0, "unlimited: no cap (the memory guard still refuses new hubs near the memory limit)", nil
	}
	return n, "configured", nil
}
