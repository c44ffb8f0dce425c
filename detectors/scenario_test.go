package detectors

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shard"
	"github.com/dolbom/dolbom/devices"
)

// Scenario files (testdata/scenarios/*.txt) drive the engine's shard
// directly, on one fake wall clock that equals the hubs' clock, one line at
// a time:
//
//	label fire nuisance                      group (fire, heart, breathing, inactivity, fall, sos) and truth (real, nuisance, normal)
//	sensor hub-1 kitchen-smoke kitchen       a sensor's location, as the registry says
//	at 0s hub-1 reading kitchen-smoke smoke 2.5 [q=0.9] [at=-10s]   a reading; at= is its own time (late input)
//	every 1s from 0s to 60s hub-1 reading radar heart_rate 32 q=0.9
//	at 0s hub-1 event sos [sensor] [value=3.1] [at=...]
//	at 5s hub-1 accel wearable-1 fall impact=4s peak=3.5   a chunk on which the fake tracker reports a fall
//	at 9s hub-1 accel wearable-1 getup impact=4s           ... reports the wearer got up
//	at 5s hub-1 accel wearable-1 fall impact=4s from=lying  ... a fall that started lying (out of bed)
//	at 9s hub-1 accel wearable-1 still|move                ... reports nothing
//	at 20s hub-1 offline | online                          the broker's connection events
//	at 60s tick                                            only time passes
//	at 60s expect firing fire_confirmed P1 [class=welfare] a detection since the previous expect matches
//	at 60s expect none | expect no fire_confirmed
//	at 70s restart                                         save every home, build a new engine, load
//
// Times are offsets from a fixed base (a Monday, 00:00 KST).

var update = flag.Bool("update", false, "rewrite testdata/confusion.md")

var scenarioBase = time.Date(2026, 1, 5, 0, 0, 0, 0, time.FixedZone("KST", 9*3600))

// fakeTracker reports what the scenario tells it to on the next chunk.
type fakeTracker struct{ next []FallFinding }

func (f *fakeTracker) Feed(*devices.AccelChunk) []FallFinding {
	out := f.next
	f.next = nil
	return out
}

type scenarioRun struct {
	t        *testing.T
	name     string
	group    string
	truth    string
	e        *Engine
	s        *engineShard
	got      []Detection // since the previous expect
	all      []Detection
	trackers map[string]*fakeTracker
	sensors  map[devices.HubID][]devices.Sensor
	wall     time.Time
	expected bool
	expectAt time.Time
}

func (sr *scenarioRun) build(snaps []HomeSnapshot) {
	e, err := NewEngine(EngineConfig{
		Sink:   SinkFunc(func(d Detection) { sr.got = append(sr.got, d); sr.all = append(sr.all, d) }),
		Shards: 1, Logger: zerolog.Nop(),
		NewFallTracker: func(hub devices.HubID, sensor devices.SensorID) FallTracker {
			k := string(hub) + "/" + string(sensor)
			if sr.trackers[k] == nil {
				sr.trackers[k] = &fakeTracker{}
			}
			return sr.trackers[k]
		},
	})
	if err != nil {
		sr.t.Fatal(err)
	}
	if n := e.restore(snaps); n != 0 {
		sr.t.Fatalf("%d snapshots unreadable", n)
	}
	sr.e, sr.s = e, e.shards[0]
	for hub, ss := range sr.sensors {
		sr.s.applySensors(sr.s.homes.At(sr.s.homeIndex(hub)), ss)
	}
	sr.s.startup(sr.wall)
}

func parseOffset(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// kv splits "key=value" options off the fields.
func kv(fields []string) ([]string, map[string]string) {
	opts := map[string]string{}
	var rest []string
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			opts[k] = v
		} else {
			rest = append(rest, f)
		}
	}
	return rest, opts
}

