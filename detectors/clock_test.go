package detectors

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// simClock is a clock the test moves by hand, far from the bubble's wall
// clock (2000-01-01), so that a time read from the wall shows.
type simClock struct{ ms atomic.Int64 }

func newSimClock(t time.Time) *simClock {
	c := &simClock{}
	c.ms.Store(t.UnixMilli())
	return c
}

func (c *simClock) now() time.Time        { return time.UnixMilli(c.ms.Load()) }
func (c *simClock) set(t time.Time)       { c.ms.Store(t.UnixMilli()) }
func (c *simClock) clock() Clock          { return c.now }
func simStart() time.Time                 { return time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) }
func withinSim(at, lo, hi time.Time) bool { return !at.Before(lo) && !at.After(hi) }

// TestEngineClockAdvance: an engine on a Clock runs its deadlines only when
// Advance moves the time (wall time passing does nothing), and stamps them
// with the Clock's time.
func TestEngineClockAdvance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := simStart()
		c, sink := newSimClock(start), &recorder{}
		e, stop := startEngineConfig(t, EngineConfig{Sink: sink, Shards: 2, Logger: zerolog.Nop(), Clock: c.clock()})
		defer stop()
		e.Ingest(fallEvent("hub-1", start))
		synctest.Wait()
		if got := sink.take(); len(got) != 1 || got[0].State != Pending {
			t.Fatalf("want a pending fall, got %+v", got)
		}
		time.Sleep(10 * time.Minute) // the wall moves; the simulated clock does not
		synctest.Wait()
		if got := sink.take(); len(got) != 0 {
			t.Fatalf("the wall clock moved the engine: %+v", got)
		}
		c.set(start.Add(31 * time.Second))
		e.Advance(c.now())
		synctest.Wait()
		got := sink.take()
		if len(got) != 1 || got[0].State != Firing || got[0].Cause != CauseFall {
			t.Fatalf("want the fall firing after Advance, got %+v", got)
		}
		if !withinSim(got[0].At, start, c.now()) {
			t.Fatalf("fired at %s, outside the simulated %s..%s", got[0].At, start, c.now())
		}
	})
}

// TestEngineStep: Step returns only once every shard has applied what was
// queued before it and run its deadlines, so its owner needs no other wait
// (the soak steps a whole gateway this way): the fall's firing is in the
// sink when Step returns, with no synctest.Wait between.
func TestEngineStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := simStart()
		c, sink := newSimClock(start), &recorder{}
		e, stop := startEngineConfig(t, EngineConfig{Sink: sink, Shards: 4, Logger: zerolog.Nop(), Clock: c.clock()})
		defer stop()
		e.Ingest(fallEvent("hub-1", start))
		c.set(start.Add(31 * time.Second))
		if err := e.Step(t.Context(), c.now()); err != nil {
			t.Fatal(err)
		}
		got := sink.take()
		if len(got) != 2 || got[0].State != Pending || got[1].State != Firing {
			t.Fatalf("want the fall pending then firing when Step returns, got %+v", got)
		}
	})
}
