package dispatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

type directoryFunc func(ctx context.Context, hub devices.HubID) (devices.Resident, error)

func (f directoryFunc) ResidentOfHub(ctx context.Context, hub devices.HubID) (devices.Resident, error) {
	return f(ctx, hub)
}

func TestResidentCache(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	reads, name := 0, "김영희"
	dir := directoryFunc(func(_ context.Context, hub devices.HubID) (devices.Resident, error) {
		reads++
		if hub == "hub-none" {
			return devices.Resident{}, fmt.Errorf("no resident: %w", devices.ErrNotFound)
		}
		return devices.Resident{Name: name}, nil
	})
	c := newResidentCache(dir, time.Minute, 2, func() time.Time { return now })
	get := func(hub devices.HubID) string {
		r, err := c.get(context.Background(), hub)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return "<none>"
		}
		return r.Name
	}
	steps := []struct {
		name      string
		do        func()
		hub       devices.HubID
		want      string
		wantReads int
	}{
		{"first read", nil, "hub-1", "김영희", 1},
		{"cached", func() { name = "이순자" }, "hub-1", "김영희", 1},
		{"invalidated hub", func() { c.invalidate([]devices.HubID{"hub-1"}) }, "hub-1", "이순자", 2},
		{"not found is cached", nil, "hub-none", "<none>", 3},
		{"not found cached", nil, "hub-none", "<none>", 3},
		{"expired", func() { name = "박철수"; now = now.Add(time.Minute) }, "hub-1", "박철수", 4},
		{"invalidate all", func() { name = "최영자"; c.invalidate(nil) }, "hub-1", "최영자", 5},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		if got := get(s.hub); got != s.want || reads != s.wantReads {
			t.Fatalf("%s: got %s after %d reads, want %s after %d", s.name, got, reads, s.want, s.wantReads)
		}
	}
	if len(c.entries) > 2 {
		t.Errorf("cache holds %d entries, bound 2", len(c.entries))
	}
}

// A look-up that started before an invalidation must not store what it
// read: it may predate the change.
func TestResidentCacheInvalidatedDuringLookup(t *testing.T) {
	var c *residentCache
	dir := directoryFunc(func(context.Context, devices.HubID) (devices.Resident, error) {
		c.invalidate(nil) // the registry changed while we were reading
		return devices.Resident{Name: "old"}, nil
	})
	c = newResidentCache(dir, time.Minute, 10, time.Now)
	if _, err := c.get(context.Background(), "hub-1"); err != nil {
		t.Fatal(err)
	}
	if len(c.entries) != 0 {
		t.Errorf("stale read cached: %+v", c.entries)
	}
}
