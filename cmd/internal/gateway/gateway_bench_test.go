package gateway

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// startInProcess runs a whole gateway on the given store config with an
// in-memory MQTT listener, and returns it with the listener.
func startInProcess(tb testing.TB, sc store.Config) (*Gateway, *broker.PipeListener) {
	tb.Helper()
	return startInProcessBroker(tb, sc, broker.Config{})
}

// startInProcessBroker is startInProcess with broker settings (rate limits).
func startInProcessBroker(tb testing.TB, sc store.Config, bc broker.Config) (*Gateway, *broker.PipeListener) {
	tb.Helper()
	pipe := broker.NewPipeListener()
	dataDir := sc.DataDir
	if dataDir == "" {
		dataDir = tb.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := NewTuned(ctx, Options{
		DataDir: dataDir, DatabaseURL: sc.DatabaseURL, MQTTAddr: broker.ListenerOff, Listener: pipe,
		AdminToken: "benchmark-admin-token-0123456789", HeartbeatTimeout: 10 * time.Minute, ShutdownTimeout: 20 * time.Second,
		Channels: ChannelOptions{FakeTwilio: true}, Broker: bc,
	}, Tuning{
		Store: func(c *store.Config) { c.EventWriters = sc.EventWriters },
	}, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for g.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("gateway not ready: %v", g.Ready(ctx))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g, pipe
}

// provisionHubs registers n hubs of one resident and returns their secrets.
func provisionHubs(tb testing.TB, g *Gateway, n int) map[devices.HubID]string {
	tb.Helper()
	ctx := context.Background()
	res, err := g.Store.Registry().CreateResident(ctx, devices.Resident{Name: "벤치마크", Language: "ko"})
	if err != nil {
		tb.Fatal(err)
	}
	secrets := make(map[devices.HubID]string, n)
	for i := range n {
		secret := devices.NewSecret()
		h, err := g.Store.Registry().CreateHub(ctx, devices.Hub{ID: devices.HubID(fmt.Sprintf("bench-%04d", i)), ResidentID: res.ID,
			SecretHash: devices.HashHubSecret(secret), InstalledAt: time.Now()})
		if err != nil {
			tb.Fatal(err)
		}
		secrets[h.ID] = secret
	}
	return secrets
}

// pahoHub connects a stock paho client as the hub over the in-memory listener.
func pahoHub(tb testing.TB, pipe *broker.PipeListener, hub devices.HubID, secret string) mqtt.Client {
	tb.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(hub)).SetUsername(string(hub)).SetPassword(secret).
		SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return pipe.Dial() })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect %s: %v", hub, tok.Error())
	}
	tb.Cleanup(func() { c.Disconnect(100) })
	return c
}

// BenchmarkEventPublishToPuback measures what a hub sees: an event published
// at QoS 1 until its PUBACK, which the gateway sends only once the event is
// durable (fsynced in SQLite, committed in PostgreSQL). 200 hubs publish
// evenly spaced so that the gateway takes `rate` events per second; one
// iteration is one event.
//
// Two mixes. mix=fleet is what a national fleet sends: ~1,000 events a
// second of door and motion events (activity, journaled and acknowledged
// exactly as emergencies are) with one SOS a second among them (about 155,000
// emergencies a year nationwide is one every 3-4 minutes; one a second is a
// bad day). mix=sos keeps every event an SOS: each one reaches dispatch and
// updates its home's incident, a write storm no fleet makes, kept to show
// what the emergency path costs when every event is one.
func BenchmarkEventPublishToPuback(b *testing.B) {
	backends := []struct {
		name    string
		cfg     func(testing.TB) store.Config
		writers int // Config.EventWriters; 0: the default
	}{{"sqlite", storetest.SQLite, 0}, {"postgres", storetest.Postgres, 0}, {"postgres/writers=2", storetest.Postgres, 2}}
	const hubs, rate = 200, 1000
	for _, be := range backends {
		for _, mix := range []string{"fleet", "sos"} {
			b.Run(fmt.Sprintf("backend=%s/mix=%s/hubs=%d/rate=%d", be.name, mix, hubs, rate), func(b *testing.B) {
				sc := be.cfg(b)
				sc.EventWriters = be.writers
				benchPuback(b, sc, mix, hubs, rate)
			})
		}
	}
}

