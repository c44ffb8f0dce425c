package dispatch

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// residentCache keeps the resident of each hub that recently had an
// incident, so that a detection, its timers and its notifications do not
// read the registry (two queries and a decryption) every time, least of all
// inside the writer's transaction. Entries expire after ResidentTTL; the
// registry's owner calls InvalidateResidents when a resident or hub changes,
// so the TTL only bounds what a missed invalidation (another gateway's edit
// on a shared PostgreSQL) can leave stale.
type residentCache struct {
	dir Directory
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	// gen counts invalidations: a look-up that started before one does not
	// store what it read, which may predate the change.
	gen     uint64
	entries map[devices.HubID]cachedResident
}

type cachedResident struct {
	resident *devices.Resident // nil: no resident registered for the hub
	until    time.Time
}

func newResidentCache(dir Directory, ttl time.Duration, max int, now func() time.Time) *residentCache {
	return &residentCache{dir: dir, ttl: ttl, max: max, now: now, entries: make(map[devices.HubID]cachedResident)}
}

// get returns the resident of hub, from the cache while fresh. A look-up
// error other than "not found" is returned and not cached.
func (c *residentCache) get(ctx context.Context, hub devices.HubID) (*devices.Resident, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[hub]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.resident, nil
	}
	r, err := c.dir.ResidentOfHub(ctx, hub)
	var res *devices.Resident
	switch {
	case err == nil:
		res = &r
	case errors.Is(err, devices.ErrNotFound):
	default:
		return nil, err
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if c.gen == gen {
			if len(c.entries) >= c.max {
				c.evictLocked(now)
			}
			c.entries[hub] = cachedResident{resident: res, until: now.Add(c.ttl)}
		}
		c.mu.Unlock()
	}
	return res, nil
}

// evictLocked makes room: expired entries go first; if none had expired
// (a burst across many homes), the cache starts over, which costs one
// look-up per home and bounds the memory.
func (c *residentCache) evictLocked(now time.Time) {
	for hub, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, hub)
		}
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
}

func (c *residentCache) invalidate(hubs []devices.HubID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(hubs) == 0 {
		clear(c.entries)
		return
	}
	for _, h := range hubs {
		delete(c.entries, h)
	}
}

// InvalidateResidents drops the cached residents of hubs, or of every hub
// when called without arguments. Call it after a registry change that
// notifications must show at once: a hub created, moved to another
// resident or deleted (InvalidateResidents(hub)); a resident's record,
// guardians, consent or medical notes edited (InvalidateResidents(), since
// the cache is by hub). Without a call a change is seen within
// Config.ResidentTTL.
func (d *Dispatcher) InvalidateResidents(hubs ...devices.HubID) {
	if d.residents != nil {
		d.residents.invalidate(hubs)
	}
}

// lookupResident returns the resident of hub, nil when none is registered
// or the look-up failed: a failure is logged and the incident goes on
// without the resident, since 119 must still be told.
func (d *Dispatcher) lookupResident(hub devices.HubID) *devices.Resident {
	if d.residents == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := d.residents.get(ctx, hub)
	if err != nil {
		d.log.Error().Err(err).Str("hub_id", string(hub)).Msg("resident look-up failed")
		return nil
	}
	return r
}
