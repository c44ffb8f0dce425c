package health

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// The hub messages both runtimes' tests send (shardtest).
var (
	heartbeat = shardtest.Heartbeat
	event     = shardtest.Event
	readings  = shardtest.Readings
)

// recorder is an in-memory Sink.
type recorder struct {
	mu  sync.Mutex
	got []detectors.Detection
}

func (r *recorder) Detect(d detectors.Detection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, d)
}

// take returns and forgets what was detected so far.
func (r *recorder) take() []detectors.Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// memStore is an in-memory Store.
type memStore struct {
	mu      sync.Mutex
	records map[devices.HubID]devices.HubHealthRecord
}

func (s *memStore) SaveHubHealth(_ context.Context, rs []devices.HubHealthRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records == nil {
		s.records = map[devices.HubID]devices.HubHealthRecord{}
	}
	for _, r := range rs {
		s.records[r.Hub] = r
	}
	return nil
}

func (s *memStore) LoadHubHealth(context.Context) ([]devices.HubHealthRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []devices.HubHealthRecord
	for _, r := range s.records {
		out = append(out, r)
	}
	return out, nil
}

// fleetOf is a registry of hubs, each with its sensors.
func fleetOf(hubs ...registryEntry) detectors.Fleet {
	return detectors.FleetFunc(func(_ context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
		for _, e := range hubs {
			if err := visit(e.hub, e.sensors); err != nil {
				return err
			}
		}
		return nil
	})
}

func sensor(hub devices.HubID, id devices.SensorID, kind devices.SensorKind, reportS int) devices.Sensor {
	return devices.Sensor{Hub: hub, ID: id, Kind: kind, Location: devices.LocKitchen, ReportSeconds: reportS}
}

// harness runs a monitor inside the current synctest bubble.
type harness struct {
	t    *testing.T
	m    *Monitor
	sink *recorder
	stop func()
}

// inMonitor runs test in a synctest bubble with a monitor of cfg started,
// and stops the monitor when test returns.
func inMonitor(t *testing.T, cfg Config, test func(t *testing.T, h *harness)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		h := startMonitor(t, cfg)
		defer h.stop()
		test(t, h)
	})
}

func startMonitor(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, sink: &recorder{}}
	if cfg.Sink == nil {
		cfg.Sink = h.sink
	}
	if cfg.Shards == 0 {
		cfg.Shards = 2
	}
	cfg.Logger = zerolog.Nop()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	synctest.Wait()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	return h
}

// alive lets d pass while hubs send a heartbeat every minute.
func (h *harness) alive(d time.Duration, hubs ...devices.HubID) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		for _, hub := range hubs {
			h.ingest(heartbeat(hub))
		}
		h.after(min(time.Minute, time.Until(end)))
	}
}

// after lets fake time pass and the shards catch up.
func (h *harness) after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (h *harness) ingest(m *devices.Message) {
	h.m.Ingest(m)
	synctest.Wait()
}

func (h *harness) connect(hub devices.HubID, connected bool, reason string) {
	h.m.Connection(devices.ConnectionEvent{Hub: hub, Connected: connected, At: time.Now(), Reason: reason})
	synctest.Wait()
}

// summary is a detection reduced to what the tests compare.
func summary(ds []detectors.Detection) []string {
	var out []string
	for _, d := range ds {
		s := fmt.Sprintf("%s %s", d.State, d.Cause)
		if d.Sensor != "" {
			s += " " + string(d.Sensor)
		}
		out = append(out, s)
	}
	return out
}

func expect(t *testing.T, when string, got []detectors.Detection, want ...string) {
	t.Helper()
	if g := summary(got); !slices.Equal(g, want) {
		t.Fatalf("%s: detections %q, want %q", when, g, want)
	}
	for _, d := range got {
		if d.Class != detectors.ClassDeviceHealth || d.Priority != detectors.PriorityLow {
			t.Fatalf("%s: %s has class %q priority %d, want device_health 4", when, d.Cause, d.Class, d.Priority)
		}
		if d.Explanation.Ko == "" || d.Explanation.En == "" {
			t.Fatalf("%s: %s has no explanation", when, d.Cause)
		}
	}
}

