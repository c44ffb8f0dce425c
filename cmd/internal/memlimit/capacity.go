package memlimit

import (
	"fmt"
	"strconv"
	"strings"
)

// HubBudget is the memory one hub costs a gateway process, all owners
// together (goroutine stacks ~36 KiB: mochi's read goroutine grows to 32
// KiB on the first publish and keeps it, its write goroutine 4 KiB; mochi's
// client and buffers, the detectors' per-home state, the store's caches):
// 300,000 hubs took 18.9-20.1 GB of RSS in the runs of issue 14, about 63-67
// KiB each. The default capacity is the memory over this budget, so lower it
// as the per-hub cost comes down (docs/performance.md). Since those runs
// publishes no longer run on mochi's read goroutine and stacks shrink again:
// ~20 KiB of stacks per hub once a collection has run after the connect
// wave ("Publishes off mochi's read goroutine"); the budget stays until a
// 300,000-hub run measures the RSS that leaves.
const HubBudget = 64 << 10

// Reserve is kept out of the capacity for what does not grow with hubs:
// the kernel and its page cache, SQLite's page caches, the HTTP console,
// dispatch, and the Go runtime's own overhead.
const Reserve = 2 << 30

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
	Hubs   int    // 0: no cap (the memory could not be read)
	Memory int64  // bytes available
	Source string // "cgroup" or "ram"
}

// HubCapacity derives the default --max-hubs from the memory available:
// (memory - Reserve) / HubBudget. On a 24 GiB machine that is about
// 350,000 hubs, above the 300,000 of national scale.
func HubCapacity() Capacity {
	mem, src := Available()
	return capacityOf(mem, src)
}

func capacityOf(mem int64, src string) Capacity {
	c := Capacity{Memory: mem, Source: src}
	if mem > 0 {
		c.Hubs = int(max(mem-Reserve, HubBudget) / HubBudget)
	}
	return c
}

func (c Capacity) String() string {
	if c.Hubs == 0 {
		return "memory unknown: no cap"
	}
	return fmt.Sprintf("(%.1f GiB %s - %d GiB reserve) / %d KiB per hub", float64(c.Memory)/(1<<30), c.Source, Reserve>>30, HubBudget>>10)
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
func ResolveMaxHubs(v string) (int, string, error) {
	n, auto, err := ParseMaxHubs(v)
	switch {
	case err != nil:
		return 0, "", err
	case auto:
		c := HubCapacity()
		return c.Hubs, "derived: " + c.String(), nil
	case n == 0:
		return 0, "unlimited: no cap (the memory guard still refuses new hubs near the memory limit)", nil
	}
	return n, "configured", nil
}