func (sr *scenarioRun) advance(to time.Time) {
	if to.Before(sr.wall) {
		sr.t.Fatalf("%s: time goes backwards", sr.name)
	}
	sr.wall = to
	sr.s.Tick(to)
}

func (sr *scenarioRun) line(no int, text string) {
	t := sr.t
	fail := func(format string, a ...any) { t.Fatalf("%s:%d: %s: %s", sr.name, no, text, fmt.Sprintf(format, a...)) }
	f := strings.Fields(text)
	switch f[0] {
	case "label":
		sr.group, sr.truth = f[1], f[2]
		return
	case "sensor":
		hub := devices.HubID(f[1])
		sr.sensors[hub] = append(sr.sensors[hub], devices.Sensor{Hub: hub, ID: devices.SensorID(f[2]), Location: devices.Location(f[3])})
		sr.s.applySensors(sr.s.homes.At(sr.s.homeIndex(hub)), sr.sensors[hub])
		return
	case "at":
	default:
		fail("unknown line")
	}
	off, err := parseOffset(f[1])
	if err != nil {
		fail("%v", err)
	}
	now := scenarioBase.Add(off)
	f = f[2:]
	if sr.expected && (f[0] != "expect" || !now.Equal(sr.expectAt)) {
		sr.got, sr.expected = nil, false // expects at one time share what came before them
	}
	sr.advance(now)
	switch f[0] {
	case "tick":
		return
	case "restart":
		snaps, _ := sr.s.collect(shard.EverySlot, 0)
		for i := range sr.s.homes.Len() { // homes saved earlier are unchanged since; save them all
			if !slices.ContainsFunc(snaps, func(x HomeSnapshot) bool { return x.Hub == sr.s.homes.At(i).id }) {
				snaps = append(snaps, HomeSnapshot{Hub: sr.s.homes.At(i).id, Data: encodeHome(sr.s.homes.At(i))})
			}
		}
		sr.build(snaps)
		return
	case "expect":
		sr.expect(fail, f[1:])
		return
	}
	hub := devices.HubID(f[0])
	rest, opts := kv(f[1:])
	at := now
	if v, ok := opts["at"]; ok {
		d, err := parseOffset(v)
		if err != nil {
			fail("%v", err)
		}
		at = scenarioBase.Add(d)
	}
	msg := &devices.Message{Hub: hub}
	switch rest[0] {
	case "reading":
		v, err := strconv.ParseFloat(rest[3], 64)
		if err != nil {
			fail("%v", err)
		}
		q := float32(-1)
		if s, ok := opts["q"]; ok {
			x, _ := strconv.ParseFloat(s, 32)
			q = float32(x)
		}
		msg.Channel = devices.ChanReadings
		msg.Readings = &devices.ReadingBatch{Hub: hub, SentAt: now, Received: now, Readings: []devices.Reading{
			{Sensor: devices.SensorID(rest[1]), Metric: devices.Metric(rest[2]), At: at, Value: v, Quality: q}}}
	case "event":
		ev := &devices.Event{Hub: hub, ID: devices.EventID(fmt.Sprintf("e%d-%s", no, off)), Kind: devices.EventKind(rest[1]), At: at, Received: now}
		if len(rest) > 2 {
			ev.Sensor = devices.SensorID(rest[2])
		}
		if s, ok := opts["value"]; ok {
			ev.Value, _ = strconv.ParseFloat(s, 64)
			ev.HasValue = true
		}
		msg.Channel = devices.ChanEvents
		msg.Event = ev
	case "accel":
		sensor := devices.SensorID(rest[1])
		k := string(hub) + "/" + string(sensor)
		if sr.trackers[k] == nil {
			sr.trackers[k] = &fakeTracker{}
		}
		impact := at
		if s, ok := opts["impact"]; ok {
			d, _ := parseOffset(s)
			impact = scenarioBase.Add(d)
		}
		peak, _ := strconv.ParseFloat(opts["peak"], 64)
		lying := opts["from"] == "lying"
		switch rest[2] {
		case "fall":
			sr.trackers[k].next = []FallFinding{{Impact: impact, Detected: now, PeakG: peak, FromLying: lying, Weak: opts["weak"] == "1"}}
		case "getup":
			sr.trackers[k].next = []FallFinding{{Impact: impact, Detected: now, PeakG: peak, Recovered: true, FromLying: lying}}
		}
		msg.Channel = devices.ChanAccel
		msg.Accel = accelChunk(hub, sensor, now.Add(-time.Second), rest[2] != "still")
	case "offline", "online":
		sr.s.Handle(engineOp{isConn: true, conn: devices.ConnectionEvent{Hub: hub, Connected: rest[0] == "online", At: now}})
		sr.s.finish(sr.s.homeIndex(hub))
		return
	default:
		fail("unknown input %q", rest[0])
	}
	sr.s.Handle(engineOp{msg: msg})
}

