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
