package store

import "sync"

// writeClass orders writers waiting for SQLite's one write lock.
type writeClass uint8

const (
	// bulkWrite: readings flushes, state saves, the sealer, retention,
	// administration. They can wait a few milliseconds more.
	bulkWrite writeClass = iota
	// urgentWrite: the emergency path, events a hub waits on for its PUBACK
	// and the dispatcher's incident and outbox writes. At national scale
	// the bulk writers hold the lock most of the time; queued behind them
	// in arrival order, an SOS waited for every flush and save that came
	// first (measured: emergency PUBACK p50 32 ms at 300,000 homes).
	urgentWrite
)

// writeGate is a lock handed on at unlock to the longest-waiting urgent
// writer, else to the longest-waiting bulk writer: an urgent writer waits
// for the transaction in progress and at most one bulk one. The two urgent
// writers (events, dispatch) each group what queued during the other's
// commit, and in an incident storm they could pass the lock back and forth
// for as long as it lasts while the readings flushes and state saves wait:
// after urgentRun urgent handovers in a row with a bulk writer waiting, the
// next goes to the bulk writer.
type writeGate struct {
	mu     sync.Mutex
	held   bool
	urgent []chan struct{}
	bulk   []chan struct{}
	run    int // urgent handovers in a row while a bulk writer waited
}

const urgentRun = 4

func (g *writeGate) lock(class writeClass) {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return
	}
	turn := make(chan struct{})
	if class == urgentWrite {
		g.urgent = append(g.urgent, turn)
	} else {
		g.bulk = append(g.bulk, turn)
	}
	g.mu.Unlock()
	<-turn // the lock is ours, handed on by unlock
}

func (g *writeGate) unlock() {
	g.mu.Lock()
	var next chan struct{}
	switch {
	case len(g.urgent) > 0 && (len(g.bulk) == 0 || g.run < urgentRun):
		next, g.urgent = g.urgent[0], g.urgent[1:]
		if len(g.bulk) > 0 {
			g.run++
		}
	case len(g.bulk) > 0:
		next, g.bulk = g.bulk[0], g.bulk[1:]
		g.run = 0
	default:
		if !g.held {
			g.mu.Unlock()
			panic("store: unlock of an unlocked write gate")
		}
		g.held = false
	}
	g.mu.Unlock()
	if next != nil {
		close(next)
	}
}
