package shard

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// This file is what both runtimes need to watch only the homes their
// gateway owns in a cluster (docs/cluster.md, "How a node watches only what
// it owns"): a home is acquired (its saved state loaded, its journal after
// the saved position replayed, the inputs that came meanwhile applied after)
// and released (it leaves the shard, unsaved, its timer stopped).

// Acquire asks a runtime to take one home into its shard.
type Acquire struct {
	Hub   devices.HubID
	Epoch devices.Epoch
	// Floor is the journal position below which the hub's events were
	// handled before it had an owner: the replay starts after the larger of
	// it and the saved position. (The store also applies the floor it
	// keeps, which a claim at CONNECT does not hand on.)
	Floor int64
	// Adopted: taken because its owner died while the hub was silent
	// (logged; every acquired home's deadlines get the restart grace).
	Adopted bool
	// ticket numbers the shard's request, so that a load that arrives after
	// its home was released or asked for again is not applied.
	ticket uint64
}

// Loaded is one acquired home's saved record (Found false: none) and its
// hub's journal events beyond the saved position (and the floor), in
// journal order, for its shard to apply.
type Loaded[R any] struct {
	Acquire
	Rec    R
	Found  bool
	Events []*devices.Event
	// Registry is what the registry says of the hub and its sensors (nil:
	// not registered, or no registry to ask).
	Registry *Registered
}

// Registered is one hub as the registry has it.
type Registered struct {
	Hub     devices.Hub
	Sensors []devices.Sensor
}

// Loader loads acquired homes in batches on its own goroutine, as the
// broker's credential lookups are batched: at most loadsInFlight loads at
// once, up to loadBatch hubs each, and a lone request waits for no timer. A
// reconnect wave after a node's death is thousands of claims in seconds;
// one query per home would be thousands of round trips per second.
type Loader[R any] struct {
	// Load reads the saved records of hubs (hubs with none are left out).
	Load func(ctx context.Context, hubs []devices.HubID) ([]R, error)
	// HubOf and Applied read a record's hub and saved journal position.
	HubOf   func(*R) devices.HubID
	Applied func(*R) int64
	// Replay, nil without a journal, calls fn for each event of the hubs
	// after their positions, in journal order.
	Replay func(ctx context.Context, after map[devices.HubID]int64, fn func(*devices.Event) error) error
	// Fleet, nil without a registry, calls visit for each registered hub
	// of hubs with its sensors.
	Fleet func(ctx context.Context, hubs []devices.HubID, visit func(devices.Hub, []devices.Sensor) error) error
	// Deliver hands one home's load to its shard; it must give up when
	// ctx ends (the shard may have stopped with its queue full).
	Deliver func(ctx context.Context, ld Loaded[R])
	Log     zerolog.Logger

	mu      sync.Mutex
	pending []Acquire
	wake    chan struct{}
	once    sync.Once
}

const (
	loadsInFlight = 2
	loadBatch     = 1000
)

func (l *Loader[R]) init() { l.once.Do(func() { l.wake = make(chan struct{}, 1) }) }

// Request queues a home's load; it never waits (a shard calls it).
func (l *Loader[R]) Request(a Acquire) {
	l.init()
	l.mu.Lock()
	l.pending = append(l.pending, a)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Loader[R]) take() []Acquire {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(len(l.pending), loadBatch)
	batch := append([]Acquire(nil), l.pending[:n]...)
	l.pending = append(l.pending[:0], l.pending[n:]...)
	return batch
}

// Run serves requests until ctx ends.
func (l *Loader[R]) Run(ctx context.Context) {
	l.init()
	slots := make(chan struct{}, loadsInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		for {
			// The slot first, then the batch: requests that come while both
			// loads run join the next batch.
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			batch := l.take()
			if len(batch) == 0 {
				<-slots
				break
			}
			wg.Go(func() {
				defer func() { <-slots }()
				l.load(ctx, batch)
			})
		}
	}
}

