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
// for at most the transaction in progress. Bulk writers can starve only
// while urgent commits follow each other without a gap, which the event
// writer's grouping rules out (one commit carries everything queued).
type writeGate struct {
	mu     sync.Mutex
	held   bool
	urgent []chan struct{}
	bulk   []chan struct{}
}

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
	case len(g.urgent) > 0:
		next, g.urgent = g.urgent[0], g.urgent[1:]
	case len(g.bulk) > 0:
		next, g.bulk = g.bulk[0], g.bulk[1:]
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
