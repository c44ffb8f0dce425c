package broker

import (
	"container/heap"
	"crypto/sha256"
	"sync"
	"sync/atomic"
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
	// gen is bumped by Revoke (under mu). A connection authenticated against
	// an older generation was checked against a record that no longer
	// holds, so it is refused or dropped (see OnConnect, OnSessionEstablish).
	gen atomic.Uint64
	// expireAt is when the disconnected client's session expires; zero when
	// the hub has no session waiting to expire. queued says this hub has its
	// one entry in the expiry queue: a hub that reconnects in a loop moves
	// expireAt instead of adding entries (the sweeper re-queues the entry
	// when it finds the deadline moved). Unix nanoseconds, 0 = none: 8 bytes
	// without a pointer instead of a time.Time's 24 with one, kept per hub.
	expireAt int64
	// subs are the subscriptions of the hub's session (subscriptions.go).
	subs     hubSubs
	readings bucket // every upstream message but events, taken before decoding
	events   bucket
	// refusals pays for telling the hub why a message was refused (a reject
	// encoded and published). When it is empty refusals are silent, and
	// silentInRow counts them until an accepted message resets it: at
	// MaxSilentRefusals the hub is disconnected.
	refusals    bucket
	silentInRow atomic.Int32
	queued      bool // see expireAt (here it fits in silentInRow's padding)
	// poison are digests of payloads whose handling panicked (poison.go),
	// refused at once when the hub sends them again; hasPoison keeps the
	// look-up off the path of every other hub.
	poison    [][sha256.Size]byte
	hasPoison atomic.Bool
	// places counts the hub's authenticated connections still open (see
	// capacity): above 0 the hub is admitted, and a reconnect of it passes
	// the capacity gate whatever the count.
	places atomic.Int32
	// lanes queue the hub's publishes for the handoff's workers (handoff.go).
	lanes atomic.Pointer[hubLanes]
}

// sessionKept reports whether the hub has a session in mochi (connected, or
// away and not yet expired): the node serves it, and its reconnect is not
// new load.
func (st *hubState) sessionKept() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.client != nil
}

// scheduleExpiryLocked arranges for the sweeper to expire the hub's session
// at `at`. The caller holds st.mu (lock order: st.mu, then the queue's).
func (s *Server) scheduleExpiryLocked(st *hubState, at time.Time) {
	st.expireAt = at.UnixNano()
	if !st.queued {
		st.queued = true
		s.expiry.push(at, st)
	}
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

// gen returns the hub's generation (0 for a hub without state).
func (s *hubStates) gen(id string) uint64 {
	if st := s.get(id); st != nil {
		return st.gen.Load()
	}
	return 0
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

// expiryQueue holds at most one entry per hub whose session waits to expire,
// in deadline order. The sweeper pops only what is due: O(expired) per tick,
// instead of mochi's copy of every client every second. An entry's deadline
// may be older than its hub's expireAt (the hub came back and left again);
// the sweeper then queues it again rather than expire early. A hub whose
// later connection asked for a shorter MQTT 5 expiry keeps its session until
// the queued deadline: a little longer than asked, never shorter.
type expiryQueue struct {
	mu sync.Mutex
	h  expiryHeap
}

type expiring struct {
	at time.Time
	st *hubState
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

func (q *expiryQueue) push(at time.Time, st *hubState) {
	q.mu.Lock()
	heap.Push(&q.h, expiring{at: at, st: st})
	q.mu.Unlock()
}

// due pops every entry whose deadline is not after now.
func (q *expiryQueue) due(now time.Time) []*hubState {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*hubState
	for len(q.h) > 0 && !q.h[0].at.After(now) {
		out = append(out, heap.Pop(&q.h).(expiring).st)
	}
	return out
}

func (q *expiryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}
