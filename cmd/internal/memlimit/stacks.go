package memlimit

import (
	"os"
	"strings"
	"syscall"
)

// stackSetting keeps goroutine stacks at the size they grew to. mochi runs
// two goroutines per hub; the broker keeps the reading one at 16 KiB by
// handing every packet whose handling passes that to a worker
// (broker/handoff.go). With shrinking on, each collection halves the stacks
// of parked read goroutines and each one's next message grows it again: a
// stack copy per hub per collection, done while the collection runs. At
// 300,000 hubs that held PUBACKs for up to 2 s and incidents for 0.6 s;
// with it off, 19.5 and 78 ms (docs/performance.md, "National load at
// 300,000 homes").
const stackSetting = "gcshrinkstackoff=1"

// KeepStacks makes sure the runtime runs with gcshrinkstackoff=1. The
// runtime reads that setting only from GODEBUG at start (it is not one
// //go:debug accepts), so when GODEBUG does not name it the process starts
// itself again with it added, keeping its pid, arguments and environment.
// An operator's own gcshrinkstackoff in GODEBUG wins. It returns only when
// the setting is in force or the re-exec failed (the process then runs on
// with shrinking, which is slower, not wrong).
func KeepStacks() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "gcshrinkstackoff=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := []string{"GODEBUG=" + godebug + stackSetting}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec(exe, os.Args, env)
}
