package broker

import (
	"net"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

func TestIPLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name   string
		maxIPs int
		// before: remotes that each spend their whole burst first.
		before []string
		remote string
		at     time.Duration
		want   int // CONNECTs allowed out of 10 from remote
	}{
		{"a burst from one address", 8, nil, "10.0.0.1:5000", 0, 5},
		{"another address has its own bucket", 8, []string{"10.0.0.1:1"}, "10.0.0.2:1", 0, 5},
		{"the port does not matter", 8, []string{"10.0.0.1:1"}, "10.0.0.1:2", 0, 0},
		{"refill after a second at 2/s", 8, []string{"10.0.0.1:1"}, "10.0.0.1:2", time.Second, 2},
		{"no IP is not limited", 8, nil, "pipe", 0, 10},
		{"an IPv6 /64 shares a bucket", 8, []string{"[2001:db8:1:2::1]:1"}, "[2001:db8:1:2:ffff::9]:1", 0, 0},
		{"another /64 has its own", 8, []string{"[2001:db8:1:2::1]:1"}, "[2001:db8:1:3::1]:1", 0, 5},
		{"v4-mapped is the IPv4 address", 8, []string{"10.0.0.1:1"}, "[::ffff:10.0.0.1]:1", 0, 0},
		// A full table of busy addresses: the newcomer is still limited (it
		// used to pass unlimited), and the oldest address is forgotten.
		{"full table limits newcomers", 2, []string{"10.0.0.1:1", "10.0.0.2:1"}, "10.0.0.3:1", 0, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newIPLimiter(2, 5, tc.maxIPs)
			for _, r := range tc.before {
				for range 10 {
					l.allow(r, now)
				}
			}
			got := 0
			for range 10 {
				if l.allow(tc.remote, now.Add(tc.at)) {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("allowed %d of 10, want %d", got, tc.want)
			}
			if n := l.len(); n > tc.maxIPs {
				t.Errorf("table holds %d, bound %d", n, tc.maxIPs)
			}
		})
	}
}

func TestIPLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newIPLimiter(1, 1, 3)
	ip := func(i int) string { return net.JoinHostPort("10.0.0."+strconv.Itoa(i), "1") }
	for i := 1; i <= 3; i++ {
		l.allow(ip(i), now) // each spends its only token
	}
	l.allow(ip(1), now)      // 1 is now the most recently used
	l.allow(ip(4), now)      // evicts 2, the least recently used
	if l.allow(ip(1), now) { // still tracked: still empty
		t.Error("address 1 was evicted although recently used")
	}
	if !l.allow(ip(2), now) { // forgotten: starts with a full bucket (evicting 3)
		t.Error("address 2 was not the one evicted")
	}
	if n := l.len(); n != 3 {
		t.Errorf("table holds %d, want 3", n)
	}
}

// BenchmarkIPLimiter is a mass reconnect from many addresses through a full
// table: every CONNECT evicts; it must stay O(1).
func BenchmarkIPLimiter(b *testing.B) {
	l := newIPLimiter(200, 500, 1<<16)
	remotes := make([]string, 1<<18)
	for i := range remotes {
		remotes[i] = net.JoinHostPort(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String(), "1883")
	}
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		l.allow(remotes[i%len(remotes)], now)
		i++
	}
}

// TestBucketAfterClockStepBack: a bucket keeps wall-clock nanoseconds (no
// monotonic reading, issue 14's smaller per-hub state), so a clock stepped
// back must not stop its refill until the clock catches up again.
func TestBucketAfterClockStepBack(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newBucket(2, now)
	for range 2 {
		if !b.take(1, 2, now) {
			t.Fatal("the burst is refused")
		}
	}
	back := now.Add(-time.Hour)
	if b.take(1, 2, back) {
		t.Fatal("an empty bucket gave a token when the clock went back")
	}
	if !b.take(1, 2, back.Add(1500*time.Millisecond)) {
		t.Error("1.5 s after the clock stepped back at 1/s: no token (refill stalled until the old time)")
	}
}

// TestHubStateSize pins what the broker keeps per hub for its lifetime
// (issue 14: 300,000 of them): no time.Time (24 B with a pointer) in it.
func TestHubStateSize(t *testing.T) {
	if got := unsafe.Sizeof(hubState{}); got > 160 {
		t.Errorf("hubState is %d bytes, want <= 160 (a size class of the allocator)", got)
	}
	if got := unsafe.Sizeof(bucket{}); got != 16 {
		t.Errorf("bucket is %d bytes, want 16", got)
	}
}
