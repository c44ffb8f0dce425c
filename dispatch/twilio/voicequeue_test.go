package twilio

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestVoiceQueueP1First(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newVoiceQueue(time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go q.run(ctx)

		start := time.Now()
		var mu sync.Mutex
		var order []string
		var at []time.Duration
		call := func(name string, prio int) {
			if err := q.wait(ctx, prio); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			at = append(at, time.Since(start))
			mu.Unlock()
		}
		call("first-p3", 3) // takes the slot at once
		var wg sync.WaitGroup
		for _, c := range []struct {
			name string
			prio int
		}{{"p3-a", 3}, {"p4", 4}, {"p3-b", 3}, {"p1", 1}, {"p2", 2}} {
			wg.Go(func() { call(c.name, c.prio) })
			synctest.Wait() // queued in this order, while the first slot's second runs
		}
		wg.Wait()
		want := []string{"first-p3", "p1", "p2", "p3-a", "p3-b", "p4"}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("order %v, want %v", order, want)
			}
			if at[i] != time.Duration(i)*time.Second {
				t.Fatalf("grant %d at %v, want %v (times %v)", i, at[i], time.Duration(i)*time.Second, at)
			}
		}
	})
}

func TestVoiceQueueCancelledWaiterLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newVoiceQueue(time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go q.run(ctx)
		if err := q.wait(ctx, 1); err != nil {
			t.Fatal(err)
		}
		short, stop := context.WithCancel(ctx)
		errc := make(chan error)
		go func() { errc <- q.wait(short, 1) }()
		synctest.Wait()
		stop()
		if err := <-errc; err == nil {
			t.Fatal("cancelled wait returned nil")
		}
		start := time.Now()
		if err := q.wait(ctx, 4); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("next grant after %v, want 1s (the cancelled waiter must not take the slot)", d)
		}
	})
}
