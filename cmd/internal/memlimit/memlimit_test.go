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
	got := Set(true)
	if avail, _ := Available(); got != Limit(avail, true) || float64(got) > Share*float64(total) {
		t.Fatalf("Set(embedded) = %d, machine has %d", got, total)
	}
	if now := debug.SetMemoryLimit(-1); now != got {
		t.Fatalf("runtime limit %d, Set returned %d", now, got)
	}
}

func TestOperatorWins(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	debug.SetMemoryLimit(12345678)
	t.Setenv("GOMEMLIMIT", "12345678")
	if got := Set(true); got != 12345678 {
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
	Set(false)
	if got := debug.SetGCPercent(100); got != gcPercentUnderLimit {
		t.Errorf("GC percent under a limit = %d, want %d", got, gcPercentUnderLimit)
	}
	// The operator's GOGC stands.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	Set(false)
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent with GOGC=150 = %d, want 150", got)
	}
}

func TestLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		mem      int64
		embedded bool
		want     int64
	}{
		{50 * gib, false, 27 * gib},
		{50 * gib, true, 27*gib - sqliteCaches}, // SQLite's caches are outside Go's count
		{512 << 20, true, 64 << 20},             // a tiny machine still gets a usable limit
	} {
		if got := Limit(tc.mem, tc.embedded); got != tc.want {
			t.Errorf("Limit(%d, embedded %v) = %d, want %d", tc.mem, tc.embedded, got, tc.want)
		}
	}
}

func TestHubCapacity(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		want  int
	}{
		{0, 0},             // unknown: no cap
		{math.MaxInt64, 0}, // no limit: no cap
		{12 << 30, 324720}, // 80% of 12 GiB / 31 KiB
		{16 << 10, 1},      // below one hub's cost: one hub, not none
	} {
		if got := capacityOf(tc.limit).Hubs; got != tc.want {
			t.Errorf("capacity under a %d-byte limit = %d, want %d", tc.limit, got, tc.want)
		}
	}
	// This project's machines (MemTotal 23.5 GiB) must carry the nation on
	// either store, within Share of their memory.
	for _, embedded := range []bool{true, false} {
		if got := capacityOf(Limit(24683772<<10, embedded)).Hubs; got < 300000 {
			t.Errorf("capacity of a 23.5 GiB machine (embedded store %v) = %d, below the national 300,000", embedded, got)
		}
	}
	// The operator's GOMEMLIMIT is what the capacity follows.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "4GiB")
	debug.SetMemoryLimit(4 << 30)
	if got, want := HubCapacity(true).Hubs, capacityOf(4<<30).Hubs; got != want {
		t.Errorf("capacity with GOMEMLIMIT=4GiB = %d, want %d", got, want)
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
