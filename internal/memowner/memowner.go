// Package memowner divides a process's live heap among the parts of the
// gateway that allocated it (mochi, the broker, the detectors, the store,
// the simulator...), from the runtime's own heap profile, so that "bytes per
// hub by owner" (issue 14) is printed by a command instead of read off
// pprof graphs by hand. It imports nothing of the project: owners are
// recognised by package path and file name.
package memowner

import (
	"fmt"
	"io"
	"math"
	"path"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
)

const module = "github.com/dolbom/dolbom/"

// Owners, in the order the table prints them when they hold the same bytes.
const (
	Mochi        = "mochi (clients, topic index, retained)"
	Broker       = "broker (hub state, limits)"
	Credentials  = "broker: credential cache"
	Engine       = "detectors: engine"
	Health       = "detectors: health monitor"
	Store        = "store"
	Dispatch     = "dispatch"
	Console      = "console"
	Wiring       = "gateway wiring (cmd)"
	Simulator    = "simulator (hubs)"
	Transport    = "in-memory links (kernel sockets with TCP)"
	TestHarness  = "test harness (hubs)"
	Goroutines   = "runtime: goroutine records"
	Runtime      = "runtime: other"
	Unattributed = "unattributed"
)

// Share is the live heap one owner holds.
type Share struct {
	Owner string `json:"owner"`
	Bytes int64  `json:"bytes"`
}

// Table is the live heap by owner, plus the goroutine stacks, which the
// heap profile does not see.
type Table struct {
	Shares     []Share `json:"heap"` // largest first
	HeapBytes  int64   `json:"heap_bytes"`
	StackBytes int64   `json:"stack_bytes"`
	Goroutines int64   `json:"goroutines"`
}

// Take collects garbage and reads the heap profile. Its precision is the
// profile's: runtime.MemProfileRate (512 KiB by default) should be lowered
// before the allocations of interest for small owners to be exact; the
// sampled figures are scaled back as pprof does.
func Take() Table {
	// The profile describes the heap as of the last completed cycle; two
	// cycles make objects freed by the first one count as freed.
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for n, _ := runtime.MemProfile(nil, true); ; n += 64 {
		recs = make([]runtime.MemProfileRecord, n)
		k, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:k]
			break
		}
		n = k
	}
	rate := int64(runtime.MemProfileRate)
	by := map[string]int64{}
	frames := make([]runtime.Frame, 0, 32)
	for i := range recs {
		r := &recs[i]
		b := scaled(r, rate)
		if b <= 0 {
			continue
		}
		frames = frames[:0]
		it := runtime.CallersFrames(r.Stack())
		for {
			f, more := it.Next()
			frames = append(frames, f)
			if !more {
				break
			}
		}
		by[Classify(frames)] += b
	}
	t := Table{}
	for o, b := range by {
		t.Shares = append(t.Shares, Share{o, b})
		t.HeapBytes += b
	}
	sort.Slice(t.Shares, func(i, j int) bool {
		if t.Shares[i].Bytes != t.Shares[j].Bytes {
			return t.Shares[i].Bytes > t.Shares[j].Bytes
		}
		return t.Shares[i].Owner < t.Shares[j].Owner
	})
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	t.StackBytes, t.Goroutines = int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
	return t
}

// scaled is a record's live bytes, corrected for sampling as pprof does
// (an allocation of size s is sampled with probability 1-exp(-s/rate)).
func scaled(r *runtime.MemProfileRecord, rate int64) int64 {
	live, objs := r.InUseBytes(), r.AllocObjects
	if live <= 0 || objs <= 0 || rate <= 1 {
		return live
	}
	avg := float64(r.AllocBytes) / float64(objs)
	return int64(float64(live) / (1 - math.Exp(-avg/float64(rate))))
}

// Bytes is what owner holds (0 when absent).
func (t Table) Bytes(owner string) int64 {
	for _, s := range t.Shares {
		if s.Owner == owner {
			return s.Bytes
		}
	}
	return 0
}

