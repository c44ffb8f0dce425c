package firmwaresim

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets (16 per power of two of
// microseconds, ~4% resolution) with atomic adds: safe and cheap from every
// hub's callbacks at once.
type Histogram struct {
	counts [64 * 16]atomic.Int64
	n      atomic.Int64
}

func bucketOf(us uint64) int {
	if us < 16 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= 4
	m := (us >> (e - 4)) & 15
	return (e-3)*16 + int(m)
}

func bucketLow(b int) float64 {
	if b < 16 {
		return float64(b)
	}
	e := b/16 + 3
	m := b % 16
	return float64(uint64(16+m) << (e - 4))
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[min(bucketOf(uint64(us)), len(h.counts)-1)].Add(1)
	h.n.Add(1)
}

// Quantile returns the q-quantile in milliseconds (NaN when empty).
func (h *Histogram) Quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			return bucketLow(b) / 1000
		}
	}
	return bucketLow(len(h.counts)-1) / 1000
}

// LatencySummary is the percentiles of a histogram in milliseconds.
type LatencySummary struct {
	N    int64   `json:"n"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Summary returns p50, p99 and p99.9.
func (h *Histogram) Summary() LatencySummary {
	s := LatencySummary{N: h.n.Load()}
	if s.N > 0 {
		s.P50, s.P99, s.P999 = h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999)
	}
	return s
}
