package health

import (
	"context"
	"errors"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// In a cluster the monitor watches only the hubs this gateway owns, as the
// engine does (see detectors.Acquired): a hub is acquired when it connects
// here under a newer epoch or is adopted, and released when it moves.

// HubsOfLoader is the batched form of Store.LoadHubHealth for hubs acquired
// in a cluster: the saved records of hubs (those with none are left out),
// each with the epoch it was saved under.
type HubsOfLoader interface {
	LoadHubHealthOf(ctx context.Context, hubs []devices.HubID) ([]devices.HubHealthRecord, error)
}

// healthCtl is a cluster's control input to a shard.
type healthCtl = shard.Control[devices.HubHealthRecord]

// Acquire takes hubs this gateway adopted (or claimed) into their shards:
// each is loaded, its journal after the saved position (and Floor)
// replayed, then the inputs that came meanwhile applied. Its heartbeat
// deadline runs no earlier than RestartGrace from now: a hub that was slow
// to come back after its gateway died is not offline yet.
func (m *Monitor) Acquire(hubs []detectors.Acquired) {
	for _, a := range hubs {
		m.shardOf(a.Hub).put(m, op{kind: opControl, refresh: &registryEntry{ctl: &healthCtl{Acquire: &a}}})
	}
}

// Release lets hub go (it moved to another gateway): it leaves its shard
// unsaved, its deadline stops, and its session's disconnect here raises
// nothing.
func (m *Monitor) Release(hub devices.HubID) {
	m.shardOf(hub).put(m, op{kind: opControl, refresh: &registryEntry{ctl: &healthCtl{Release: hub}}})
}

// ReleaseStale lets go hubs whose detection or save was refused as stale,
// and counts them.
func (m *Monitor) ReleaseStale(hubs []devices.HubID) {
	for _, hub := range hubs {
		m.stats.staleReleased.Add(1)
		m.Release(hub)
	}
}

// ReleaseAll lets every hub go (the node lost its lease).
func (m *Monitor) ReleaseAll() {
	for _, s := range m.shards {
		s.put(m, op{kind: opControl, refresh: &registryEntry{ctl: &healthCtl{}}})
	}
}

func (m *Monitor) newLoader() *shard.Loader[devices.HubHealthRecord] {
	l := &shard.Loader[devices.HubHealthRecord]{
		Log:     m.log,
		HubOf:   func(r *devices.HubHealthRecord) devices.HubID { return r.Hub },
		Applied: func(r *devices.HubHealthRecord) int64 { return r.JournalApplied },
		Deliver: func(ctx context.Context, ld shard.Loaded[devices.HubHealthRecord]) {
			o := op{kind: opControl, refresh: &registryEntry{ctl: &healthCtl{Loaded: &ld}}}
			m.shardOf(ld.Hub).rt.Put(o, nil, ctx.Done(), &m.stats.queueWaits, &m.stats.dropped)
		},
		Load: func(ctx context.Context, hubs []devices.HubID) ([]devices.HubHealthRecord, error) {
			if st, ok := m.cfg.Store.(HubsOfLoader); ok {
				return st.LoadHubHealthOf(ctx, hubs)
			}
			return nil, nil // no saved health: every hub starts from scratch
		},
	}
	if r, ok := m.cfg.Journal.(detectors.HubsReplayer); ok {
		l.Replay = r.ReplayHubs
	}
	if f, ok := m.cfg.Fleet.(detectors.FleetOf); ok {
		l.Fleet = f.FleetOf
	}
	return l
}

// clusterCheck refuses a cluster's monitor whose store or journal cannot
// load by hub.
func (m *Monitor) clusterCheck() error {
	if _, ok := m.cfg.Store.(HubsOfLoader); m.cfg.Store != nil && !ok {
		return errors.New("detectors: a cluster's health store must load hubs by id (LoadHubHealthOf)")
	}
	if _, ok := m.cfg.Journal.(detectors.HubsReplayer); m.cfg.Journal != nil && !ok {
		return errors.New("detectors: a cluster's journal must replay by hub (ReplayHubs)")
	}
	if _, ok := m.cfg.Fleet.(detectors.FleetOf); m.cfg.Fleet != nil && !ok {
		return errors.New("detectors: a cluster's fleet must be read by hub (FleetOf)")
	}
	return nil
}

// holder makes the shard's side of the cluster (shard.Holder).
func (s *hubShard) holder() shard.Holder[op] {
	return shard.Holder[op]{
		Cluster: s.m.cfg.Cluster,
		HubOf:   func(o op) devices.HubID { return o.hub() },
		EpochOf: func(o op) devices.Epoch {
			switch {
			case o.kind == opConnection && o.conn.Connected:
				return o.conn.Epoch
			case o.kind == opMessage && o.msg.Event != nil:
				return o.msg.Event.Epoch
			}
			return 0
		},
		SeqOf: func(o op) int64 {
			if o.kind == opMessage && o.msg.Event != nil {
				return o.msg.Event.Seq
			}
			return 0
		},
		Discard: func(o op) {
			if o.kind == opMessage && o.msg.Readings != nil {
				o.msg.Readings.Release()
			}
		},
		Held: func(hub devices.HubID) (devices.Epoch, bool) {
			i, ok := s.index[hub]
			if !ok {
				return 0, false
			}
			return s.hubs.At(i).epoch, true
		},
		Drop:     s.drop,
		Request:  func(a detectors.Acquired) { s.m.loader.Request(a) }, // the loader is made after the shards
		Unowned:  &s.m.stats.unowned,
		Released: &s.m.stats.released,
		Overflow: &s.m.stats.parkOverflow,
	}
}

func (s *hubShard) control(c *healthCtl) { shard.Apply(&s.acq, c, s.applyLoad, s.rt.Apply, s.index) }

// applyLoad takes an acquired hub's load into the shard: its saved health
// (as at a restart: online since now if it was), what the registry says of
// it and its sensors (reporting intervals for supervision, end of life), its
// epoch and restart floor, its deadline, then its journal events beyond the saved position.
func (s *hubShard) applyLoad(ld *shard.Loaded[devices.HubHealthRecord]) {
	now := s.m.cfg.Clock.Now()
	if ld.Found {
		s.restore(&ld.Rec, now)
	}
	i := s.hubIndex(ld.Hub)
	switch {
	case ld.Registry != nil:
		s.hubs.At(i).flags |= fRegistered
		s.applyRegistry(i, ld.Registry.Hub, ld.Registry.Sensors, now)
		s.checkEndOfLife(s.hubs.At(i), now)
	case s.m.cfg.Fleet == nil:
		s.hubs.At(i).flags |= fRegistered // nothing to ask: watched as it comes
	default:
		s.hubs.At(i).flags |= fDisabled // removed from the registry: kept for the API, watched no more (as at start)
	}
	h := s.hubs.At(i)
	h.epoch, h.floorMs = ld.Epoch, now.Add(s.m.cfg.RestartGrace).UnixMilli()
	s.rearm(i)
	for _, ev := range ld.Events {
		s.rt.Apply(op{kind: opMessage, msg: &devices.Message{Hub: ev.Hub, Channel: devices.ChanEvents, Event: ev}})
	}
	s.m.stats.acquired.Add(1)
	s.m.log.Debug().Str("hub_id", string(ld.Hub)).Uint64("epoch", uint64(ld.Epoch)).Bool("adopted", ld.Adopted).
		Bool("saved", ld.Found).Int("replayed", len(ld.Events)).Msg("hub acquired")
}

// drop removes a held hub from the shard, unsaved: its timer is cancelled,
// its part of the gauges taken back, its index freed under a new
// generation.
func (s *hubShard) drop(hub devices.HubID) {
	i := s.index[hub]
	h := s.hubs.At(i)
	if s.wheel != nil {
		s.wheel.Cancel(h.timer)
	}
	s.setOnline(h, false)
	for f := range hubFaultCount {
		if h.has(f) {
			s.m.stats.faultsActive[causeIndex(hubFaultCauses[f])].Add(-1)
		}
	}
	for k := range h.sensors {
		for f := range sensorFaultCount {
			if h.sensors[k].has(f) {
				s.m.stats.faultsActive[causeIndex(sensorFaultCauses[f])].Add(-1)
			}
		}
	}
	s.dirty.Forget(i)
	delete(s.index, hub)
	*h = hubState{}
	s.slots.Free(i)
}