func TestHeartbeatDeadlineFiresOfflineOnce(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.connect("hub-1", true, "")
		h.ingest(heartbeat("hub-1"))
		lastSeen := time.Now()

		h.after(10*time.Minute - time.Second)
		expect(t, "before the deadline", h.sink.take())

		h.after(2 * time.Second)
		got := h.sink.take()
		expect(t, "at the deadline", got, "firing hub_offline")
		if want := detectors.Fingerprint("hub-1", detectors.CauseHubOffline, "", lastSeen); got[0].Fingerprint != want {
			t.Fatalf("fingerprint %q, want %q", got[0].Fingerprint, want)
		}
		if got[0].Explanation.En != "Hub offline, no heartbeat for 10 min" {
			t.Fatalf("explanation %q", got[0].Explanation.En)
		}
		if hh, ok := h.m.Health("hub-1"); !ok || hh.Online || !slices.Contains(hh.Faults, devices.FaultOffline) {
			t.Fatalf("Health = %+v %v, want offline with the fault", hh, ok)
		}

		h.after(time.Hour)
		expect(t, "an hour later", h.sink.take())

		h.ingest(heartbeat("hub-1"))
		h.after(2 * time.Minute)
		back := h.sink.take()
		expect(t, "back", back, "resolved hub_offline")
		if back[0].Fingerprint != got[0].Fingerprint {
			t.Fatalf("resolved fingerprint %q, firing was %q", back[0].Fingerprint, got[0].Fingerprint)
		}
	})
}

func TestAnnouncedHeartbeatInterval(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		now := time.Now()
		h.ingest(&devices.Message{Hub: "hub-1", Channel: devices.ChanStatus, Status: &devices.Status{
			Hub: "hub-1", State: devices.HubOnline, At: now, Received: now, HeartbeatInterval: time.Minute}})
		h.after(2*time.Minute + 29*time.Second)
		expect(t, "within 2.5 intervals", h.sink.take())
		h.after(2 * time.Second)
		expect(t, "after 2.5 intervals", h.sink.take(), "firing hub_offline")
	})
}

func TestDisconnects(t *testing.T) {
	type step struct {
		at        time.Duration // since the first connect
		connected bool
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"reconnect within grace fires nothing",
			[]step{{0, true}, {30 * time.Second, false}, {80 * time.Second, true}}, nil},
		{"disconnect past grace fires once",
			[]step{{0, true}, {30 * time.Second, false}}, []string{"firing hub_offline"}},
		{"flapping within grace fires nothing",
			[]step{{0, true}, {10 * time.Second, false}, {20 * time.Second, true}, {30 * time.Second, false},
				{40 * time.Second, true}, {50 * time.Second, false}, {60 * time.Second, true}}, nil},
		{"flapping link is one episode",
			[]step{{0, true}, {10 * time.Second, false}, {2 * time.Minute, true}, {2*time.Minute + 20*time.Second, false},
				{4 * time.Minute, true}, {4*time.Minute + 30*time.Second, false}, {6 * time.Minute, true}},
			[]string{"firing hub_offline", "resolved hub_offline"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inMonitor(t, Config{}, func(t *testing.T, h *harness) {
				start := time.Now()
				for _, s := range tt.steps {
					h.after(start.Add(s.at).Sub(time.Now()))
					h.connect("hub-1", s.connected, "lost")
				}
				h.after(5 * time.Minute)
				got := h.sink.take()
				expect(t, "after the steps", got, tt.want...)
				if len(got) == 2 && got[0].Fingerprint != got[1].Fingerprint {
					t.Fatalf("firing %q and resolved %q differ", got[0].Fingerprint, got[1].Fingerprint)
				}
			})
		})
	}
}

func TestLastWill(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		will := func() *devices.Message {
			return &devices.Message{Hub: "hub-1", Channel: devices.ChanStatus,
				Status: &devices.Status{Hub: "hub-1", State: devices.HubOffline, Received: time.Now()}}
		}
		h.ingest(heartbeat("hub-1"))
		h.ingest(will())
		h.after(61 * time.Second)
		expect(t, "last will", h.sink.take(), "firing hub_offline")

		// A stale will from an old session while the broker says the hub is
		// connected changes nothing.
		h.connect("hub-1", true, "")
		h.after(2 * time.Minute)
		expect(t, "reconnected", h.sink.take(), "resolved hub_offline")
		h.ingest(will())
		h.after(2 * time.Minute)
		expect(t, "stale will", h.sink.take())
	})
}

