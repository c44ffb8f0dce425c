package fall

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFeed measures one chunk through Feed while the wearer walks (the
// common case: impacts now and then, episodes judged and rejected).
//
//	go test ./detectors/fall -run '^$' -bench Feed -benchmem
func BenchmarkFeed(b *testing.B) {
	for _, bc := range []struct {
		rate  int
		chunk time.Duration
	}{{200, time.Second}, {50, time.Second}, {400, time.Second}, {200, 250 * time.Millisecond}} {
		b.Run(fmt.Sprintf("rate=%d/chunk=%v", bc.rate, bc.chunk), func(b *testing.B) {
			s := newSignal(bc.rate).walk(20*time.Second, 1.2)
			chunks := s.chunks(synthStart, bc.chunk)
			tr := NewTracker(nil)
			step := time.Duration(len(chunks)) * bc.chunk
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := &chunks[i%len(chunks)]
				tr.Feed(c)
				c.At = c.At.Add(step) // the next lap continues in time
				i++
			}
		})
	}
}
