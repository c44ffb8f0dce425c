package detectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// In a cluster each gateway watches only the homes it owns (docs/cluster.md,
// "How a node watches only what it owns"). A home is acquired when its hub
// connects here under a newer epoch (ConnectionEvent.Epoch, or an event's) or
// when this node adopts it (Acquire); it is released when it moves away
// (Release) or when the store refuses one of its writes as stale. The single
// gateway's start is the same acquisition for every home at epoch 0, done in
// bulk (Run, loadEarly).

// Acquired is a home this gateway now owns, from a claim or an adoption.
type Acquired = shard.Acquire

// StaleHubs returns the homes err refused as stale, if it is (or wraps) a
// *StaleError: the save loops of the engine and the health monitor let
// them go.
func StaleHubs(err error) ([]devices.HubID, bool) {
	var st *StaleError
	if errors.As(err, &st) {
		return st.Hubs, true
	}
	return nil, false
}

// HomesOfLoader is the batched form of EngineStore.LoadHome, for homes
// acquired in a cluster: the saved snapshots of hubs (those with none are
// left out), each with the epoch it was saved under.
type HomesOfLoader interface {
	LoadHomesOf(ctx context.Context, hubs []devices.HubID) ([]HomeSnapshot, error)
}

// HubsReplayer is the batched form of Journal.ReplayEvents for acquired
// homes: the events of each hub after its position (and after the floor the
// store keeps for the hub, if any), in journal order, marked Replayed.
type HubsReplayer interface {
	ReplayHubs(ctx context.Context, after map[devices.HubID]int64, fn func(*devices.Event) error) error
}

// FleetOf is the batched form of Fleet for acquired homes: visit is called
// once for each registered hub of hubs, with its sensors.
type FleetOf interface {
	FleetOf(ctx context.Context, hubs []devices.HubID, visit func(devices.Hub, []devices.Sensor) error) error
}

// savedHome is an acquired home's snapshot, decoded by the loader (off the
// shard's goroutine) for its saved journal position.
type savedHome struct {
	hub     devices.HubID
	dec     home
	corrupt bool
}

// engineCtl is a cluster's control input to a shard.
type engineCtl = shard.Control[savedHome]

// Acquire takes homes this gateway adopted (or claimed) into their shards:
// each is loaded, its open episodes sent again, its journal after the saved
// position (and Floor) replayed, then the inputs that came meanwhile applied.
// Its deadlines run no earlier than RestartGrace from now, as after a
// restart: a hub still backing off before it reconnects is not offline.
func (e *Engine) Acquire(homes []Acquired) {
	for _, a := range homes {
		e.shardOf(a.Hub).put(engineOp{refresh: &registryEntry{ctl: &engineCtl{Acquire: &a}}})
	}
}

// Release lets hub's home go: it moved to another gateway. It leaves its
// shard unsaved, its deadline stops, and what comes for it afterwards (the
// disconnect of its session here) raises nothing.
func (e *Engine) Release(hub devices.HubID) {
	e.shardOf(hub).put(engineOp{refresh: &registryEntry{ctl: &engineCtl{Release: hub}}})
}

// ReleaseStale lets go homes whose detection or save was refused as stale
// (dispatch.ErrStaleEpoch, StaleError), and counts them.
func (e *Engine) ReleaseStale(hubs []devices.HubID) {
	for _, hub := range hubs {
		e.stats.staleReleased.Add(1)
		e.shardOf(hub).put(engineOp{refresh: &registryEntry{ctl: &engineCtl{Release: hub}}})
	}
}

// ReleaseAll lets every home go (the node lost its lease).
func (e *Engine) ReleaseAll() {
	for _, s := range e.shards {
		s.put(engineOp{refresh: &registryEntry{ctl: &engineCtl{}}})
	}
}

// newLoader builds the engine's loader of acquired homes.
func (e *Engine) newLoader() *shard.Loader[savedHome] {
	l := &shard.Loader[savedHome]{
		Log:     e.log,
		HubOf:   func(r *savedHome) devices.HubID { return r.hub },
		Applied: func(r *savedHome) int64 { return r.dec.applied },
		Deliver: func(ctx context.Context, ld shard.Loaded[savedHome]) {
			o := engineOp{refresh: &registryEntry{ctl: &engineCtl{Loaded: &ld}}}
			e.shardOf(ld.Hub).rt.Put(o, nil, ctx.Done(), &e.stats.queueWaits, &e.stats.dropped)
		},
		Load: func(ctx context.Context, hubs []devices.HubID) ([]savedHome, error) {
			st, ok := e.cfg.Store.(HomesOfLoader)
			if !ok {
				return nil, nil // no saved state: every home starts from scratch
			}
			snaps, err := st.LoadHomesOf(ctx, hubs)
			if err != nil {
				return nil, err
			}
			out := make([]savedHome, len(snaps))
			for k, sn := range snaps {
				out[k] = savedHome{hub: sn.Hub}
				if err := decodeHome(&out[k].dec, sn.Data); err != nil {
					out[k].corrupt = true
					e.log.Error().Err(err).Str("hub_id", string(sn.Hub)).Msg("engine snapshot unreadable; the acquired home starts from scratch")
				}
			}
			return out, nil
		},
	}
	if r, ok := e.cfg.Journal.(HubsReplayer); ok {
		l.Replay = r.ReplayHubs
	}
	if f, ok := e.cfg.Fleet.(FleetOf); ok {
		l.Fleet = f.FleetOf
	}
	return l
}

