package detectors

import (
	"sync"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
)

// The hub messages both runtimes' tests send (shardtest).
var (
	heartbeat = shardtest.Heartbeat
	event     = shardtest.Event
	readings  = shardtest.Readings
)

// recorder is an in-memory Sink.
type recorder struct {
	mu  sync.Mutex
	got []Detection
}

func (r *recorder) Detect(d Detection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, d)
}

// take returns and forgets what was detected so far.
func (r *recorder) take() []Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}
