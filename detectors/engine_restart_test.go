package detectors

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

func eventMsg(hub devices.HubID, id devices.EventID, kind devices.EventKind, sensor devices.SensorID, at time.Time) *devices.Message {
	return &devices.Message{Hub: hub, Channel: devices.ChanEvents, Event: &devices.Event{
		Hub: hub, ID: id, Kind: kind, Sensor: sensor, At: at, Received: at}}
}

// byHub indexes detections by hub, failing on a second one for a hub.
func byHub(t *testing.T, got []Detection) map[devices.HubID]Detection {
	t.Helper()
	out := map[devices.HubID]Detection{}
	for _, d := range got {
		if _, dup := out[d.Hub]; dup {
			t.Errorf("%s: more than one detection: %+v", d.Hub, got)
		}
		out[d.Hub] = d
	}
	return out
}

func fact(d Detection, name string) (float64, bool) {
	for _, f := range d.Evidence.Facts {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

// TestEngineReemitsRestoredEpisodes: the first run's Sink stands for a
// dispatch that lost its in-memory queue in a crash after the engine's
// snapshot. On restart every open episode (firing SOS, firing fall, a fall
// inside its cancel window) is sent once more under its own fingerprint,
// an episode the resident cancelled is not, and the pending fall then
// fires exactly once when its window ends.
func TestEngineReemitsRestoredEpisodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, lost := &memEngineStore{}, &recorder{}
		e, stop := startEngine(t, store, lost)
		now := time.Now()
		e.Ingest(eventMsg("hub-sos", "s1", devices.EventSOS, "pendant", now))
		e.Ingest(fallEvent("hub-fall", now))
		e.Ingest(eventMsg("hub-cancelled", "s2", devices.EventSOS, "pendant", now))
		e.Ingest(eventMsg("hub-cancelled", "c1", devices.EventCancel, "pendant", now.Add(time.Second)))
		time.Sleep(31 * time.Second) // past the fall's cancel window
		e.Ingest(fallEvent("hub-pending", time.Now()))
		time.Sleep(6 * time.Second) // a periodic save has the pending window
		synctest.Wait()
		first := map[devices.HubID]string{}
		for _, d := range lost.take() {
			first[d.Hub] = d.Fingerprint
		}
		stop()

		sink := &recorder{}
		e, stop = startEngine(t, store, sink)
		defer stop()
		got := byHub(t, sink.take())
		for _, c := range []struct {
			hub   devices.HubID
			cause Cause
			state State
		}{
			{"hub-sos", CauseSOS, Firing},
			{"hub-fall", CauseFall, Firing},
			{"hub-pending", CauseFall, Pending},
		} {
			d, ok := got[c.hub]
			if !ok {
				t.Errorf("%s: open %s not re-sent", c.hub, c.cause)
				continue
			}
			if d.Cause != c.cause || d.State != c.state || d.Fingerprint != first[c.hub] || d.Fingerprint == "" {
				t.Errorf("%s: want %s %s under %q, got %s %s under %q", c.hub, c.state, c.cause, first[c.hub], d.State, d.Cause, d.Fingerprint)
			}
			if d.Explanation.Ko == "" || d.Explanation.En == "" || d.Priority == 0 || d.Class != ClassEmergency {
				t.Errorf("%s: incomplete re-sent detection %+v", c.hub, d)
			}
		}
		if d, ok := got["hub-cancelled"]; ok {
			t.Errorf("a cancelled episode was re-sent: %+v", d)
		}
		if left, ok := fact(got["hub-pending"], "window_left"); !ok || left < 20 || left > 25 {
			t.Errorf("pending fall: want about 24 s left in the window, got %v (%v)", left, ok)
		}
		if n := e.Stats().Reemitted; n != 3 {
			t.Errorf("Reemitted = %d, want 3", n)
		}

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		after := sink.take()
		if len(after) != 1 || after[0].Hub != "hub-pending" || after[0].State != Firing || after[0].Fingerprint != first["hub-pending"] {
			t.Fatalf("want only the pending fall firing once at its window's end, got %+v", after)
		}
	})
}