// Minus is t with base's bytes taken off each owner (what was added since
// base), dropping owners that did not grow.
func (t Table) Minus(base Table) Table {
	out := Table{StackBytes: t.StackBytes - base.StackBytes, Goroutines: t.Goroutines - base.Goroutines}
	for _, s := range t.Shares {
		if d := s.Bytes - base.Bytes(s.Owner); d > 0 {
			out.Shares = append(out.Shares, Share{s.Owner, d})
			out.HeapBytes += d
		}
	}
	return out
}

// Write prints the table with bytes per hub for n hubs.
func (t Table) Write(w io.Writer, n int) {
	if n <= 0 {
		n = 1
	}
	per := func(b int64) float64 { return float64(b) / float64(n) }
	fmt.Fprintf(w, "%-42s %10s %10s\n", "owner", "MiB", "B/hub")
	for _, s := range t.Shares {
		fmt.Fprintf(w, "%-42s %10.1f %10.0f\n", s.Owner, float64(s.Bytes)/(1<<20), per(s.Bytes))
	}
	fmt.Fprintf(w, "%-42s %10.1f %10.0f\n", "heap, total", float64(t.HeapBytes)/(1<<20), per(t.HeapBytes))
	fmt.Fprintf(w, "%-42s %10.1f %10.0f  (%d goroutines, %.2f per hub)\n", "goroutine stacks", float64(t.StackBytes)/(1<<20),
		per(t.StackBytes), t.Goroutines, float64(t.Goroutines)/float64(n))
}

// Classify names the owner of an allocation from its stack, leaf first:
// the first frame in a package that keeps state decides. Standard library,
// the wire codec (devices), the timing wheel and other shared helpers are
// passed over, so that a map grown by a detector is the detector's and a
// decoded batch held by the store is the store's.
func Classify(frames []runtime.Frame) string {
	sawMalg := false
	for _, f := range frames {
		pkg := packageOf(f.Function)
		file := path.Base(f.File)
		switch {
		case pkg == "runtime":
			if f.Function == "runtime.malg" {
				sawMalg = true
			}
			continue
		case strings.HasSuffix(file, "_test.go"):
			return TestHarness
		case strings.HasPrefix(pkg, "github.com/mochi-mqtt/"):
			return Mochi
		case strings.HasPrefix(pkg, module):
			if o := ours(strings.TrimPrefix(pkg, module), file); o != "" {
				return o
			}
			continue
		case pkg == "main":
			// The only main that runs a gateway in process is dolbom-sim's.
			return Simulator
		case !strings.Contains(firstElem(pkg), "."):
			continue // the standard library works for whoever called it
		default:
			return "other: " + moduleOf(pkg)
		}
	}
	if sawMalg {
		return Goroutines
	}
	if len(frames) > 0 {
		return Runtime
	}
	return Unattributed
}

// ours names the owner of a frame in package rel of this module, "" for a
// shared helper that works for its caller.
func ours(rel, file string) string {
	top, _, _ := strings.Cut(rel, "/")
	switch top {
	case "broker":
		switch file {
		case "verify.go":
			return Credentials
		case "pipe.go":
			return Transport
		}
		return Broker
	case "detectors":
		if rel == "detectors/wheel" || strings.HasPrefix(rel, "detectors/internal/") {
			return "" // the timing wheel, the shard runtime and its per-home list helpers
		}
		if rel == "detectors/health" {
			return Health
		}
		return Engine
	case "store":
		return Store
	case "dispatch":
		return Dispatch
	case "console":
		return Console
	case "firmware-sim":
		if file == "memnet.go" {
			return Transport
		}
		return Simulator
	case "cmd":
		if strings.HasPrefix(rel, "cmd/dolbom-sim") {
			return Simulator
		}
		if strings.HasPrefix(rel, "cmd/internal/") && !strings.HasPrefix(rel, "cmd/internal/gateway") {
			return "" // memlimit, svclog: helpers
		}
		return Wiring
	}
	return "" // devices, internal: helpers of their callers
}

// packageOf is the import path of a function name such as
// "github.com/x/y.(*T).m" or "bufio.NewReaderSize".
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

func firstElem(pkg string) string {
	e, _, _ := strings.Cut(pkg, "/")
	return e
}

// moduleOf shortens a third-party package path to its module's usual
// length (host/owner/repo).
func moduleOf(pkg string) string {
	parts := strings.SplitN(pkg, "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, "/")
}
