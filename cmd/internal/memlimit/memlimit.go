// Package memlimit holds the runtime memory settings of the binaries that
// carry 300,000 hubs: a soft memory limit from the machine (Set), so that
// the gateway collects garbage harder as it nears the memory it has instead
// of growing its heap to twice the live data (GOGC=100) and being killed by
// the kernel.
//
// Goroutine stacks are kept at the size they grew to (KeepStacks). Each
// hub has two mochi goroutines; with every packet mochi's frames would
// pass 16 KiB handed to a worker (broker/handoff.go), its read goroutine
// stays at 16 KiB and its write goroutine at 4 KiB. Shrinking them (Go's
// default) saves nothing that stays saved: a collection halves a parked
// read goroutine's stack, and its next message grows it again; at 300,000
// hubs that copying, during the collection, held PUBACKs for seconds
// (docs/performance.md, "National load at 300,000 homes"). New goroutines
// start at the smallest stack: the runtime's default, the average stack
// in use at the last collection, is never shrunk back either.
package memlimit

import (
	"bufio"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Share is the part of the memory available (RAM, or the cgroup's limit)
// a gateway process takes. The rest is the kernel's and its page cache's
// (the SQLite file's pages, the journal's), PostgreSQL's when a small
// deployment runs it on the same machine, and margin. At 300,000 hubs the
// hubs hold ~9 GB the collector cannot free (goroutine stacks 20.5 KiB and
// live heap ~9 KB per hub, HubCost); what is left of the limit is the room
// the heap has to grow between collections, and so how often the collector
// runs. The process's RSS follows the limit (the runtime keeps up to ~95%
// of it), and issue 14 wants it within half the machine: 54% (12.2 GiB
// for Go on this project's machines, 23.5 GiB) leaves the heap ~3.5 GB of
// room since the hubs' subscriptions left mochi's topic index. Before
// that, with 12.6 KB of live heap per hub, 55% collected every ~30 s and
// 65% was needed (docs/performance.md, "National load at 300,000 homes").
const Share = 0.54

// sqliteCaches is the memory the embedded store takes outside Go's
// accounting: SQLite's page caches (store/sqlite.go), ~0.5 GB at 300,000
// hubs, measured as RSS minus Go's heap and stacks. It is taken from the
// Go limit so that the process as a whole stays within Share.
const sqliteCaches = 512 << 20

// Limit is the soft memory limit for a gateway process with this much
// memory available: Share of it, less SQLite's caches with the embedded
// store.
func Limit(available int64, embeddedStore bool) int64 {
	limit := int64(float64(available) * Share)
	if embeddedStore {
		limit -= sqliteCaches
	}
	return max(limit, 64<<20)
}

// gcPercentUnderLimit is the GC percentage once a memory limit bounds the
// heap. Go's default, 100, starts a cycle whenever the heap has doubled
// since the last one: while 300,000 hubs connect, from a heap of a few
// hundred MB, that is five cycles in thirty seconds, each with every core
// marking while the hubs' first batches and emergencies arrive (an SOS
// took 2.6 s in one). With 400 the wave needs about two; in the steady
// state at national scale the limit, not the percentage, sets the goal,
// and a small fleet's heap stays within five times its live data.
const gcPercentUnderLimit = 400

// Set sets the runtime's soft memory limit to Limit of the memory
// available to this process: the cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes) when there is one, else the machine's RAM. It does
// nothing when GOMEMLIMIT is set (the operator decided) or nothing can be
// read. With a limit in force it also sets the GC percentage to
// gcPercentUnderLimit, unless GOGC is set. It returns the limit in force
// (math.MaxInt64: none).
func Set(embeddedStore bool) int64 {
	limit := setLimit(embeddedStore)
	if limit < math.MaxInt64 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentUnderLimit)
	}
	return limit
}

func setLimit(embeddedStore bool) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	total, _ := Available()
	if total <= 0 {
		return debug.SetMemoryLimit(-1)
	}
	limit := Limit(total, embeddedStore)
	debug.SetMemoryLimit(limit)
	return limit
}

// cgroupBytes is the cgroup's memory limit, 0 when unlimited or unknown.
func cgroupBytes() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<60 { // "max", or v1's "unlimited" (a huge number)
			return 0
		}
		return v
	}
	return 0
}

// machineBytes is MemTotal from /proc/meminfo, 0 when unknown.
func machineBytes() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Machine returns the RAM (MemTotal) and the cgroup's memory limit (0 when
// there is none), for reports that say what a figure was measured on.
func Machine() (ram, cgroup int64) { return machineBytes(), cgroupBytes() }
