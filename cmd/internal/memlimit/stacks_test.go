package memlimit

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestKeepStacksHelper is the process TestKeepStacks starts: it calls
// KeepStacks (which re-executes this test binary with the same arguments)
// and prints the GODEBUG it ends up running with.
func TestKeepStacksHelper(t *testing.T) {
	if os.Getenv("MEMLIMIT_HELPER") != "1" {
		t.Skip("run by TestKeepStacks")
	}
	KeepStacks()
	fmt.Printf("GODEBUG=%q pid=%d\n", os.Getenv("GODEBUG"), os.Getpid())
}

func TestKeepStacks(t *testing.T) {
	for _, c := range []struct{ given, want string }{
		{"", "gcshrinkstackoff=1,adaptivestackstart=0"},
		{"madvdontneed=1", "madvdontneed=1,gcshrinkstackoff=1,adaptivestackstart=0"},
		{"gcshrinkstackoff=0", "gcshrinkstackoff=0,adaptivestackstart=0"}, // the operator's choice wins
		{"adaptivestackstart=1,gcshrinkstackoff=1", "adaptivestackstart=1,gcshrinkstackoff=1"},
	} {
		t.Run(c.given, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKeepStacksHelper$", "-test.v")
			env := []string{"MEMLIMIT_HELPER=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GODEBUG=") {
					env = append(env, kv)
				}
			}
			if c.given != "" {
				env = append(env, "GODEBUG="+c.given)
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if want := fmt.Sprintf("GODEBUG=%q pid=%d", c.want, cmd.Process.Pid); !strings.Contains(string(out), want) {
				t.Fatalf("helper printed\n%s\nwant a line %s (same pid: re-executed, not a child)", out, want)
			}
		})
	}
}

// TestNewGoroutinesStartSmallHelper is the process TestNewGoroutinesStartSmall
// starts, under KeepStacks: n parked goroutine pairs use stacks like a hub's
// read and write goroutines (~11 and ~1 KiB in use), a collection scans
// them, they end, and n new goroutines that need little start at once, as
// a hub's goroutines do in a reconnect wave after a restart. It prints what
// each new goroutine added to the stacks in use.
func TestNewGoroutinesStartSmallHelper(t *testing.T) {
	if os.Getenv("MEMLIMIT_STACKS_HELPER") != "1" {
		t.Skip("run by TestNewGoroutinesStartSmall")
	}
	KeepStacks()
	const n = 2000
	park := func(depth int, parked *sync.WaitGroup, release chan struct{}, done *sync.WaitGroup) {
		defer done.Done()
		useStack(depth, func() {
			parked.Done()
			<-release
		})
	}
	var parked, done sync.WaitGroup
	release := make(chan struct{})
	for range n {
		parked.Add(2)
		done.Add(2)
		go park(22, &parked, release, &done) // ~11 KiB in use
		go park(2, &parked, release, &done)  // ~1 KiB
	}
	parked.Wait()
	runtime.GC()
	runtime.GC()
	close(release)
	done.Wait()

	before := stackInuse()
	release = make(chan struct{})
	for range n {
		parked.Add(1)
		done.Add(1)
		go park(1, &parked, release, &done)
	}
	parked.Wait()
	after := stackInuse()
	close(release)
	done.Wait()
	fmt.Printf("GODEBUG=%q new goroutine stack=%d B\n", os.Getenv("GODEBUG"), (int64(after)-int64(before))/n)
}

// useStack calls itself depth times, each frame holding 512 bytes, and runs
// fn at the bottom.
//
//go:noinline
func useStack(depth int, fn func()) byte {
	var frame [512]byte
	frame[depth%len(frame)] = byte(depth)
	if depth <= 1 {
		fn()
		return frame[0]
	}
	return useStack(depth-1, fn) + frame[depth%len(frame)]
}

func stackInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// TestNewGoroutinesStartSmall: under the settings KeepStacks gives the
// process, a goroutine started after a collection that found big stacks in
// use starts small and stays as small as its work needs. With the runtime's
// default (adaptivestackstart=1) it starts at the average stack the
// collection saw, 8 KiB here, and without shrinking keeps it: after a
// restart every hub's write goroutine held 8 KiB instead of 4.
func TestNewGoroutinesStartSmall(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewGoroutinesStartSmallHelper$", "-test.v")
	env := []string{"MEMLIMIT_STACKS_HELPER=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var godebug string
	var perG int64
	for _, line := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(line, "GODEBUG=%q new goroutine stack=%d B", &godebug, &perG); err == nil {
			break
		}
	}
	if godebug == "" {
		t.Fatalf("helper printed no result:\n%s", out)
	}
	t.Logf("GODEBUG=%s: %d B of stack per new goroutine", godebug, perG)
	if perG > 4<<10 {
		t.Errorf("a goroutine started after a collection of big stacks took %d B of stack, want at most 4 KiB (GODEBUG=%s)", perG, godebug)
	}
}
