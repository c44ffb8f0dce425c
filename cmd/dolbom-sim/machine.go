package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/dolbom/dolbom/cmd/internal/memlimit"
)

// Machine is what a load figure was measured on: a slow machine is a real
// machine, and a figure without its machine cannot be compared.
type Machine struct {
	Cores      int   `json:"cores"`      // runtime.NumCPU
	GOMAXPROCS int   `json:"gomaxprocs"` // what the run used
	RAMBytes   int64 `json:"ram_bytes"`  // MemTotal
	// CgroupLimitBytes is the cgroup's memory limit, 0 when there is none.
	CgroupLimitBytes int64 `json:"cgroup_limit_bytes"`
	// GoMemoryLimitBytes is the soft memory limit in force (GOMEMLIMIT, or
	// the one set from the machine as dolbomd does).
	GoMemoryLimitBytes int64  `json:"go_memory_limit_bytes"`
	GoVersion          string `json:"go_version"`
	OS                 string `json:"os"`
	Arch               string `json:"arch"`
	// Commit is the build's VCS revision, else DOLBOM_COMMIT, else the
	// checkout's `git describe --always --dirty`; "unknown" without any.
	Commit string `json:"commit"`
	// MaxHubs is the in-process gateway's capacity in effect (0: no cap),
	// MaxHubsHow how it was chosen; against --target, unknown (-1).
	MaxHubs    int    `json:"max_hubs"`
	MaxHubsHow string `json:"max_hubs_how"`
}

func thisMachine(maxHubs int, how string) Machine {
	ram, cgroup := memlimit.Machine()
	return Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), RAMBytes: ram, CgroupLimitBytes: cgroup,
		GoMemoryLimitBytes: debug.SetMemoryLimit(-1), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Commit: commit(), MaxHubs: maxHubs, MaxHubsHow: how}
}

func (m Machine) String() string {
	cgroup := "no cgroup limit"
	if m.CgroupLimitBytes > 0 {
		cgroup = fmt.Sprintf("cgroup limit %.1f GiB", float64(m.CgroupLimitBytes)/(1<<30))
	}
	maxHubs := fmt.Sprint(m.MaxHubs)
	switch m.MaxHubs {
	case 0:
		maxHubs = "unlimited"
	case -1:
		maxHubs = "set on the target"
	}
	return fmt.Sprintf("machine: %d cores (GOMAXPROCS %d), %.1f GiB RAM, %s, Go memory limit %.1f GiB, %s %s/%s, commit %s, max-hubs %s (%s)",
		m.Cores, m.GOMAXPROCS, float64(m.RAMBytes)/(1<<30), cgroup, float64(m.GoMemoryLimitBytes)/(1<<30),
		m.GoVersion, m.OS, m.Arch, m.Commit, maxHubs, m.MaxHubsHow)
}

// commit names the code that ran. The Makefile builds with
// -buildvcs=false (no revision in the binary), so a run from a checkout
// asks git, and DOLBOM_COMMIT names it anywhere else.
func commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return rev
		}
	}
	if c := os.Getenv("DOLBOM_COMMIT"); c != "" {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return "unknown"
}
