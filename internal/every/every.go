// Package every runs a function at a fixed interval until its context ends:
// the ticker loop of the gateway's background parts (saving the held hubs,
// the store's health monitor and retention, the stats line), written once.
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