// load reads a batch, retrying until it succeeds or ctx ends: the homes'
// inputs wait parked meanwhile, which is better than starting them from
// scratch (an open emergency would be forgotten and raised again).
func (l *Loader[R]) load(ctx context.Context, batch []Acquire) {
	backoff := 100 * time.Millisecond
	for {
		err := l.loadOnce(ctx, batch)
		if err == nil || ctx.Err() != nil {
			return
		}
		l.Log.Error().Err(err).Int("homes", len(batch)).Dur("retry_in", backoff).Msg("acquired homes not loaded; retrying")
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (l *Loader[R]) loadOnce(ctx context.Context, batch []Acquire) error {
	hubs := make([]devices.HubID, 0, len(batch))
	after := make(map[devices.HubID]int64, len(batch))
	for _, a := range batch {
		if _, ok := after[a.Hub]; !ok {
			hubs = append(hubs, a.Hub)
		}
		after[a.Hub] = max(after[a.Hub], a.Floor)
	}
	recs, err := l.Load(ctx, hubs)
	if err != nil {
		return fmt.Errorf("load saved state: %w", err)
	}
	byHub := make(map[devices.HubID]int, len(recs))
	for k := range recs {
		h := l.HubOf(&recs[k])
		byHub[h] = k
		after[h] = max(after[h], l.Applied(&recs[k]))
	}
	events := map[devices.HubID][]*devices.Event{}
	if l.Replay != nil {
		err := l.Replay(ctx, after, func(e *devices.Event) error {
			events[e.Hub] = append(events[e.Hub], e)
			return nil
		})
		if err != nil {
			return fmt.Errorf("replay the journal: %w", err)
		}
	}
	registry := map[devices.HubID]*Registered{}
	if l.Fleet != nil {
		err := l.Fleet(ctx, hubs, func(hub devices.Hub, sensors []devices.Sensor) error {
			registry[hub.ID] = &Registered{Hub: hub, Sensors: sensors}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the registry: %w", err)
		}
	}
	for _, a := range batch {
		ld := Loaded[R]{Acquire: a, Events: events[a.Hub], Registry: registry[a.Hub]}
		if k, ok := byHub[a.Hub]; ok {
			ld.Rec, ld.Found = recs[k], true
		}
		l.Deliver(ctx, ld)
	}
	return nil
}

// Acquiring is a shard's homes whose load is under way: their inputs wait
// here, in the order they came, until the load is applied (the per-home
// form of the parking during the start load).
type Acquiring[O any] struct {
	homes  map[devices.HubID]*acquiring[O]
	ticket uint64
}

type acquiring[O any] struct {
	req    Acquire
	parked []O
	other  int // parked inputs that are not journaled events
}

// parkOthers bounds the inputs other than journaled events a home parks
// while its load is retried (the database away): an hour of a hub's
// minute batches. Events are always kept (an emergency is never dropped);
// readings past the bound are let go, counted.
const parkOthers = 64

// Len is how many homes are being acquired (0 on the hot path: one test).
func (a *Acquiring[O]) Len() int { return len(a.homes) }

// Begin records that req's home is being acquired and returns req with its
// ticket, for the loader. A home asked for again (a newer epoch) keeps what
// it parked; the earlier load is then ignored.
func (a *Acquiring[O]) Begin(req Acquire) Acquire {
	if a.homes == nil {
		a.homes = map[devices.HubID]*acquiring[O]{}
	}
	a.ticket++
	req.ticket = a.ticket
	if p := a.homes[req.Hub]; p != nil {
		p.req = req
		return req
	}
	a.homes[req.Hub] = &acquiring[O]{req: req}
	return req
}

// Pending returns the epoch hub is being acquired at, if it is.
func (a *Acquiring[O]) Pending(hub devices.HubID) (devices.Epoch, bool) {
	p := a.homes[hub]
	if p == nil {
		return 0, false
	}
	return p.req.Epoch, true
}

// Park keeps o if its hub is being acquired (event: a journaled event),
// and reports whether its hub is; full reports that o, not an event, was
// not kept: its home has parked parkOthers such inputs already.
func (a *Acquiring[O]) Park(hub devices.HubID, o O, event bool) (parked, full bool) {
	p := a.homes[hub]
	if p == nil {
		return false, false
	}
	if !event {
		if p.other >= parkOthers {
			return true, true
		}
		p.other++
	}
	p.parked = append(p.parked, o)
	return true, false
}

// Done ends the acquisition that ld answers and returns what its home
// parked; ok is false for a load no longer wanted (released, or asked for
// again since).
func (a *Acquiring[O]) Done(req Acquire) (parked []O, ok bool) {
	p := a.homes[req.Hub]
	if p == nil || p.req.ticket != req.ticket {
		return nil, false
	}
	delete(a.homes, req.Hub)
	return p.parked, true
}

// Abandon ends hub's acquisition, if any, and returns what it parked.
func (a *Acquiring[O]) Abandon(hub devices.HubID) []O {
	p := a.homes[hub]
	if p == nil {
		return nil
	}
	delete(a.homes, hub)
	return p.parked
}

// Hubs lists the homes being acquired.
func (a *Acquiring[O]) Hubs() []devices.HubID {
	out := make([]devices.HubID, 0, len(a.homes))
	for h := range a.homes {
		out = append(out, h)
	}
	return out
}

// Slots hands out the indexes of a shard's Chunked table again once their
// records are released, each with a generation: a timer's key names index
// and generation (Key), so that a deadline armed for a released home can
// never run on the home that reuses its index (Live). A single gateway
// never releases: gens stays nil and every key is its index.
type Slots struct {
	gens []uint32 // by index; absent: generation 0
	free []int32
}

// Reuse returns a released index, if there is one.
func (s *Slots) Reuse() (int32, bool) {
	if len(s.free) == 0 {
		return 0, false
	}
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return i, true
}

// Free releases index i for reuse under the next generation.
func (s *Slots) Free(i int32) {
	if int(i) >= len(s.gens) {
		s.gens = append(s.gens, make([]uint32, int(i)+1-len(s.gens))...)
	}
	s.gens[i]++
	s.free = append(s.free, i)
}

func (s *Slots) gen(i int32) uint32 {
	if int(i) < len(s.gens) {
		return s.gens[i]
	}
	return 0
}

// Key is the timer key of index i's current record.
func (s *Slots) Key(i int32) uint64 { return uint64(s.gen(i))<<32 | uint64(uint32(i)) }

// Live returns the index a timer key names, and whether its record is still
// the one the timer was armed for.
func (s *Slots) Live(key uint64) (int32, bool) {
	i := int32(uint32(key))
	return i, s.gen(i) == uint32(key>>32)
}

// Forget drops index i from the save queue: a released record is not saved.
// Its list entries stay and are skipped (next), so a record that reuses the
// index is queued as usual.
func (q *SaveQueue) Forget(i int32) {
	if int(i) < len(q.marks) {
		q.marks[i] &^= qDirtyState | qDirtySeen
	}
}

// Holder is a shard's side of the cluster, the same for both runtimes:
// which inputs are for homes it holds, acquisitions under way with their
// parked inputs, releases. Its funcs name the machine's part. On a single
// gateway (Cluster false) it admits every input and costs one test.
type Holder[O any] struct {
	Acquiring[O]
	Cluster bool
	// HubOf, EpochOf and SeqOf read an input's hub, the ownership epoch it
	// shows (a claim's connect, an event's session; 0: none) and its
	// journal position (0: none).
	HubOf   func(O) devices.HubID
	EpochOf func(O) devices.Epoch
	SeqOf   func(O) int64
	// Discard lets go an input that will never be applied (a readings
	// batch retained for the shard).
	Discard func(O)
	// Held returns the epoch a held home is held under.
	Held func(hub devices.HubID) (devices.Epoch, bool)
	// Drop removes a held home from the machine, unsaved.
	Drop func(hub devices.HubID)
	// Request hands an acquisition to the loader.
	Request func(Acquire)
	// Unowned counts inputs for homes not held here, dropped; Released,
	// homes let go; Overflow, inputs past a home's parking bound, dropped.
	Unowned, Released, Overflow *atomic.Uint64
}

// Busy reports whether Admit has anything to decide: in a cluster, or
// while a home is being acquired. A single gateway's shard asks only this
// (inlined), not Admit, which copies the input.
func (c *Holder[O]) Busy() bool { return c.Cluster || c.Len() > 0 }

// Admit reports whether o is to be applied now. An input of a home being
// acquired is parked; in a cluster, an input showing a newer epoch than the
// one its home is held under (or for a home not held) starts the home's
// acquisition and is parked, and any other input of a home not held here
// (a released home's late disconnect) is dropped, counted. o and the funcs'
// arguments are values: a pointer passed to a func value would move every
// input to the heap, on a single gateway too.
func (c *Holder[O]) Admit(o O) bool {
	hub := c.HubOf(o)
	if hub == "" {
		return true // no home's input (time moving on, Advance)
	}
	if c.park(hub, o) {
		return false
	}
	if !c.Cluster {
		return true
	}
	epoch := c.EpochOf(o)
	if held, ok := c.Held(hub); ok && (epoch == 0 || held >= epoch) {
		return true
	}
	if epoch == 0 {
		c.Unowned.Add(1)
		c.Discard(o)
		return false
	}
	c.Acquire(Acquire{Hub: hub, Epoch: epoch})
	c.park(hub, o)
	return false
}

// park parks o if its hub is being acquired, letting it go (counted) past
// the bound, and reports whether its hub is.
func (c *Holder[O]) park(hub devices.HubID, o O) bool {
	parked, full := c.Park(hub, o, c.SeqOf(o) != 0)
	if full {
		c.Overflow.Add(1)
		c.Discard(o)
	}
	return parked
}

// Acquire starts loading a home, once per epoch; a home held under an older
// epoch is dropped first: what this node knew of it is stale.
func (c *Holder[O]) Acquire(a Acquire) {
	if ep, ok := c.Pending(a.Hub); ok && ep >= a.Epoch {
		return
	}
	if held, ok := c.Held(a.Hub); ok {
		if held >= a.Epoch {
			return
		}
		c.Drop(a.Hub)
	}
	c.Request(c.Begin(a))
}

// Loaded applies an acquisition's load: take puts the home into the machine
// (its state, its replayed events), then the inputs parked meanwhile go
// through apply, except events the replay applied already (the journal has
// an event before it is handed on). A load no longer wanted is ignored.
func (c *Holder[O]) Loaded(req Acquire, events []*devices.Event, take func(), apply func(O)) {
	parked, ok := c.Done(req)
	if !ok {
		return
	}
	take()
	for k := range parked {
		if seq := c.SeqOf(parked[k]); seq != 0 && slices.ContainsFunc(events, func(e *devices.Event) bool { return e.Seq == seq }) {
			continue
		}
		apply(parked[k])
	}
}

// Release lets hub's home go: its acquisition, if any, with what it
// parked, and the held home, unsaved.
func (c *Holder[O]) Release(hub devices.HubID) {
	parked := c.Abandon(hub)
	for k := range parked {
		c.Discard(parked[k])
	}
	if _, ok := c.Held(hub); ok {
		c.Drop(hub)
		c.Released.Add(1)
	}
}

// Control is a cluster's control input to a shard, queued like any input:
// an acquisition asked for, a load to apply, or a release (Release "" with
// neither of the others: every home).
type Control[R any] struct {
	Acquire *Acquire
	Loaded  *Loaded[R]
	Release devices.HubID
}

// Hub is the home c is about ("" for every home).
func (c *Control[R]) Hub() devices.HubID {
	switch {
	case c.Acquire != nil:
		return c.Acquire.Hub
	case c.Loaded != nil:
		return c.Loaded.Hub
	}
	return c.Release
}

// Apply applies c: take puts a load's home into the machine, apply applies
// the inputs it parked, held lists the homes the machine holds.
func Apply[O, R any](h *Holder[O], c *Control[R], take func(*Loaded[R]), apply func(O), held map[devices.HubID]int32) {
	switch {
	case c.Acquire != nil:
		h.Acquire(*c.Acquire)
	case c.Loaded != nil:
		h.Loaded(c.Loaded.Acquire, c.Loaded.Events, func() { take(c.Loaded) }, apply)
	case c.Release == "":
		for _, hub := range h.Hubs() {
			h.Release(hub)
		}
		for hub := range held {
			h.Release(hub)
		}
	default:
		h.Release(c.Release)
	}
}