// fleetKinds are the activity events of mix=fleet, in turn.
var fleetKinds = [...]devices.EventKind{devices.EventDoorOpen, devices.EventMotion, devices.EventDoorClose, devices.EventMotion}

// benchEvent is the k-th event of hub i (of hubs) in mix: for mix=fleet one
// in every 1,000 events of the whole fleet is an SOS.
func benchEvent(mix string, i, k, hubs int, at time.Time) devices.Event {
	id := devices.EventID(fmt.Sprintf("e-%d", k))
	if mix == "sos" || (k*hubs+i)%1000 == 999 {
		return devices.Event{ID: id, Kind: devices.EventSOS, Sensor: "pendant-1", At: at}
	}
	kind := fleetKinds[k%len(fleetKinds)]
	sensor := devices.SensorID("door-1")
	if kind == devices.EventMotion {
		sensor = "motion-1"
	}
	return devices.Event{ID: id, Kind: kind, Sensor: sensor, At: at}
}

func benchPuback(b *testing.B, sc store.Config, mix string, hubs, rate int) {
	// The collector set up as dolbomd sets it (a memory limit, GOGC 400):
	// with Go's default the small heap of a 200-hub gateway is collected
	// every 1.5 s, which is not what the deployed gateway does.
	oldPercent, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	memlimit.Set(sc.DatabaseURL == "")
	b.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })
	g, pipe := startInProcess(b, sc)
	secrets := provisionHubs(b, g, hubs)
	clients := make([]mqtt.Client, 0, hubs)
	ids := make([]devices.HubID, 0, hubs)
	for id, secret := range secrets {
		clients = append(clients, pahoHub(b, pipe, id, secret))
		ids = append(ids, id)
	}
	stored := func() float64 { return gatherCounter(b, g, "dolbom_store_rows_written_total", "kind", "events") }
	storedBefore := stored()
	checkpoints := serverCheckpoints(b, g, sc)
	checkpointsBefore := checkpoints()
	heldBefore := gatherHistogram(b, g, "dolbom_store_wal_checkpoint_held_seconds", "", "")
	stagesBefore := make(map[string]histogramSnapshot, len(journalStages))
	for _, st := range journalStages {
		stagesBefore[st] = gatherHistogram(b, g, "dolbom_store_event_stage_seconds", "stage", st)
	}
	perHub := max(1, b.N/hubs)
	interval := time.Second * time.Duration(hubs) / time.Duration(rate) // each hub's period
	latencies := make([][]time.Duration, hubs)
	var sosMax time.Duration
	var sosMu sync.Mutex
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range hubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			offset := interval * time.Duration(i) / time.Duration(hubs)
			topic := devices.Topic(ids[i], devices.ChanEvents)
			for k := range perHub {
				time.Sleep(time.Until(start.Add(offset + time.Duration(k)*interval)))
				now := time.Now()
				ev := benchEvent(mix, i, k, hubs, now)
				tok := clients[i].Publish(topic, 1, false, devices.EncodeEvent(ev))
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					b.Errorf("publish: %v", tok.Error())
					return
				}
				d := time.Since(now)
				latencies[i] = append(latencies[i], d)
				if ev.Kind == devices.EventSOS {
					sosMu.Lock()
					sosMax = max(sosMax, d)
					sosMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no events acknowledged")
	}
	// A refused event is acknowledged too (v3.1.1 has no negative PUBACK):
	// only stored events count.
	if n := stored() - storedBefore; int(n) != len(all) {
		b.Fatalf("%d events acknowledged, %d stored: the gateway refused some", len(all), int(n))
	}
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(sosMax.Microseconds())/1000, "sos_max_ms")
	b.ReportMetric(float64(len(all))/time.Since(start).Seconds(), "events/s")
	// A checkpoint of the server (PostgreSQL) or a WAL truncation (SQLite)
	// during the run is a suspect for its tail.
	b.ReportMetric(checkpoints()-checkpointsBefore, "checkpoints")
	if sc.DatabaseURL == "" {
		// The longest time SQLite's checkpoint loop held the writers back
		// (a bucket's upper bound).
		held := gatherHistogram(b, g, "dolbom_store_wal_checkpoint_held_seconds", "", "").minus(heldBefore)
		b.ReportMetric(held.quantile(1)*1000, "ckpt_held_max_ms")
	}
	// Where the store's part of the wait goes (bucket-interpolated, so
	// approximate): the rest of a PUBACK's time is the broker's and the
	// client's.
	for _, st := range journalStages {
		h := gatherHistogram(b, g, "dolbom_store_event_stage_seconds", "stage", st).minus(stagesBefore[st])
		b.ReportMetric(h.quantile(0.50)*1000, st+"_p50_ms")
		b.ReportMetric(h.quantile(0.99)*1000, st+"_p99_ms")
	}
	b.ReportMetric(0, "ns/op")
}

