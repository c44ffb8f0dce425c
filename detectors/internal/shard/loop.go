package shard

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Machine is one runtime's state of the homes (or hubs) that hash to a
// shard, as the shard's loop drives it: the engine's rules and the health
// monitor each implement it. Only the shard's goroutine calls it.
type Machine[O, R any] interface {
	// Handle applies one input.
	Handle(o O)
	// Tick advances the shard's timing wheel to now (the wall clock).
	Tick(now time.Time)
	// Save answers a save request: the records changed since the last
	// one that are due in the round of seen slot slot, at most limit of
	// them (see ReplyWith).
	Save(slot, limit int) SaveReply[R]
	// Recovered reports a panic while handling o (the zero O: while
	// ticking). o is passed by value: a pointer would move every input to
	// the heap.
	Recovered(o O, panicked any)
}

// Shard is one shard's intake and loop: its lanes, the save loop's
// requests and, optionally, queries, all served by one goroutine that
// hands everything to its Machine. Nothing else touches the machine's state
// once the loop runs, so it needs no lock.
type Shard[O, R any] struct {
	Lanes *Lanes[O]
	// Saves carries the save loop's requests (RunSaves).
	Saves chan SaveReq[R]
	// Queries, if not nil, carries functions run on the shard's goroutine
	// between inputs, ahead of the ordinary queue: reads of the machine's
	// state from other goroutines.
	Queries chan func()

	m     Machine[O, R]
	apply func(O) // Apply, made once: a method value passed per input would be made per input
}

// NewShard makes a shard of machine m with lanes of queueSize (see
// NewLanes); queries says whether it serves Queries.
func NewShard[O, R any](m Machine[O, R], queueSize int, hubOf func(*O) devices.HubID, queries bool) *Shard[O, R] {
	s := &Shard[O, R]{Lanes: NewLanes(queueSize, hubOf), Saves: make(chan SaveReq[R]), m: m}
	if queries {
		s.Queries = make(chan func())
	}
	s.apply = s.Apply
	return s
}

// Put queues o, which carries hub message m (nil for a connection or a
// registry change), in the event lane if m is an event, waiting while the
// lane is full (an emergency is not to be dropped, nor a disconnect; waits
// counts such waits) unless stopped is closed: then o is counted in dropped
// and m's readings batch, retained for the shard, released.
func (s *Shard[O, R]) Put(o O, m *devices.Message, stopped <-chan struct{}, waits, dropped *atomic.Uint64) {
	if !s.Lanes.Put(o, m != nil && m.Event != nil, stopped, waits) {
		dropped.Add(1)
		if m != nil && m.Readings != nil {
			m.Readings.Release()
		}
	}
}

// Apply hands o to the machine with a panic recovered: one input that trips
// a bug must not stop the shard's other homes (nor, replayed, every
// restart).
func (s *Shard[O, R]) Apply(o O) {
	defer func() {
		if r := recover(); r != nil {
			s.m.Recovered(o, r)
		}
	}()
	s.m.Handle(o)
}

func (s *Shard[O, R]) tick(now time.Time) {
	defer func() {
		if r := recover(); r != nil {
			var none O
			s.m.Recovered(none, r)
		}
	}()
	s.m.Tick(now)
}

// Run serves the shard, its state loaded, until ctx ends, then applies
// what is still queued. Events go first, each after its own hub's older
// inputs (Lanes); ordinary inputs already queued are taken without the
// select (Lanes.Next); the select serves the rest, the save requests, the
// queries and the wheel's ticker, every tick. With tick 0 no ticker runs:
// the owner moves the wheel with inputs of its own (a simulated clock's
// steps, in order with the other inputs).
func (s *Shard[O, R]) Run(ctx context.Context, tick time.Duration) {
	var ticks <-chan time.Time
	if tick > 0 {
		t := time.NewTicker(tick)
		defer t.Stop()
		ticks = t.C
	}
	apply := s.apply
	for {
		if s.Lanes.Event(nil, apply) {
			continue // events first, each after its own hub's older inputs
		}
		if s.Lanes.Next(apply) {
			continue // queued already: no select (see Next)
		}
		in, backlog := s.Lanes.OrdinaryReady()
		select {
		case <-ctx.Done():
			s.Lanes.Drain(apply)
			return
		case q := <-s.Lanes.events:
			s.Lanes.TakeEvent(q, nil, apply)
		case q := <-in:
			apply(q.Op)
		case <-backlog:
			if o, ok := s.Lanes.PopBacklog(); ok {
				apply(o)
			}
		case q := <-s.Queries:
			q()
		case r := <-s.Saves:
			r.Reply <- s.m.Save(r.Slot, r.Limit)
		case now := <-ticks:
			s.tick(now)
		}
	}
}