// TestEngineWindowEndedDuringDowntime: a fall whose cancel window ended
// while the gateway was down is not re-sent as pending (which would ask the
// resident again) but fires at the first tick, once.
func TestEngineWindowEndedDuringDowntime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, sink := &memEngineStore{}, &recorder{}
		e, stop := startEngine(t, store, sink)
		e.Ingest(fallEvent("hub-1", time.Now()))
		time.Sleep(6 * time.Second)
		got := sink.take()
		if len(got) != 1 || got[0].State != Pending {
			t.Fatalf("want a pending fall, got %+v", got)
		}
		fp := got[0].Fingerprint
		stop()
		time.Sleep(time.Minute) // the gateway is down
		_, stop = startEngine(t, store, sink)
		defer stop()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got = sink.take()
		if len(got) != 1 || got[0].State != Firing || got[0].Fingerprint != fp {
			t.Fatalf("want one firing fall under %s, got %+v", fp, got)
		}
	})
}

// syncBuffer is a log destination safe for the shard goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestEngineStartsPastCorruptSnapshot: one unreadable home among good ones
// is logged with its hub id, counted, and starts from scratch; the others
// are restored (their open SOS re-sent) and the engine runs.
func TestEngineStartsPastCorruptSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &memEngineStore{}
		e, stop := startEngine(t, store, &recorder{})
		now := time.Now()
		e.Ingest(eventMsg("hub-a", "s1", devices.EventSOS, "pendant", now))
		e.Ingest(eventMsg("hub-b", "s2", devices.EventSOS, "pendant", now))
		e.Ingest(eventMsg("hub-c", "s3", devices.EventSOS, "pendant", now))
		synctest.Wait()
		stop()
		store.homes["hub-b"] = store.homes["hub-b"][:30]

		var logs syncBuffer
		sink := &recorder{}
		e, err := NewEngine(EngineConfig{Sink: sink, Store: store, Shards: 2, Logger: zerolog.New(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		synctest.Wait()

		got := byHub(t, sink.take())
		for _, hub := range []devices.HubID{"hub-a", "hub-c"} {
			if d, ok := got[hub]; !ok || d.Cause != CauseSOS || d.State != Firing {
				t.Errorf("%s: want its SOS restored and re-sent, got %+v", hub, d)
			}
		}
		if d, ok := got["hub-b"]; ok {
			t.Errorf("hub-b's state was unreadable, yet got %+v", d)
		}
		if n := e.Stats().CorruptSnapshots; n != 1 {
			t.Errorf("CorruptSnapshots = %d, want 1", n)
		}
		if l := logs.String(); !strings.Contains(l, `"level":"error"`) || !strings.Contains(l, `"hub_id":"hub-b"`) {
			t.Errorf("want an error log naming hub-b, got:\n%s", l)
		}
		// hub-b starts from scratch: its next SOS is a new episode.
		later := time.Now().Add(time.Minute)
		e.Ingest(eventMsg("hub-b", "s4", devices.EventSOS, "pendant", later))
		synctest.Wait()
		if d := sink.take(); len(d) != 1 || d[0].Hub != "hub-b" || d[0].State != Firing || !d[0].Episode.Equal(later.Truncate(time.Millisecond).UTC()) {
			t.Errorf("want a new SOS episode for hub-b, got %+v", d)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if store.homes["hub-b"] == nil || decodeHome(&home{}, store.homes["hub-b"]) != nil {
			t.Error("hub-b's unreadable row was not overwritten at the next save")
		}
	})
}

// TestRestoreCorruptSnapshots: every kind of damage is refused by the
// decoder and skipped by restore, which keeps the good homes.
func TestRestoreCorruptSnapshots(t *testing.T) {
	good := manyTracksHome(3, 4)
	enc := encodeHome(good)
	coreEnd := 1 + binary.Size(&good.core)
	hugeCount := slices.Concat(enc[:coreEnd], binary.AppendUvarint(nil, 1<<40))
	badTrack := manyTracksHome(3, 4)
	badTrack.tracks[0].Sensor = 200
	badEpisode := manyTracksHome(3, 4)
	badEpisode.core.Eps[kFall].Sensor = 9
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{99}, enc[1:]...)},
		{"truncated core", enc[:coreEnd-1]},
		{"truncated sensors", enc[:coreEnd+5]},
		{"truncated tracks", enc[:len(enc)-1]},
		{"huge count", hugeCount},
		{"track of a missing sensor", encodeHome(badTrack)},
		{"episode of a missing sensor", encodeHome(badEpisode)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := decodeHome(&home{}, c.data); err == nil {
				t.Fatal("decoded")
			}
			e, err := NewEngine(EngineConfig{Sink: &recorder{}, Shards: 1, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			n := e.restore([]HomeSnapshot{{Hub: "good-1", Data: enc}, {Hub: "bad", Data: c.data}, {Hub: "good-2", Data: enc}})
			s := e.shards[0]
			if n != 1 || e.Stats().CorruptSnapshots != 1 {
				t.Errorf("want 1 corrupt, got %d (stats %d)", n, e.Stats().CorruptSnapshots)
			}
			if _, ok := s.index["bad"]; ok {
				t.Error("the unreadable home was kept")
			}
			for _, hub := range []devices.HubID{"good-1", "good-2"} {
				i, ok := s.index[hub]
				if !ok || s.homes.At(i).core != good.core || len(s.homes.At(i).tracks) != len(good.tracks) {
					t.Errorf("%s not restored", hub)
				}
			}
		})
	}
}

