package fall

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFeed measures one chunk through Feed while the wearer walks (the
// common case: impacts now and then, episodes judged and rejected), and
// while down on the floor after a fall, moving (the costliest state).
//
//	go test ./detectors/fall -run '^$' -bench Feed -benchmem
func BenchmarkFeed(b *testing.B) {
	for _, bc := range []struct {
		rate  int
		chunk time.Duration
		down  bool // fallen and moving on the floor: the tracker watches for stillness or getting up
	}{{200, time.Second, false}, {50, time.Second, false}, {400, time.Second, false}, {200, 250 * time.Millisecond, false}, {200, time.Second, true}} {
		name := fmt.Sprintf("rate=%d/chunk=%v", bc.rate, bc.chunk)
		if bc.down {
			name += "/down"
		}
		b.Run(name, func(b *testing.B) {
			s := newSignal(bc.rate).walk(20*time.Second, 1.2)
			if bc.down {
				s = newSignal(bc.rate).walk(4*time.Second, 0.3).fall(6, 85).struggle(16 * time.Second)
			}
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
