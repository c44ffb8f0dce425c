package broker

import (
	"net/netip"
	"sync"
	"time"
)

// bucket is a token bucket refilled lazily from the time of the last take:
// no goroutine or timer per hub. The caller holds the lock guarding it.
//
// last is Unix nanoseconds, not a time.Time: every hub keeps three buckets
// for its lifetime, and a time.Time is 24 bytes with a pointer (its
// Location) for the collector to follow, this 8 bytes with none (issue 14).
// It loses the monotonic reading, so a wall clock stepped back would stop
// the refill until the clock caught up: refill then restarts from now.
type bucket struct {
	tokens float64
	last   int64
}

func newBucket(burst int, now time.Time) bucket {
	return bucket{tokens: float64(burst), last: now.UnixNano()}
}

func (b *bucket) refill(rate float64, burst int, now time.Time) {
	t := now.UnixNano()
	switch d := t - b.last; {
	case d > 0:
		b.tokens = min(float64(burst), b.tokens+time.Duration(d).Seconds()*rate)
		b.last = t
	case d < 0: // the wall clock went back
		b.last = t
	}
}

// take spends one token if there is one.
func (b *bucket) take(rate float64, burst int, now time.Time) bool {
	b.refill(rate, burst, now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// wait is how long until take can succeed.
func (b *bucket) wait(rate float64, burst int, now time.Time) time.Duration {
	b.refill(rate, burst, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// ipLimiter bounds CONNECTs per remote address with a bounded table of
// buckets. IPv6 addresses are keyed by their /64: one subscriber line gets a
// whole /64, so per-address keys would let one host fill the table. When the
// table is full the least recently used entry is evicted (O(1)): a newcomer
// gets a fresh bucket, it never passes unlimited.
type ipLimiter struct {
	rate   float64
	burst  int
	maxIPs int
	mu     sync.Mutex
	byKey  map[ipKey]*ipEntry
	// lru is a ring with a sentinel: lru.next is the most recently used.
	lru ipEntry
}

// ipKey is an IPv4 address (in its v4-mapped form) or an IPv6 /64 prefix.
type ipKey [16]byte

type ipEntry struct {
	key        ipKey
	b          bucket
	prev, next *ipEntry
}

func newIPLimiter(rate float64, burst, maxIPs int) *ipLimiter {
	if rate < 0 {
		return nil
	}
	l := &ipLimiter{rate: rate, burst: burst, maxIPs: max(1, maxIPs), byKey: make(map[ipKey]*ipEntry)}
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l
}

// limitKey returns the key remote ("ip:port") is limited by; ok is false
// for remotes without an IP (net.Pipe's "pipe").
func limitKey(remote string) (k ipKey, ok bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return k, false
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return ipKey(netip.AddrFrom4(a.As4()).As16()), true
	}
	k = a.As16()
	clear(k[8:]) // the /64
	return k, true
}

// allow reports whether a CONNECT from remote may proceed.
func (l *ipLimiter) allow(remote string, now time.Time) bool {
	if l == nil {
		return true
	}
	k, ok := limitKey(remote)
	if !ok {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byKey[k]
	if e != nil {
		l.unlink(e)
	} else {
		if len(l.byKey) >= l.maxIPs {
			old := l.lru.prev
			l.unlink(old)
			delete(l.byKey, old.key)
		}
		e = &ipEntry{key: k, b: newBucket(l.burst, now)}
		l.byKey[k] = e
	}
	// To the front: most recently used.
	e.prev, e.next = &l.lru, l.lru.next
	l.lru.next.prev = e
	l.lru.next = e
	return e.b.take(l.rate, l.burst, now)
}

func (l *ipLimiter) unlink(e *ipEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (l *ipLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}
