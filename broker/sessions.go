package broker

import (
	"container/heap"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// hubState is what the broker keeps per hub beyond mochi's session: the
// connection that currently owns the hub id, why we ended one, and the rate
// limits. It lives while the hub is known (bounded by the registry).
type hubState struct {
	mu sync.Mutex
	// client is the newest authenticated connection of the hub (possibly
	// disconnected, its session kept). A disconnecting client that is not it
	// was taken over.
	client *mqtt.Client
	// kicked is a client we disconnected ourselves, with the reason to report.
	kicked     *mqtt.Client
	kickReason string
	readings   bucket // readings, accel and heartbeat messages
	events     bucket
}

const stateShards = 64

// hubStates is a sharded map from hub id to state, so that 300,000 hubs
// publishing do not contend on one lock.
type hubStates struct {
	shards [stateShards]struct {
		sync.RWMutex
		m map[string]*hubState
	}
}

func newHubStates() *hubStates {
	s := &hubStates{}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*hubState)
	}
	return s
}

func shardOf(id string) int {
	// FNV-1a inline: no allocation on the publish path.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % stateShards)
}

func (s *hubStates) get(id string) *hubState {
	sh := &s.shards[shardOf(id)]
	sh.RLock()
	st := sh.m[id]
	sh.RUnlock()
	return st
}

func (s *hubStates) getOrCreate(id string, mk func() *hubState) *hubState {
	if st := s.get(id); st != nil {
		return st
	}
	sh := &s.shards[shardOf(id)]
	sh.Lock()
	defer sh.Unlock()
	if st := sh.m[id]; st != nil {
		return st
	}
	st := mk()
	sh.m[id] = st
	return st
}

func (s *hubStates) each(fn func(*hubState)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.RLock()
		list := make([]*hubState, 0, len(sh.m))
		for _, st := range sh.m {
			list = append(list, st)
		}
		sh.RUnlock()
		for _, st := range list {
			fn(st)
		}
	}
}

// expiryQueue holds the disconnected sessions in deadline order. The
// sweeper pops only what is due: O(expired) per tick, instead of mochi's
// copy of every client every second.
type expiryQueue struct {
	mu sync.Mutex
	h  expiryHeap
}

type expiring struct {
	at time.Time
	cl *mqtt.Client
}

type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiring{}
	*h = old[:len(old)-1]
	return e
}

func (q *expiryQueue) push(at time.Time, cl *mqtt.Client) {
	q.mu.Lock()
	heap.Push(&q.h, expiring{at: at, cl: cl})
	q.mu.Unlock()
}

// due pops every entry whose deadline is not after now.
func (q *expiryQueue) due(now time.Time) []*mqtt.Client {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*mqtt.Client
	for len(q.h) > 0 && !q.h[0].at.After(now) {
		out = append(out, heap.Pop(&q.h).(expiring).cl)
	}
	return out
}

func (q *expiryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}