// serverCheckpoints returns a function counting the checkpoints that can
// stall commits: PostgreSQL's (timed or requested, of the whole server),
// SQLite's WAL truncations (the store's checkpoint loop holding the writers
// back while it truncates a WAL grown too large).
func serverCheckpoints(b *testing.B, g *Gateway, sc store.Config) func() float64 {
	if sc.DatabaseURL == "" {
		return func() float64 {
			return gatherCounter(b, g, "dolbom_store_wal_checkpoints_total", "result", "truncated")
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sc.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	return func() float64 {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return float64(n)
	}
}

// journalStages are the stages of dolbom_store_event_stage_seconds.
var journalStages = []string{"queue", "lock", "commit"}

// histogramSnapshot is one labelled histogram's cumulative bucket counts.
type histogramSnapshot struct {
	bounds []float64 // upper bounds, ascending
	counts []uint64  // cumulative, per bound
	total  uint64
}

// gatherHistogram reads one labelled histogram from the gateway's registry
// (empty if it has not been observed yet).
func gatherHistogram(tb testing.TB, g *Gateway, name, label, value string) histogramSnapshot {
	tb.Helper()
	var h histogramSnapshot
	m := gatherMetric(tb, g, name, label, value)
	if m == nil {
		return h
	}
	for _, bk := range m.GetHistogram().GetBucket() {
		h.bounds = append(h.bounds, bk.GetUpperBound())
		h.counts = append(h.counts, bk.GetCumulativeCount())
	}
	h.total = m.GetHistogram().GetSampleCount()
	return h
}

// minus is what was observed since before.
func (h histogramSnapshot) minus(before histogramSnapshot) histogramSnapshot {
	out := histogramSnapshot{bounds: h.bounds, counts: slices.Clone(h.counts), total: h.total - before.total}
	for i := range out.counts {
		if i < len(before.counts) {
			out.counts[i] -= before.counts[i]
		}
	}
	return out
}

// quantile interpolates linearly inside the bucket that holds it; past the
// last bound it returns that bound.
func (h histogramSnapshot) quantile(q float64) float64 {
	if h.total == 0 || len(h.bounds) == 0 {
		return 0
	}
	rank := q * float64(h.total)
	lower, below := 0.0, uint64(0)
	for i, c := range h.counts {
		if float64(c) >= rank {
			in := c - below
			if in == 0 {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = h.bounds[i], c
	}
	return h.bounds[len(h.bounds)-1]
}

// gatherCounter reads one labelled counter from the gateway's registry.
func gatherCounter(tb testing.TB, g *Gateway, name, label, value string) float64 {
	tb.Helper()
	if m := gatherMetric(tb, g, name, label, value); m != nil {
		return m.GetCounter().GetValue()
	}
	return 0 // a labelled counter appears once first counted
}

// gatherMetric finds one labelled metric (label "": an unlabelled one) in
// the gateway's registry, nil if it has not been observed yet.
func gatherMetric(tb testing.TB, g *Gateway, name, label, value string) *dto.Metric {
	tb.Helper()
	mfs, err := g.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m // an unlabelled metric
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m
				}
			}
		}
	}
	return nil
}
