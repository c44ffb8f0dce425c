package memlimit

import (
	"os"
	"strings"
	"syscall"
)

// stackSettings keep goroutine stacks at the size their work needs, for
// good.
//
// gcshrinkstackoff=1 keeps a stack at the size it grew to. mochi runs two
// goroutines per hub; the broker keeps the reading one at 16 KiB by handing
// every packet whose handling passes that to a worker (broker/handoff.go).
// With shrinking on, each collection halves the stacks of parked read
// goroutines and each one's next message grows it again: a stack copy per
// hub per collection, done while the collection runs. At 300,000 hubs that
// held PUBACKs for up to 2 s and incidents for 0.6 s; with it off, 19.5 and
// 78 ms (docs/performance.md, "National load at 300,000 homes").
//
// adaptivestackstart=0 starts every goroutine at the runtime's smallest
// stack (2 KiB). By default each collection sets the size new goroutines
// start with to the average stack in use, read and write goroutines
// together: ~7 KiB with 300,000 hubs connected, so 8 KiB. Without
// shrinking that is for good: every write goroutine started after such a
// collection (a reconnect wave after a restart, any hub reconnecting)
// keeps 8 KiB where it needs 4, and the stacks grew from 21 to 24 KiB per
// hub after a restart (TestNewGoroutinesStartSmall). Starting small costs
// a read goroutine three stack copies (2 to 16 KiB) when it connects.
var stackSettings = []string{"gcshrinkstackoff=1", "adaptivestackstart=0"}

// KeepStacks makes sure the runtime runs with stackSettings. The runtime
// reads them only from GODEBUG at start (they are not settings //go:debug
// accepts), so when GODEBUG does not name each of them the process starts
// itself again with the missing ones added, keeping its pid, arguments and
// environment. An operator's own value of either in GODEBUG wins. It returns
// only when the settings are in force or the re-exec failed (the process
// then runs on with the runtime's defaults, which costs memory and latency,
// not correctness).
func KeepStacks() {
	godebug, ok := stackGODEBUG(os.Getenv("GODEBUG"))
	if ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := []string{"GODEBUG=" + godebug}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec(exe, os.Args, env)
}

// stackGODEBUG returns godebug with the stackSettings it does not name
// added, and whether it named them all already.
func stackGODEBUG(godebug string) (string, bool) {
	complete := true
	for _, setting := range stackSettings {
		name, _, _ := strings.Cut(setting, "=")
		if strings.Contains(","+godebug, ","+name+"=") {
			continue
		}
		complete = false
		if godebug != "" {
			godebug += ","
		}
		godebug += setting
	}
	return godebug, complete
}
