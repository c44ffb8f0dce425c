package shard

import (
	"strings"
	"sync"

	"github.com/dolbom/dolbom/devices"
)

// This file keeps per-home lists small. At national scale a home's state is
// paid 300,000 times, and two habits of the ordinary slice and string code
// added ~700 B per home of the simulator's 13-sensor homes (measured with
// dolbom-sim load --memprofile, docs/performance.md "Issue 14: memory per
// hub"): append doubling a list filled once and then kept for the home's
// lifetime, and a private copy of every sensor id in every home, twice
// (engine and health monitor). The same goes for the shards' tables of homes
// and hubs (Chunked, below). internal/memowner counts what this file
// allocates for the part that called it, so these helpers live here.

// maxSharedNames bounds sensorNames. Sensor ids are unique within a hub
// only (docs/protocol.md 6.2) and homes are installed with the same few
// names ("kitchen-smoke", "hub"), so a fleet needs a few dozen; a fleet
// whose hubs number their sensors fills the table and its ids past it are
// kept per home (OwnIDs), as before the table.
const maxSharedNames = 4096

// Name is a sensor id as a home (engine) or hub (health monitor)
// keeps it: two bytes and no pointer instead of a 16-byte string header,
// so that a home's sensor list is a few bytes per sensor that the collector
// never scans (issue 14). Below OwnName it is an index into the fleet's
// shared ids (sensorNames); from OwnName up, into the home's own ids.
type Name uint16

const OwnName Name = 1 << 15 // above maxSharedNames and the per-home sensor bounds

// sensorNames holds one copy of each sensor id, shared by every home of the
// engine and every hub of the health monitor. It is written only under its
// lock, before the name is handed out, and an entry never changes: a
// goroutine reads ids[n] only for an n it got from shareName (under the lock)
// or kept since, so readers need no lock (sharedID). It is consulted under
// the lock only when a home first sees a sensor.
var sensorNames = struct {
	sync.Mutex
	m   map[devices.SensorID]Name
	ids [maxSharedNames]devices.SensorID
}{m: make(map[devices.SensorID]Name)}

// shareName returns id's number in the shared table, adding a copy of it
// (no reference to the buffer id may point into, a decoded payload); false
// when the table is full.
func shareName(id devices.SensorID) (Name, bool) {
	sensorNames.Lock()
	defer sensorNames.Unlock()
	if n, ok := sensorNames.m[id]; ok {
		return n, true
	}
	n := Name(len(sensorNames.m))
	if int(n) >= maxSharedNames {
		return 0, false
	}
	sensorNames.ids[n] = devices.SensorID(strings.Clone(string(id)))
	sensorNames.m[sensorNames.ids[n]] = n
	return n, true
}

// OwnIDs are the ids of one home's sensors that found the shared table
// full (nil in an ordinary fleet). It names the home's sensors both ways.
// It only grows: the engine never forgets a sensor (at most
// maxEngineSensors), the health monitor forgets one only when the registry
// removes it, so a hub's list grows past its bound only by registry churn
// of thousands of ids on one hub (32,768 would wrap a Name).
type OwnIDs []devices.SensorID

// Name returns the name of id for this home, shared when it can be.
func (o *OwnIDs) Name(id devices.SensorID) Name {
	if n, ok := shareName(id); ok {
		return n
	}
	for k, x := range *o {
		if x == id {
			return OwnName + Name(k)
		}
	}
	*o = AppendTight(*o, devices.SensorID(strings.Clone(string(id))))
	return OwnName + Name(len(*o)-1)
}

// ID is the sensor id that n names.
func (o OwnIDs) ID(n Name) devices.SensorID {
	if n >= OwnName {
		return o[n-OwnName]
	}
	return sensorNames.ids[n]
}

// AppendTight appends v to a per-home list, growing its backing array by
// one element instead of doubling it. The lists (sensors, tracks) grow once,
// when a sensor is first seen, up to 64 elements, so the copies cost
// nothing that matters; doubling left up to half of each list unused for
// the life of the home (13 sensors in a capacity of 16, for instance).
func AppendTight[T any](s []T, v T) []T {
	if len(s) < cap(s) {
		return append(s, v)
	}
	out := make([]T, len(s)+1)
	copy(out, s)
	out[len(s)] = v
	return out
}

// Chunked holds a shard's per-home (or per-hub) records in fixed chunks
// instead of one slice grown by append (issue 14). A grown slice keeps up
// to a quarter of its capacity unused at large sizes (measured: the engine's
// 976-byte homes cost 1,157 B each at 20,000 homes) and copies every record
// while it grows, holding old and new arrays at once (tens of MB per shard
// at 300,000 homes); chunks leave at most one partly filled chunk per shard
// and never move a record, so a *home stays valid.
type Chunked[T any] struct {
	chunks [][]T
	n      int32
}

// chunkBits sizes a chunk: 256 records (~250 KB of engine homes, ~50 KB of
// monitored hubs), small beside a shard at national scale, and one shift
// and one mask per look-up.
const chunkBits = 8

// At returns record i (0 <= i < len).
func (c *Chunked[T]) At(i int32) *T {
	return &c.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// Len is the number of records.
func (c *Chunked[T]) Len() int32 { return c.n }

// Add appends v and returns its index.
func (c *Chunked[T]) Add(v T) int32 {
	if c.n&(1<<chunkBits-1) == 0 {
		c.chunks = append(c.chunks, make([]T, 0, 1<<chunkBits))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
	return c.n - 1
}