func TestPower(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.connect("hub-1", true, "")
		lostAt := time.Now()
		h.ingest(event("hub-1", devices.EventPowerLost, "", lostAt))
		got := h.sink.take()
		expect(t, "power lost", got, "firing power_lost")

		// A store-and-forwarded restore older than the loss is ignored.
		h.ingest(event("hub-1", devices.EventPowerRestored, "", lostAt.Add(-time.Minute)))
		expect(t, "late restore", h.sink.take())
		h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "hub", Metric: devices.MetricMains, Value: 0}))
		expect(t, "mains 0 again", h.sink.take())

		h.alive(20*time.Minute, "hub-1")
		h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "hub", Metric: devices.MetricMains, Value: 1}))
		back := h.sink.take()
		expect(t, "mains 1", back, "resolved power_lost")
		if back[0].Fingerprint != got[0].Fingerprint || back[0].Explanation.En != "Mains power restored after 20 min" {
			t.Fatalf("resolved %+v, firing %+v", back[0], got[0])
		}
		if hh, _ := h.m.Health("hub-1"); !hh.PowerKnown || !hh.OnMains {
			t.Fatalf("Health power known %v on mains %v", hh.PowerKnown, hh.OnMains)
		}
	})
}

func TestBatteryHysteresis(t *testing.T) {
	tests := []struct {
		name   string
		sensor devices.SensorID // "hub" is the hub's own battery
		levels []float64
		want   []string
	}{
		{"sensor low then ok", "door-1", []float64{50, 19, 18, 22, 24.9, 25}, []string{"firing battery_low door-1", "resolved battery_low door-1"}},
		{"no resolve inside the band", "door-1", []float64{19.5, 21, 24, 23, 19}, []string{"firing battery_low door-1"}},
		{"never low", "door-1", []float64{100, 20, 21, 80}, nil},
		{"hub battery is a hub fault", "hub", []float64{15, 30}, []string{"firing battery_low", "resolved battery_low"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := startMonitor(t, Config{Fleet: fleetOf(registryEntry{
					hub:     devices.Hub{ID: "hub-1"},
					sensors: []devices.Sensor{sensor("hub-1", "hub", devices.SensorHub, 0), sensor("hub-1", "door-1", devices.SensorDoor, 0)},
				})})
				defer h.stop()
				for _, v := range tt.levels {
					h.ingest(readings("hub-1", 0, devices.Reading{Sensor: tt.sensor, Metric: devices.MetricBattery, Value: v}))
					h.after(time.Minute)
				}
				expect(t, "levels", h.sink.take(), tt.want...)
			})
		})
	}
}

func TestBatteryLowEvent(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.ingest(event("hub-1", devices.EventBatteryLow, "smoke-1", time.Now()))
		h.ingest(event("hub-1", devices.EventBatteryLow, "smoke-1", time.Now()))
		expect(t, "two low events", h.sink.take(), "firing battery_low smoke-1")
		h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "smoke-1", Metric: devices.MetricBattery, Value: 95}))
		expect(t, "battery replaced", h.sink.take(), "resolved battery_low smoke-1")
	})
}

func TestSensorSupervision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startMonitor(t, Config{Fleet: fleetOf(registryEntry{
			hub: devices.Hub{ID: "hub-1"},
			sensors: []devices.Sensor{
				sensor("hub-1", "motion-1", devices.SensorMotion, 60),
				sensor("hub-1", "smoke-1", devices.SensorSmoke, 600), // window 30 min
				sensor("hub-1", "door-1", devices.SensorDoor, 60),    // silent
			},
		})})
		defer h.stop()
		h.connect("hub-1", true, "")
		for range 8 { // motion-1 and a heartbeat every minute; the others nothing
			h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "motion-1", Metric: devices.MetricMotion, Value: 1}))
			h.after(time.Minute)
		}
		got := h.sink.take()
		expect(t, "8 min", got, "firing sensor_silent door-1")
		if got[0].Explanation.En != "Sensor door-1 silent, no report for 5 min (reports every 1 min)" {
			t.Fatalf("explanation %q", got[0].Explanation.En)
		}
		h.ingest(event("hub-1", devices.EventDoorOpen, "door-1", time.Now()))
		expect(t, "door reports", h.sink.take(), "resolved sensor_silent door-1")
		if hh, _ := h.m.Health("hub-1"); len(hh.Sensors) != 3 {
			t.Fatalf("Health sensors %+v", hh.Sensors)
		}
	})
}

