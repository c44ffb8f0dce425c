package broker

import (
	"net"
	"sync"
	"time"
)

// bucket is a token bucket refilled lazily from the time of the last take:
// no goroutine or timer per hub. The caller holds the lock guarding it.
type bucket struct {
	tokens float64
	last   time.Time
}

func newBucket(burst int, now time.Time) bucket {
	return bucket{tokens: float64(burst), last: now}
}

func (b *bucket) refill(rate float64, burst int, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
		b.last = now
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

// ipLimiter bounds CONNECTs per remote IP with a bounded table of buckets.
type ipLimiter struct {
	rate    float64
	burst   int
	maxIPs  int
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newIPLimiter(rate float64, burst, maxIPs int) *ipLimiter {
	if rate < 0 {
		return nil
	}
	return &ipLimiter{rate: rate, burst: burst, maxIPs: maxIPs, buckets: make(map[string]*bucket)}
}

// allow reports whether a CONNECT from remote ("ip:port") may proceed.
// Remotes without a port (net.Pipe's "pipe") are not limited.
func (l *ipLimiter) allow(remote string, now time.Time) bool {
	if l == nil {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[host]
	if !ok {
		if len(l.buckets) >= l.maxIPs {
			l.pruneLocked(now)
			if len(l.buckets) >= l.maxIPs {
				// Full of addresses that are all busy: let newcomers through
				// rather than lock legitimate hubs out.
				return true
			}
		}
		nb := newBucket(l.burst, now)
		b = &nb
		l.buckets[host] = b
	}
	return b.take(l.rate, l.burst, now)
}

// pruneLocked drops the buckets that have refilled: forgetting them changes
// nothing. It runs only when the table is full, so its O(n) is rare.
func (l *ipLimiter) pruneLocked(now time.Time) {
	for host, b := range l.buckets {
		b.refill(l.rate, l.burst, now)
		if b.tokens >= float64(l.burst) {
			delete(l.buckets, host)
		}
	}
}