// holder makes the shard's side of the cluster (shard.Holder).
func (s *engineShard) holder() shard.Holder[engineOp] {
	return shard.Holder[engineOp]{
		Cluster: s.e.cfg.Cluster,
		HubOf:   func(o engineOp) devices.HubID { return o.hub() },
		EpochOf: func(o engineOp) devices.Epoch {
			switch {
			case o.isConn && o.conn.Connected:
				return o.conn.Epoch
			case o.msg != nil && o.msg.Event != nil:
				return o.msg.Event.Epoch
			}
			return 0
		},
		SeqOf: func(o engineOp) int64 {
			if o.msg != nil && o.msg.Event != nil {
				return o.msg.Event.Seq
			}
			return 0
		},
		Discard: func(o engineOp) {
			if o.msg != nil && o.msg.Readings != nil {
				o.msg.Readings.Release()
			}
		},
		Held: func(hub devices.HubID) (devices.Epoch, bool) {
			i, ok := s.index[hub]
			if !ok {
				return 0, false
			}
			return s.homes.At(i).epoch, true
		},
		Drop:     s.drop,
		Request:  func(a Acquired) { s.e.loader.Request(a) }, // the loader is made after the shards
		Unowned:  &s.e.stats.unowned,
		Released: &s.e.stats.released,
		Overflow: &s.e.stats.parkOverflow,
	}
}

// control applies a cluster's control input.
func (s *engineShard) control(c *engineCtl) { shard.Apply(&s.acq, c, s.applyLoad, s.rt.Apply, s.index) }

// applyLoad takes an acquired home's load into the shard (acquireHome).
func (s *engineShard) applyLoad(ld *shard.Loaded[savedHome]) {
	var dec *home
	if ld.Found && !ld.Rec.corrupt {
		dec = &ld.Rec.dec
	} else if ld.Found {
		s.e.stats.corruptSnapshots.Add(1)
	}
	events := make([]*devices.Message, len(ld.Events))
	for k, ev := range ld.Events {
		events[k] = &devices.Message{Hub: ev.Hub, Channel: devices.ChanEvents, Event: ev}
	}
	var sensors []devices.Sensor
	if ld.Registry != nil {
		sensors = ld.Registry.Sensors
	}
	s.acquireHome(ld.Hub, dec, sensors, ld.Epoch, s.wallNow+s.e.cfg.RestartGrace.Milliseconds(), events)
	s.e.stats.acquired.Add(1)
	s.e.log.Debug().Str("hub_id", string(ld.Hub)).Uint64("epoch", uint64(ld.Epoch)).Bool("adopted", ld.Adopted).
		Bool("saved", dec != nil).Int("replayed", len(events)).Msg("home acquired")
}

// acquireHome makes hub's home ready in the shard: its saved state (dec,
// nil for none or already restored), its sensors' locations (nil: known
// already), its epoch and restart floor (wall ms;
// 0: the shard's), its deadline armed, its restored open episodes sent
// again (the Sink folds them by fingerprint), then its journal events beyond
// the saved position applied. The single gateway's loadEarly and a
// cluster's acquisition both come here.
func (s *engineShard) acquireHome(hub devices.HubID, dec *home, sensors []devices.Sensor, epoch devices.Epoch, floorMs int64, replay []*devices.Message) {
	i := s.homeIndex(hub)
	h := s.homes.At(i)
	if dec != nil {
		h.takeSaved(dec)
	}
	s.applySensors(h, sensors)
	h.epoch, h.floorMs = epoch, floorMs
	if s.wheel != nil { // running: arm it as startup arms every home
		h.welfareMs = h.welfareLimit(&s.rc, h.core.LastActivity).Milliseconds()
		h.next = h.nextDeadline(s.floor(h))
		s.rearm(i)
	}
	s.reemitHome(h)
	for _, m := range replay {
		if m != nil {
			s.rt.Apply(engineOp{msg: m})
		}
	}
}

// drop removes a held home from the shard: its timer is cancelled, its save
// forgotten, its index freed under a new generation.
func (s *engineShard) drop(hub devices.HubID) {
	i := s.index[hub]
	h := s.homes.At(i)
	if s.wheel != nil {
		s.wheel.Cancel(h.timer)
	}
	s.dirty.Forget(i)
	delete(s.index, hub)
	*h = home{}
	s.slots.Free(i)
}

// clusterStart is Run's start in a cluster: no bulk load, no global replay
// or watermark; every shard starts empty and homes come by acquisition.
func (e *Engine) clusterStart(ctx context.Context, start time.Time) error {
	if e.cfg.Store != nil {
		if _, ok := e.cfg.Store.(HomesOfLoader); !ok {
			return fmt.Errorf("detectors: a cluster's engine store must load homes by hub (LoadHomesOf)")
		}
	}
	if e.cfg.Journal != nil {
		if _, ok := e.cfg.Journal.(HubsReplayer); !ok {
			return fmt.Errorf("detectors: a cluster's journal must replay by hub (ReplayHubs)")
		}
	}
	if e.cfg.Fleet != nil {
		if _, ok := e.cfg.Fleet.(FleetOf); !ok {
			return fmt.Errorf("detectors: a cluster's fleet must be read by hub (FleetOf)")
		}
	}
	close(e.replayed)
	for _, s := range e.shards {
		s.restores <- shardLoad{start: start}
	}
	return nil
}
