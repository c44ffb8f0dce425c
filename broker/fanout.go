package broker

import "github.com/dolbom/dolbom/devices"

// Fanout is one Ingester that hands what the broker accepted to every stage
// in it, in order (the detectors and the health monitor each take every
// message).
type Fanout []Ingester

func (f Fanout) Ingest(m *devices.Message) {
	for _, in := range f {
		in.Ingest(m)
	}
}

// SharesReadingBatches: a batch may come from the pool only if every
// stage retains what it keeps.
func (f Fanout) SharesReadingBatches() bool {
	for _, in := range f {
		if s, ok := in.(BatchSharer); !ok || !s.SharesReadingBatches() {
			return false
		}
	}
	return true
}

func (f Fanout) Connection(c devices.ConnectionEvent) {
	for _, in := range f {
		in.Connection(c)
	}
}