func TestSensorsOfAnOfflineHubAreNotSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startMonitor(t, Config{Fleet: fleetOf(registryEntry{
			hub:     devices.Hub{ID: "hub-1"},
			sensors: []devices.Sensor{sensor("hub-1", "motion-1", devices.SensorMotion, 60)},
		})})
		defer h.stop()
		h.connect("hub-1", true, "")
		h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "motion-1", Metric: devices.MetricMotion, Value: 1}))
		h.connect("hub-1", false, "lost")
		h.after(time.Hour)
		expect(t, "hub offline for an hour", h.sink.take(), "firing hub_offline")
	})
}

func TestSensorFault(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.ingest(event("hub-1", devices.EventTamper, "door-1", time.Now()))
		h.ingest(event("hub-1", devices.EventSensorFault, "door-1", time.Now()))
		expect(t, "tamper and fault", h.sink.take(), "firing sensor_fault door-1")
		for range 3 {
			h.alive(10*time.Minute, "hub-1")
			h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "door-1", Metric: devices.MetricDoor, Value: 0}))
		}
		expect(t, "30 min of normal readings", h.sink.take(), "resolved sensor_fault door-1")
	})
}

func TestEndOfLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		h := startMonitor(t, Config{Fleet: fleetOf(
			registryEntry{hub: devices.Hub{ID: "old-hub", EndOfLife: now.Add(-24 * time.Hour)}},
			registryEntry{hub: devices.Hub{ID: "hub-2", EndOfLife: now.Add(30 * time.Hour)}},
			registryEntry{hub: devices.Hub{ID: "new-hub", EndOfLife: now.AddDate(5, 0, 0)}},
		)})
		defer h.stop()
		got := h.sink.take()
		expect(t, "at start", got, "firing end_of_life")
		if got[0].Hub != "old-hub" {
			t.Fatalf("end of life for %s", got[0].Hub)
		}
		h.after(47 * time.Hour)
		expect(t, "first daily check after its end of life is at 48 h", h.sink.take())
		h.after(time.Hour + time.Second)
		expect(t, "48 h", h.sink.take(), "firing end_of_life")

		h.m.Refresh(devices.Hub{ID: "hub-2", EndOfLife: now.AddDate(1, 0, 0)}, nil)
		synctest.Wait()
		expect(t, "end of life extended", h.sink.take(), "resolved end_of_life")
	})
}

func TestClockSkew(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		steps := []struct {
			skew time.Duration
			want []string
		}{
			{10 * time.Second, nil},
			{3 * time.Minute, []string{"firing clock_skew"}},
			{-5 * time.Minute, nil},
			{90 * time.Second, nil}, // within tolerance, not yet within half of it
			{-2 * time.Second, []string{"resolved clock_skew"}},
			{-2*time.Minute - time.Second, []string{"firing clock_skew"}},
		}
		for _, s := range steps {
			h.ingest(readings("hub-1", s.skew, devices.Reading{Sensor: "t", Metric: devices.MetricTemperature, Value: 21}))
			expect(t, fmt.Sprintf("skew %s", s.skew), h.sink.take(), s.want...)
			h.after(time.Minute)
		}
		if hh, _ := h.m.Health("hub-1"); hh.ClockSkewMillis != (-2*time.Minute - time.Second).Milliseconds() {
			t.Fatalf("Health clock skew %d ms", hh.ClockSkewMillis)
		}
	})
}

func TestRestartKeepsOpenFaults(t *testing.T) {
	store := &memStore{}
	fleet := fleetOf(
		registryEntry{hub: devices.Hub{ID: "hub-1"}},
		registryEntry{hub: devices.Hub{ID: "hub-2"}},
		registryEntry{hub: devices.Hub{ID: "hub-3"}},
	)
	var firing []detectors.Detection
	inMonitor(t, Config{Store: store, Fleet: fleet}, func(t *testing.T, h *harness) {
		h.ingest(heartbeat("hub-1")) // will go offline
		h.ingest(event("hub-2", devices.EventPowerLost, "", time.Now()))
		h.alive(11*time.Minute, "hub-2", "hub-3") // hub-3 healthy until the restart
		firing = h.sink.take()
		expect(t, "before the restart", firing, "firing power_lost", "firing hub_offline")
		h.stop()
	})
	if len(store.records) != 3 {
		t.Fatalf("saved %d records, want 3", len(store.records))
	}
	synctest.Test(t, func(t *testing.T) {
		// Every bubble starts at the same fake instant: let the gateway's
		// downtime pass first, long enough for hub-3's saved deadline.
		time.Sleep(30 * time.Minute)
		h := startMonitor(t, Config{Store: store, Fleet: fleet})
		defer h.stop()
		h.connect("hub-2", true, "")
		h.after(time.Minute)
		expect(t, "after the restart", h.sink.take())

		// hub-3 never comes back: it fires once the restart grace is over,
		// not at once although its saved deadline passed while we were down.
		h.after(2 * time.Minute)
		expect(t, "restart grace over", h.sink.take(), "firing hub_offline")

		h.connect("hub-1", true, "")
		h.ingest(event("hub-2", devices.EventPowerRestored, "", time.Now()))
		h.after(2 * time.Minute)
		resolved := h.sink.take()
		expect(t, "faults end", resolved, "resolved power_lost", "resolved hub_offline")
		for i := range resolved {
			if resolved[i].Fingerprint != firing[i].Fingerprint {
				t.Fatalf("resolved %q, fired before the restart as %q", resolved[i].Fingerprint, firing[i].Fingerprint)
			}
		}
	})
}

func TestQueueBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var mu sync.Mutex
		var got []detectors.Detection
		sink := detectors.SinkFunc(func(d detectors.Detection) {
			<-gate // dispatch is stuck
			mu.Lock()
			got = append(got, d)
			mu.Unlock()
		})
		h := startMonitor(t, Config{Sink: sink, Shards: 1, QueueSize: 4})
		defer h.stop()

		const hubs = 20
		sent := make(chan struct{})
		go func() {
			for i := range hubs {
				h.m.Ingest(event(devices.HubID(fmt.Sprintf("hub-%d", i)), devices.EventPowerLost, "", time.Now()))
			}
			close(sent)
		}()
		synctest.Wait() // the producer is blocked on the full queue, not dropping
		select {
		case <-sent:
			t.Fatal("all messages queued although the shard is stuck")
		default:
		}
		if st := h.m.Stats(); st.QueueWaits == 0 {
			t.Fatalf("stats %+v: no wait counted", st)
		}
		close(gate)
		<-sent
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != hubs {
			t.Fatalf("%d detections, want %d: messages were lost", len(got), hubs)
		}
		if st := h.m.Stats(); st.Dropped != 0 {
			t.Fatalf("dropped %d", st.Dropped)
		}
	})
}

func TestHealthQuery(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		if _, ok := h.m.Health("nobody"); ok {
			t.Fatal("unknown hub reported")
		}
		h.connect("hub-1", true, "")
		h.ingest(readings("hub-1", 0, devices.Reading{Sensor: "hub", Metric: devices.MetricBattery, Value: 77}))
		hh, ok := h.m.Health("hub-1")
		if !ok || !hh.Online || hh.LastSeen.IsZero() || hh.Faults == nil || len(hh.Sensors) != 1 || hh.Sensors[0].Battery != 77 {
			t.Fatalf("Health = %+v %v", hh, ok)
		}
		if st := h.m.Stats(); st.HubsOnline != 1 {
			t.Fatalf("hubs online %d", st.HubsOnline)
		}
	})
}

func TestDisabledHubResolvesItsFaults(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.ingest(event("hub-1", devices.EventPowerLost, "", time.Now()))
		h.m.Refresh(devices.Hub{ID: "hub-1", Disabled: true}, nil)
		synctest.Wait()
		expect(t, "disabled", h.sink.take(), "firing power_lost", "resolved power_lost")
		h.after(time.Hour)
		expect(t, "an hour later", h.sink.take())
	})
}

// A batch the broker read before the hub's connection dropped can reach the
// monitor after the disconnect (the broker's workers and its disconnect
// report run side by side): it is not a sign of life, so the hub still goes
// offline after the grace.
func TestMessageReadBeforeDisconnectIsNotASignOfLife(t *testing.T) {
	inMonitor(t, Config{}, func(t *testing.T, h *harness) {
		h.connect("hub-1", true, "")
		h.after(10 * time.Second)
		late := readings("hub-1", 0, devices.Reading{Sensor: "temp-1", Metric: devices.MetricTemperature, Value: 21})
		h.after(time.Second)
		h.connect("hub-1", false, "lost")
		h.ingest(late) // read 1 s before the disconnect, handed on after it
		h.after(5 * time.Minute)
		expect(t, "after the disconnect", h.sink.take(), "firing hub_offline")
	})
}