// accelChunk is one second at 200 Hz, at rest or with one swing.
func accelChunk(hub devices.HubID, sensor devices.SensorID, at time.Time, move bool) *devices.AccelChunk {
	c := &devices.AccelChunk{Hub: hub, Sensor: sensor, At: at, RateHz: 200,
		X: make([]float32, 200), Y: make([]float32, 200), Z: make([]float32, 200)}
	c.Received = c.SampleTime(199) // sent as soon as the last sample is taken
	for i := range c.X {
		c.Y[i] = 1
		if move && i > 100 && i < 110 {
			c.Y[i] = 2.5
		}
	}
	return c
}

func (sr *scenarioRun) expect(fail func(string, ...any), f []string) {
	got := sr.got
	sr.expected, sr.expectAt = true, sr.wall
	desc := func() string {
		var b strings.Builder
		for _, d := range got {
			fmt.Fprintf(&b, "\n  %s %s P%d %s %s (%s)", d.State, d.Cause, d.Priority, d.Class, d.Fingerprint, d.Explanation.En)
		}
		return b.String()
	}
	switch f[0] {
	case "none":
		if len(got) > 0 {
			fail("want no detection, got:%s", desc())
		}
		return
	case "no":
		for _, d := range got {
			if string(d.Cause) == f[1] {
				fail("want no %s, got:%s", f[1], desc())
			}
		}
		return
	}
	rest, opts := kv(f)
	state, cause := State(rest[0]), Cause(rest[1])
	prio := 0
	if len(rest) > 2 {
		prio, _ = strconv.Atoi(strings.TrimPrefix(rest[2], "P"))
	}
	for _, d := range got {
		if d.State == state && d.Cause == cause && (prio == 0 || int(d.Priority) == prio) &&
			(opts["class"] == "" || string(d.Class) == opts["class"]) {
			if d.Fingerprint == "" || d.Explanation.Ko == "" || d.Explanation.En == "" {
				fail("incomplete detection %+v", d)
			}
			return
		}
	}
	fail("want %s, got:%s", strings.Join(f, " "), desc())
}

