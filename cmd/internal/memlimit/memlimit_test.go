package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestSet(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "")
	total := machineBytes()
	if total == 0 {
		t.Skip("no /proc/meminfo here")
	}
	got := Set(0.5)
	if got <= 0 || got > total/2+1 {
		t.Fatalf("Set(0.5) = %d, machine has %d", got, total)
	}
	if now := debug.SetMemoryLimit(-1); now != got {
		t.Fatalf("runtime limit %d, Set returned %d", now, got)
	}
}

func TestOperatorWins(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	debug.SetMemoryLimit(12345678)
	t.Setenv("GOMEMLIMIT", "12345678")
	if got := Set(0.5); got != 12345678 {
		t.Fatalf("Set with GOMEMLIMIT set = %d, want the operator's 12345678", got)
	}
}

func TestGCPercentUnderLimit(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(100)
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	if machineBytes() == 0 {
		t.Skip("no /proc/meminfo here")
	}
	debug.SetGCPercent(100)
	Set(0.5)
	if got := debug.SetGCPercent(100); got != gcPercentUnderLimit {
		t.Errorf("GC percent under a limit = %d, want %d", got, gcPercentUnderLimit)
	}
	// The operator's GOGC stands.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	Set(0.5)
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent with GOGC=150 = %d, want 150", got)
	}
}

func TestHubCapacity(t *testing.T) {
	for _, tc := range []struct {
		mem  int64
		want int
	}{
		{0, 0},             // unknown: no cap
		{24 << 30, 360448}, // (24 - 2) GiB / 64 KiB
		{1 << 30, 1},       // below the reserve: one hub, not none
	} {
		if got := capacityOf(tc.mem, "ram").Hubs; got != tc.want {
			t.Errorf("capacity of %d bytes = %d, want %d", tc.mem, got, tc.want)
		}
	}
	// This project's machines (MemTotal 23.5 GiB) must carry the nation.
	if got := capacityOf(24683772<<10, "ram").Hubs; got < 300000 {
		t.Errorf("capacity of a 23.5 GiB machine = %d, below the national 300,000", got)
	}
}

func TestParseMaxHubs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		auto bool
		bad  bool
	}{
		{"", 0, true, false}, {"auto", 0, true, false}, {"unlimited", 0, false, false},
		{"300000", 300000, false, false}, {"0", 0, false, true}, {"-5", 0, false, true}, {"lots", 0, false, true},
	} {
		n, auto, err := ParseMaxHubs(tc.in)
		if (err != nil) != tc.bad || n != tc.n || auto != tc.auto {
			t.Errorf("ParseMaxHubs(%q) = %d, %v, %v", tc.in, n, auto, err)
		}
	}
}