// manyTracksHome is a home with sensors sensors reporting metrics metrics
// each, with distinct values so that a misplaced byte shows.
func manyTracksHome(sensors, metrics int) *home {
	h := &home{}
	h.core.Clock, h.core.Offset, h.core.LastActivity = 1_767_225_600_000, -1234, 1_767_225_000_000
	h.core.Eps[kFall] = Episode{Start: 1_767_225_590_000, Deadline: 1_767_225_620_000, State: epPending, Prio: 2, Sensor: 1}
	h.core.Gap[7] = 95.5
	for s := range sensors {
		h.sensors = append(h.sensors, sensorInfo{name: h.own.Name(devices.SensorID(fmt.Sprintf("sensor-%03d", s))), loc: codeOf(devices.LocKitchen)})
		for m := range metrics {
			h.tracks = append(h.tracks, track{At: int64(s*1000 + m), Value: float32(s) + float32(m)/100,
				Base: float32(m), Quality: 0.9, Sensor: uint8(s), Metric: uint8(m%10 + 1)})
		}
	}
	return h
}

// encodeHomeV1 writes the version-1 format (single-byte counts), as
// gateways before version 2 saved it: a core of the kindsBeforeV4 episode
// kinds of the time, whatever kinds have been added since (h's episodes of
// later kinds are left out, and read back closed).
func encodeHomeV1(h *home) []byte {
	core, _ := binary.Append(nil, binary.LittleEndian, &h.core)
	endEps := epsOffset + int(numKinds)*episodeSize
	b := []byte{snapshotV1}
	b = append(b, core[:epsOffset+kindsBeforeV4*episodeSize]...)
	b = append(b, core[endEps:]...)
	b = append(b, byte(len(h.sensors)))
	for k, s := range h.sensors {
		id, loc := h.sensorID(k), s.loc.location()
		b = append(b, byte(len(id)))
		b = append(b, id...)
		b = append(b, byte(len(loc)))
		b = append(b, loc...)
	}
	b = append(b, byte(len(h.tracks)))
	b, _ = binary.Append(b, binary.LittleEndian, h.tracks)
	return b
}

func sameHome(t *testing.T, want, got *home) {
	t.Helper()
	if got.core != want.core {
		t.Error("core differs")
	}
	if len(got.sensors) != len(want.sensors) {
		t.Errorf("sensors differ: %d vs %d", len(got.sensors), len(want.sensors))
	} else {
		for k := range got.sensors {
			if got.sensorID(k) != want.sensorID(k) || got.sensors[k].loc != want.sensors[k].loc {
				t.Errorf("sensor %d: %s in %s, want %s in %s", k, got.sensorID(k), got.sensors[k].loc.location(),
					want.sensorID(k), want.sensors[k].loc.location())
			}
		}
	}
	if !slices.Equal(got.tracks, want.tracks) {
		t.Errorf("tracks differ: %d vs %d", len(got.tracks), len(want.tracks))
	}
}

// TestSnapshotManyTracks: more than 255 tracks (and an id longer than 255
// bytes) survive the round trip, which single-byte counts did not.
func TestSnapshotManyTracks(t *testing.T) {
	h := manyTracksHome(30, 10) // 300 tracks
	h.sensors[29].name = h.own.Name(devices.SensorID(strings.Repeat("x", 300)))
	var back home
	if err := decodeHome(&back, encodeHome(h)); err != nil {
		t.Fatal(err)
	}
	sameHome(t, h, &back)
	if len(back.tracks) != 300 {
		t.Fatalf("got %d tracks", len(back.tracks))
	}
}

// TestSnapshotReadsVersion1: snapshots saved before the varint counts are
// still restored.
func TestSnapshotReadsVersion1(t *testing.T) {
	h := manyTracksHome(6, 10)
	var back home
	if err := decodeHome(&back, encodeHomeV1(h)); err != nil {
		t.Fatal(err)
	}
	sameHome(t, h, &back)
}