func runScenario(t *testing.T, path string) *scenarioRun {
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sr := &scenarioRun{t: t, name: filepath.Base(path), trackers: map[string]*fakeTracker{},
		sensors: map[devices.HubID][]devices.Sensor{}, wall: scenarioBase}
	sr.build(nil)
	// Timed lines run in time order (stable), so that "every" lines may
	// interleave; label and sensor lines run first.
	type entry struct {
		at   time.Duration
		no   int
		text string
	}
	var timed []entry
	sc := bufio.NewScanner(file)
	expects := 0
	for no := 1; sc.Scan(); no++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.Index(text, "#"); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		if strings.Contains(text, " expect ") {
			expects++
		}
		f := strings.Fields(text)
		switch f[0] {
		case "at":
			d, err := parseOffset(f[1])
			if err != nil {
				t.Fatalf("%s:%d: %v", sr.name, no, err)
			}
			timed = append(timed, entry{d, no, text})
		case "every":
			step, err1 := parseOffset(f[1])
			from, err2 := parseOffset(f[3])
			to, err3 := parseOffset(f[5])
			if err1 != nil || err2 != nil || err3 != nil || step <= 0 || f[2] != "from" || f[4] != "to" {
				t.Fatalf("%s:%d: bad every line", sr.name, no)
			}
			for at := from; at <= to; at += step {
				timed = append(timed, entry{at, no, "at " + at.String() + " " + strings.Join(f[6:], " ")})
			}
		default:
			sr.line(no, text)
		}
	}
	slices.SortStableFunc(timed, func(a, b entry) int { return cmp.Compare(a.at, b.at) })
	for _, e := range timed {
		sr.line(e.no, e.text)
	}
	if expects == 0 || sr.group == "" {
		t.Fatalf("%s: a scenario needs a label and at least one expect", sr.name)
	}
	return sr
}

func scenarioFiles(t *testing.T) []string {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	return files
}

func TestScenarios(t *testing.T) {
	for _, path := range scenarioFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runScenario(t, path) })
	}
}

// groupCauses are the causes each scenario group is about; to119 those a
// Firing emergency of which goes to 119 without asking the resident first.
var groupCauses = map[string][]Cause{
	"fire":       {CauseFireConfirmed, CauseSmokeUnconfirmed, CauseCO, CauseGas},
	"heart":      {CauseBradycardia, CauseTachycardia, CauseAsystole},
	"breathing":  {CauseApnoea, CauseBreathingRate},
	"inactivity": {CauseInactivity},
	"fall":       {CauseFall, CauseFallRecovered},
	"sos":        {CauseSOS},
}

type confusionRow struct {
	real, realDetected, nuisance, nuisanceTo119, nuisanceAsked, normal, normalRaised int
}

// TestConfusion classifies every scenario by its label and what the engine
// emitted, and prints the per-group table (-update writes it for the docs).
func TestConfusion(t *testing.T) {
	rows := map[string]*confusionRow{}
	for _, path := range scenarioFiles(t) {
		sr := runScenario(t, path)
		row := rows[sr.group]
		if row == nil {
			row = &confusionRow{}
			rows[sr.group] = row
		}
		var firing, to119, asked bool
		for _, d := range sr.all {
			if !slices.Contains(groupCauses[sr.group], d.Cause) {
				continue
			}
			switch d.State {
			case Firing:
				firing = true
				if d.Class == ClassEmergency && d.Cause != CauseSmokeUnconfirmed {
					to119 = true
				}
			case Pending:
				asked = true
			}
		}
		switch sr.truth {
		case "real":
			row.real++
			if firing {
				row.realDetected++
			} else {
				t.Errorf("%s: real case not detected", sr.name)
			}
		case "nuisance":
			row.nuisance++
			if to119 {
				row.nuisanceTo119++
				t.Errorf("%s: nuisance sent to 119", sr.name)
			}
			if asked || firing {
				row.nuisanceAsked++
			}
		case "normal":
			row.normal++
			if firing {
				row.normalRaised++
			}
		default:
			t.Fatalf("%s: truth %q", sr.name, sr.truth)
		}
	}
	var b strings.Builder
	b.WriteString("| group | real cases | real detected | nuisance cases | nuisances sent to 119 | nuisances asking the resident | normal cases | normal cases raised |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, g := range []string{"fire", "heart", "breathing", "inactivity", "fall", "sos"} {
		r := rows[g]
		if r == nil {
			r = &confusionRow{}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", g, r.real, r.realDetected, r.nuisance, r.nuisanceTo119, r.nuisanceAsked, r.normal, r.normalRaised)
	}
	fmt.Print(b.String())
	if *update {
		if err := os.WriteFile("testdata/confusion.md", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
