// Package every runs a function at a fixed interval, or with a pause that
// backs off after failures, until its context ends: the timer loop of the
// gateway's background parts (saving the held hubs, the detectors' save
// rounds, the store's health monitor, retention and WAL checkpoints, the
// stats line), written once.
package every

import (
	"context"
	"time"
)

// Tick calls fn every d until ctx ends; the first call is one interval
// after the start. fn runs on the caller's goroutine, so a slow call delays
// the next tick rather than overlapping it.
func Tick(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for fired(ctx, t.C) {
		fn()
	}
}

// Backoff calls fn d after the start and again d after each call that
// succeeds; after a failure the pause doubles, up to max, so that a failing
// task (a checkpoint the database refuses) is not retried in a tight loop.
// It returns when ctx ends. Like Tick, fn runs on the caller's goroutine.
func Backoff(ctx context.Context, d, max time.Duration, fn func() error) {
	wait := d
	t := time.NewTimer(wait)
	defer t.Stop()
	for fired(ctx, t.C) {
		if fn() != nil {
			wait = min(2*wait, max)
		} else {
			wait = d
		}
		t.Reset(wait)
	}
}

// fired waits for c to fire or ctx to end, and reports which.
func fired(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
}
