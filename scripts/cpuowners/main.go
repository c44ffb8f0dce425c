// Command cpuowners splits a CPU profile of the gateway by owner (mochi,
// the broker's hooks and workers, decoding, the store, the detectors, the
// runtime's scheduler and collector) and prints each part in µs of CPU per
// message, the form of issue 14's targets. The simulator's goroutines
// (label part=simulator, see cmd/dolbom-sim) are left out, as the load
// report's gateway_cpu_us_per_msg leaves them out.
//
//	dolbom-sim load --homes 50000 --duration 3m --json --cpuprofile F --cpuprofile-steady > R.json
//	go run ./scripts/cpuowners -messages $(jq .steady_cpu.messages R.json) F
//	dolbom-sim flood --gateway-inproc ... --cpuprofile F --json > R.json
//	go run ./scripts/cpuowners -messages $(jq '.runs[0].acked' R.json) F
//
// A sample goes to the first owner of the list below that any frame of its
// stack matches: the list is ordered from the most specific (decoding,
// inside the broker's worker) to the most general (the scheduler).
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"github.com/google/pprof/profile"
)

// owners are matched in order against every frame of a sample's stack.
var owners = []struct{ name, re string }{
	{"runtime: collector (background marking, assists, sweeping)", `^runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge)`},
	{"store: readings writer", `store\.\(\*(Store|database)\)\.runSampleWriter`},
	{"store: WAL checkpoints", `(?i)store\..*checkpoint`},
	{"detectors: saves", `detectors/internal/shard\.(RunSaves|savePending|\(\*Persister)`},
	{"broker: journal append (queueing for the writer)", `store\.\(\*Store\)\.Append`},
	{"store: other", `dolbom/store\.`},
	{"broker: decoding (devices)", `devices\.Limits\.decode`},
	{"broker: PUBACK writes", `broker\.\(\*ackBatch\)`},
	{"broker: takePublish, the rest", `broker\.\(\*Server\)\.takePublish`},
	{"broker: handoff workers, the rest", `broker\.\(\*handoff\)`},
	{"mochi: reading and decoding packets (our OnPacketRead inside)", `mochi-mqtt/server/v2\.\(\*Client\)\.Read`},
	{"mochi: other", `mochi-mqtt/server/v2`},
	{"detectors: rule engine shards", `detectors\.\(\*engineShard\)`},
	{"detectors: health monitor shards", `detectors/health\.\(\*hubShard\)`},
	{"detectors: other", `dolbom/detectors`},
	{"dispatch", `dolbom/dispatch`},
	{"console and HTTP", `dolbom/console|net/http`},
	{"runtime: scheduler (parking, waking, finding work)", `^runtime\.(mcall|schedule|findRunnable|park_m|goexit0|gopark|mstart)`},
}

func main() {
	messages := flag.Float64("messages", 0, "messages in the profiled window (required): the load report's steady_cpu.messages, the flood's acked")
	flag.Parse()
	if flag.NArg() != 1 || *messages <= 0 {
		fmt.Fprintln(os.Stderr, "usage: cpuowners -messages N PROFILE")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpuowners:", err)
		os.Exit(1)
	}
	defer f.Close()
	if err := run(f, *messages, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cpuowners:", err)
		os.Exit(1)
	}
}

type share struct {
	owner string
	ns    int64
}

func run(r io.Reader, messages float64, w io.Writer) error {
	p, err := profile.Parse(r)
	if err != nil {
		return err
	}
	shares, total, err := split(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-64s %8s %6s\n", "owner", "µs/msg", "share")
	for _, s := range shares {
		fmt.Fprintf(w, "%-64s %8.1f %5.1f%%\n", s.owner, float64(s.ns)/1e3/messages, 100*float64(s.ns)/float64(total))
	}
	fmt.Fprintf(w, "%-64s %8.1f\n", "gateway, in all", float64(total)/1e3/messages)
	return nil
}

// split returns the gateway's CPU nanoseconds by owner, largest first, and
// their total.
func split(p *profile.Profile) ([]share, int64, error) {
	col := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			col = i
		}
	}
	if col < 0 {
		return nil, 0, fmt.Errorf("not a CPU profile (no cpu/nanoseconds sample type)")
	}
	res := make([]*regexp.Regexp, len(owners))
	for i, o := range owners {
		res[i] = regexp.MustCompile(o.re)
	}
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		if slices.Contains(s.Label["part"], "simulator") {
			continue
		}
		ns := s.Value[col]
		total += ns
		by[ownerOf(s, res)] += ns
	}
	shares := make([]share, 0, len(by))
	for o, ns := range by {
		shares = append(shares, share{o, ns})
	}
	slices.SortFunc(shares, func(a, b share) int { return cmp.Compare(b.ns, a.ns) })
	return shares, total, nil
}

// ownerOf is the first owner any of s's frames matches, "other" if none.
func ownerOf(s *profile.Sample, res []*regexp.Regexp) string {
	best := len(res)
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			for i := range best {
				if res[i].MatchString(ln.Function.Name) {
					best = i
					break
				}
			}
		}
	}
	if best == len(res) {
		return "other"
	}
	return owners[best].name
}
