package memlimit

import (
	"os"
	"strings"
	"syscall"
)

// stackSetting keeps goroutine stacks at the size they grew to. mochi runs
// two goroutines per hub; the reading one needs ~17 KB of mochi's own frames
// (packets passed by value) before our hook runs, so every publish grows its
// stack from 16 to 32 KiB, and every collection shrinks it back. At 100,000
// homes that copying was 10% of the process's CPU; without shrinking it is
// 3%, the stacks stay at their working size, and PUBACK p99 fell from 94 to
// 20 ms (docs/performance.md, "Goroutine stacks").
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
