package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestStopStepsTogether: the stages of one step are cancelled together
// (a waits to see b cancelled, which a one-at-a-time stop never does while
// a runs), and the next step starts only once both returned.
func TestStopStepsTogether(t *testing.T) {
	s := newStages(zerolog.Nop())
	bCancelled := make(chan struct{})
	var mu sync.Mutex
	var returned []string
	done := func(name string) {
		mu.Lock()
		returned = append(returned, name)
		mu.Unlock()
	}
	s.start("a", func(ctx context.Context) error {
		<-ctx.Done()
		defer done("a")
		select {
		case <-bCancelled:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("b was not cancelled while a was stopping")
		}
	})
	s.start("b", func(ctx context.Context) error {
		<-ctx.Done()
		close(bCancelled)
		time.Sleep(20 * time.Millisecond) // returns after a
		done("b")
		return nil
	})
	s.start("c", func(ctx context.Context) error {
		<-ctx.Done()
		done("c")
		return nil
	})
	if err := s.stop(10*time.Second, [][]stageName{{"a", "b"}, {"c"}}); err != nil {
		t.Fatal(err)
	}
	if len(returned) != 3 || returned[2] != "c" {
		t.Fatalf("stages returned in order %v, want a and b before c", returned)
	}
}

// TestStopTimeoutStopsLaterSteps: a step that overruns the deadline still
// leaves every later stage told to stop.
func TestStopTimeoutStopsLaterSteps(t *testing.T) {
	s := newStages(zerolog.Nop())
	release := make(chan struct{})
	defer close(release)
	s.start("slow", func(ctx context.Context) error { <-release; return nil })
	stopped := make(chan struct{})
	s.start("store", func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil })
	if err := s.stop(50*time.Millisecond, [][]stageName{{"slow", "none"}, {"store"}}); err == nil {
		t.Fatal("stop returned no error although a stage overran the deadline")
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the later stage was not stopped")
	}
}
