package main

// The kill test with real processes: SOS bursts from 1,000 hubs over
// TCP, dolbomd SIGKILLed at a random moment of each burst and restarted on
// the same data, the hubs resending what was not acknowledged. Every SOS a
// hub got a PUBACK for must have exactly one incident and one CAP Alert at
// the mock 119, whatever the moment of the kill.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

var (
	killSeed   = flag.Uint64("kill.seed", 0, "kill test: seed of the first round (round r uses seed+r); 0 draws one")
	killRounds = flag.Int("kill.rounds", 20, "kill test: rounds per back end (3 with -short)")
	killHubs   = flag.Int("kill.hubs", 1000, "kill test: hubs, each sending one SOS per round")
	killBurst  = flag.Duration("kill.burst", 4*time.Second, "kill test: the SOS of a round are spread over this long")
	killXSD    = flag.Bool("kill.xsd", false, "kill test: the mock 119 checks every message against the CAP schema (an xmllint run each)")
)

// TestSIGKILLDuringSOSBurstLosesAndDuplicatesNothing runs rounds against one
// gateway and its data (a fresh data folder or database per back end) and
// one fleet of hubs: the simulator's firmware over TCP, half on MQTT 3.1.1
// and half on MQTT 5, each keeping an event until its PUBACK and resending
// it with the same id after reconnecting (protocol sections 7.3 and 16).
//
// In each round every hub publishes one SOS at a random moment of the burst;
// dolbomd is SIGKILLed at a random moment of the burst and restarted at once
// on the same data. The round waits until every hub holds its PUBACK, has
// its incident and 119 has the incident's Alert, then checks that each
// hub has exactly one incident and 119 one Alert per incident. The round
// ends with every resident pressing cancel: the episode ends, so the next
// round's SOS opens a new incident.
//
// A failed round prints its seed; -kill.seed=<seed> -kill.rounds=1 replays
// its schedule (the kill moment and every hub's publish moment; the
// processes' own timing differs from run to run).
func TestSIGKILLDuringSOSBurstLosesAndDuplicatesNothing(t *testing.T) {
	rounds, hubs := *killRounds, *killHubs
	if testing.Short() {
		rounds = min(rounds, 3)
	}
	seed := *killSeed
	if seed == 0 {
		seed = rand.Uint64() >> 16 // short enough to type
	}
	t.Logf("seed %d: %d rounds of %d hubs, burst %s", seed, rounds, hubs, *killBurst)
	for name, database := range backends(t) {
		t.Run(name, func(t *testing.T) {
			runKillRounds(t, database(t), seed, rounds, hubs, *killBurst)
		})
	}
}

func runKillRounds(t *testing.T, database string, seed uint64, rounds, hubs int, burst time.Duration) {
	began := time.Now()
	mock := startMock119(t, *killXSD)
	g := startGateway(t, database, "--cap-url", mock.url+"/cap")
	fl := startKillFleet(t, g, hubs, seed)
	t.Logf("%d hubs provisioned and connected in %s", hubs, time.Since(began).Round(time.Millisecond))

	var lost, duplicated, unacked, ackedBefore, ackedAfter, failed int
	for r := range rounds {
		k := &killRound{t: t, g: g, mock: mock, fleet: fl, index: r, seed: seed + uint64(r), hubs: hubs, burst: burst}
		k.run()
		lost += len(k.lost)
		duplicated += len(k.duplicated)
		unacked += len(k.unacked)
		ackedBefore += k.ackedBeforeKill
		ackedAfter += k.acked - k.ackedBeforeKill
		if k.failed {
			failed++
		}
	}

	// The whole run. Late work of a round (an incident, an Alert) would
	// have been counted in the next one; here every incident is closed and
	// 119 has its Cancel, so nothing more is on its way, and each hub must
	// have exactly one incident per round.
	since := began.Add(-time.Second)
	var incs []killIncident
	_, err := poll("119 has the Cancel of every incident of the run", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		incs = g.sosIncidents(t, since, "")
		s := mock.stats(t)
		return s.ByType["Cancel"] >= len(incs), int64(s.ByType["Cancel"])
	})
	if err != nil {
		t.Error(err)
	}
	perHub := map[devices.HubID]int{}
	for _, inc := range incs {
		perHub[inc.Hub]++
	}
	var wrong []string
	for _, h := range fl.ids {
		if n := perHub[h]; n != rounds {
			wrong = append(wrong, fmt.Sprintf("%s: %d", h, n))
		}
	}
	s := mock.stats(t)
	t.Logf("%d rounds of %d hubs in %s: %d SOS acknowledged before the kill, %d after the restart, %d never; "+
		"lost %d, duplicated %d; 119 got %d Alerts, %d Updates, %d Cancels, %d resends recognised, %d invalid; %d rounds failed",
		rounds, hubs, time.Since(began).Round(time.Second), ackedBefore, ackedAfter, unacked, lost, duplicated,
		s.ByType["Alert"], s.ByType["Update"], s.ByType["Cancel"], s.Duplicates, s.Invalid, failed)
	if len(wrong) > 0 {
		t.Errorf("after every round: %d hubs do not have exactly %d SOS incidents (hub: incidents): %s", len(wrong), rounds, firstOf(wrong, 20))
	}
	if want := rounds * hubs; s.ByType["Alert"] != want || len(incs) != want || s.Invalid != 0 {
		t.Errorf("after every round: 119 has %d Alerts (%d invalid messages) for %d SOS incidents, want %d, one per SOS",
			s.ByType["Alert"], s.Invalid, len(incs), want)
	}
}

// killFleet is the hubs of the test, provisioned once and connected for
// every round.
type killFleet struct {
	ids     []devices.HubID
	hubs    []*firmwaresim.Hub
	fleets  []*firmwaresim.Fleet
	current atomic.Pointer[killRound] // told what the hubs see
}

// startKillFleet provisions hubs (a resident each) through the admin API and
// connects them.
func startKillFleet(t *testing.T, g *gatewayProcess, hubs int, seed uint64) *killFleet {
	fl := &killFleet{ids: make([]devices.HubID, hubs), hubs: make([]*firmwaresim.Hub, hubs)}
	secrets := make([]string, hubs)
	for i := range fl.ids {
		fl.ids[i] = devices.HubID(fmt.Sprintf("kill-%04d", i))
	}
	err := concurrently(hubs, func(i int) error {
		res := "res-" + string(fl.ids[i])
		err := g.post("/api/v1/residents", map[string]any{"id": res, "name": fmt.Sprintf("김순자 %d", i), "phone": "010-1234-5678",
			"address": map[string]any{"line1": "서울특별시 종로구 세종대로 175", "floor": "3", "unit": fmt.Sprint(100 + i),
				"lat": 37.5725, "lon": 126.9769}}, nil)
		if err != nil {
			return err
		}
		var hub struct {
			Secret string `json:"secret"`
		}
		if err := g.post("/api/v1/hubs", map[string]any{"id": fl.ids[i], "resident_id": res}, &hub); err != nil {
			return err
		}
		secrets[i] = hub.Secret
		return nil
	})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	now := time.Now()
	for v, version := range []byte{4, 5} {
		f := firmwaresim.NewFleet(firmwaresim.Options{
			Transport: &firmwaresim.TCPTransport{Addr: fmt.Sprintf("127.0.0.1:%d", g.mqttPort), Sources: firmwaresim.LoopbackSources(4)},
			Seed:      seed, Version: version, NoReadings: true,
			// Protocol section 17.1 allows 300 s; the rounds wait for the
			// hubs, so they come back within 2 s of a restart.
			MaxBackoff: 2 * time.Second, Observe: fl.observe, Logger: zerolog.Nop(),
		})
		fl.fleets = append(fl.fleets, f)
		for i := v; i < hubs; i += 2 {
			h := f.Add(fl.ids[i], secrets[i], uint32(i))
			// Only the test's events: none of the home's day (door, motion).
			h.Home.Silenced = []devices.SensorID{firmwaresim.SensorDoor, firmwaresim.SensorMotionBedroom}
			fl.hubs[i] = h
			f.Start(h, now)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range fl.fleets {
		wg.Go(func() { f.Run(ctx) })
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	waitFor(t, fmt.Sprintf("%d hubs online", hubs), 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		online, connects := fl.stats()
		return online == int64(hubs), connects
	}, nil)
	return fl
}

func (fl *killFleet) stats() (online, connects int64) {
	for _, f := range fl.fleets {
		s := f.Stats()
		online, connects = online+s.Online, connects+s.Connects
	}
	return online, connects
}

// observe is told what the hubs see (with the hub locked).
func (fl *killFleet) observe(e firmwaresim.HubEvent) {
	if k := fl.current.Load(); k != nil {
		k.observe(e)
	}
}

// killRound is one round: its schedule comes from its seed alone.
type killRound struct {
	t     *testing.T
	g     *gatewayProcess
	mock  *mock119
	fleet *killFleet
	index int
	seed  uint64
	hubs  int
	burst time.Duration

	sos, cancel devices.EventID // each hub's ids in this round
	offsets     []time.Duration // each hub's publish moment after t0
	killAt      time.Duration

	t0          time.Time
	published   []atomic.Int64 // ns after t0, +1 (0: not yet)
	ackedAt     []atomic.Int64 // ns after t0, +1 (0: not yet)
	ackedN      atomic.Int64
	cancelled   []atomic.Bool
	cancelledN  atomic.Int64
	refused     atomic.Int64 // PUBACK with a reason code >= 0x80 (MQTT 5)
	rejectMu    sync.Mutex
	rejects     []string
	killedAt    time.Duration // when the process was gone
	readyAt     time.Duration // when the restarted one was ready
	base, after mockStats

	failed                            bool
	acked, ackedBeforeKill            int
	lost, duplicated, unacked, others []string
}

// killIncident is what a round reads of an incident.
type killIncident struct {
	ID       string        `json:"id"`
	Hub      devices.HubID `json:"hub_id"`
	State    string        `json:"state"`
	Sent119  bool          `json:"sent_119"`
	OpenedAt time.Time     `json:"opened_at"`
}

func (k *killRound) logf(format string, args ...any) {
	k.t.Helper()
	k.t.Logf("round %d (seed %d): "+format, append([]any{k.index, k.seed}, args...)...)
}

func (k *killRound) errorf(format string, args ...any) {
	k.t.Helper()
	k.failed = true
	k.t.Errorf("round %d (seed %d, replay with -kill.seed=%d -kill.rounds=1), SIGKILL at +%s: "+format,
		append([]any{k.index, k.seed, k.seed, k.killAt.Round(time.Millisecond)}, args...)...)
}

func (k *killRound) plan() {
	rng := rand.New(rand.NewPCG(k.seed, 0x6b696c6c))
	k.killAt = time.Duration((0.05 + 0.9*rng.Float64()) * float64(k.burst))
	k.offsets = make([]time.Duration, k.hubs)
	for i := range k.offsets {
		k.offsets[i] = time.Duration(rng.Float64() * float64(k.burst))
	}
	// Unique per hub for ever (protocol section 7.2): a hub serves every
	// round of the run, and a run has its own gateway.
	k.sos = devices.EventID(fmt.Sprintf("sos-r%02d", k.index))
	k.cancel = devices.EventID(fmt.Sprintf("cancel-r%02d", k.index))
	k.published = make([]atomic.Int64, k.hubs)
	k.ackedAt = make([]atomic.Int64, k.hubs)
	k.cancelled = make([]atomic.Bool, k.hubs)
}

func (k *killRound) run() {
	t, g := k.t, k.g
	t.Helper()
	k.plan()
	k.base = k.mock.stats(t)

	// The burst, and the kill within it. It starts in a second after the
	// previous round's: an episode's fingerprint tells episodes apart to
	// the second (detectors.Fingerprint), so an SOS in the second of the
	// same hub's previous, cancelled episode would fold into its closed
	// incident and open none. That is a defect of its own, not of the
	// crash recovery this test is about.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	k.t0 = time.Now()
	k.fleet.current.Store(k)
	defer k.fleet.current.Store(nil)
	burstDone := make(chan struct{})
	go k.publish(burstDone)
	time.Sleep(time.Until(k.t0.Add(k.killAt))) // the schedule, not a wait for anything
	g.kill(t)
	k.killedAt = time.Since(k.t0)
	for i := range k.hubs {
		if at := k.ackedAt[i].Load(); at != 0 && time.Duration(at-1) <= k.killedAt {
			k.ackedBeforeKill++
		}
	}
	g.start(t)
	k.readyAt = time.Since(k.t0)
	<-burstDone

	// Every hub holds its PUBACK: the SOS sent before the kill without one,
	// and those made while the gateway was down, are sent after the hubs
	// reconnect.
	tookAcks, err := poll(fmt.Sprintf("round %d: every hub's PUBACK", k.index), 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		n := k.ackedN.Load()
		return n >= int64(k.hubs), n
	})
	if err != nil {
		k.errorf("%v", err)
	}
	// Every hub has its incident. Detection takes milliseconds once the
	// events are in, so a minute without a new incident ends the wait
	// (and the check says which hubs have none).
	// Every SOS of the round is made after t0, and the gateway shares the
	// test's clock: the round's incidents are those opened since then.
	since := k.t0
	var incs []killIncident
	tookIncidents, err := poll(fmt.Sprintf("round %d: every hub's incident", k.index), time.Minute, 10*time.Minute, func() (bool, int64) {
		incs = k.g.sosIncidents(t, since, "")
		return len(incs) >= k.hubs, int64(len(incs))
	})
	if err != nil {
		k.errorf("%v", err)
	}
	// 119 has an Alert per incident. A row the dead gateway was sending is
	// taken up again when its 30 s lease runs out: no progress meanwhile.
	tookAlerts, err := poll(fmt.Sprintf("round %d: every Alert at 119", k.index), 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		k.after = k.mock.stats(t)
		d := k.after.ByType["Alert"] - k.base.ByType["Alert"]
		return d >= len(incs), int64(d + k.after.Duplicates + k.after.Invalid + k.after.Refused)
	})
	if err != nil {
		k.errorf("%v", err)
	}
	incs = k.g.sosIncidents(t, since, "")
	k.after = k.mock.stats(t)
	k.check(incs)

	// Every resident presses cancel: the episode ends (its incident is
	// cancelled, 119 gets a Cancel), so next round's SOS is a new one.
	tookCancel := k.cancelAll(since, len(incs))
	k.logf("SIGKILL at +%s (%d of %d SOS acknowledged before it), ready again at +%s; every PUBACK %s later, "+
		"every incident %s later, every Alert %s later; 119 got %d Alerts, %d Updates (%d resends recognised, %d invalid); "+
		"cancelled in %s; round %s",
		k.killedAt.Round(time.Millisecond), k.ackedBeforeKill, k.hubs, k.readyAt.Round(time.Millisecond),
		tookAcks.Round(time.Millisecond), tookIncidents.Round(time.Millisecond), tookAlerts.Round(time.Millisecond),
		k.after.ByType["Alert"]-k.base.ByType["Alert"], k.after.ByType["Update"]-k.base.ByType["Update"],
		k.after.Duplicates-k.base.Duplicates, k.after.Invalid-k.base.Invalid, tookCancel.Round(time.Millisecond),
		time.Since(k.t0).Round(time.Millisecond))
}

// publish sends each hub's SOS at its moment of the burst. While the
// gateway is down a hub keeps it and sends it after reconnecting.
func (k *killRound) publish(done chan<- struct{}) {
	defer close(done)
	order := make([]int, k.hubs)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return k.offsets[order[a]] < k.offsets[order[b]] })
	for _, i := range order {
		time.Sleep(time.Until(k.t0.Add(k.offsets[i])))
		k.published[i].Store(int64(time.Since(k.t0)) + 1)
		k.fleet.hubs[i].Publish(devices.Event{ID: k.sos, Kind: devices.EventSOS, Sensor: firmwaresim.SensorPendant, At: time.Now()})
	}
}

// cancelAll has every resident press cancel and waits until each of the
// round's incidents is cancelled; a cancel acknowledged to its hub that
// does not cancel the incident is a failure of the round (responders would
// not be stood down).
func (k *killRound) cancelAll(since time.Time, incidents int) time.Duration {
	t := k.t
	start := time.Now()
	for _, h := range k.fleet.hubs {
		h.Publish(devices.Event{ID: k.cancel, Kind: devices.EventCancel, Sensor: firmwaresim.SensorPendant, At: time.Now()})
	}
	if _, err := poll(fmt.Sprintf("round %d: every cancel's PUBACK", k.index), 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		n := k.cancelledN.Load()
		return n >= int64(k.hubs), n
	}); err != nil {
		k.errorf("%v", err)
	}
	// Applying a cancel takes milliseconds once it is in: a minute without
	// one more incident cancelled ends the wait.
	var open []killIncident
	if _, err := poll(fmt.Sprintf("round %d: every incident cancelled", k.index), time.Minute, 10*time.Minute, func() (bool, int64) {
		open = open[:0]
		for _, inc := range k.g.sosIncidents(t, since, "") {
			if inc.State != "cancelled" {
				open = append(open, inc)
			}
		}
		return len(open) == 0, int64(len(open))
	}); err != nil {
		index := make(map[devices.HubID]int, k.hubs)
		for i, id := range k.fleet.ids {
			index[id] = i
		}
		var b strings.Builder
		for _, inc := range open[:min(len(open), 10)] {
			fmt.Fprintf(&b, "\n  %s", k.describe(index[inc.Hub], 1, []killIncident{inc}))
		}
		k.errorf("%d of %d incidents not cancelled although every resident's cancel was acknowledged:%s",
			len(open), incidents, b.String())
	}
	return time.Since(start)
}

// observe is told what the hubs see (with the hub locked).
func (k *killRound) observe(e firmwaresim.HubEvent) {
	i := int(e.Hub.Home.Index)
	switch e.Kind {
	case firmwaresim.EvAcked:
		if e.Code >= 0x80 {
			k.refused.Add(1)
		}
		switch e.EventID {
		case k.sos:
			if k.ackedAt[i].CompareAndSwap(0, int64(time.Since(k.t0))+1) {
				k.ackedN.Add(1)
			}
		case k.cancel:
			if k.cancelled[i].CompareAndSwap(false, true) {
				k.cancelledN.Add(1)
			}
		}
	case firmwaresim.EvReject:
		k.rejectMu.Lock()
		k.rejects = append(k.rejects, fmt.Sprintf("%s %s: %s", e.Hub.ID, e.EventID, e.Detail))
		k.rejectMu.Unlock()
	}
}

// check compares what the hubs were told with what the gateway and 119 did.
func (k *killRound) check(incs []killIncident) {
	index := make(map[devices.HubID]int, k.hubs)
	for i, id := range k.fleet.ids {
		index[id] = i
	}
	perHub := make([]int, k.hubs)
	for _, inc := range incs {
		if i, ok := index[inc.Hub]; ok {
			perHub[i]++
		} else {
			k.others = append(k.others, fmt.Sprintf("%s (hub %s, opened %s)", inc.ID, inc.Hub, inc.OpenedAt.Format(time.RFC3339Nano)))
		}
	}
	var concerned []int
	for i := range k.hubs {
		acked := k.ackedAt[i].Load() != 0
		if acked {
			k.acked++
		}
		switch {
		case !acked:
			k.unacked = append(k.unacked, string(k.fleet.ids[i]))
		case perHub[i] == 0:
			k.lost = append(k.lost, string(k.fleet.ids[i]))
		case perHub[i] > 1:
			k.duplicated = append(k.duplicated, string(k.fleet.ids[i]))
		default:
			continue
		}
		concerned = append(concerned, i)
	}
	alerts := k.after.ByType["Alert"] - k.base.ByType["Alert"]
	invalid := k.after.Invalid - k.base.Invalid
	k.rejectMu.Lock()
	rejects := slices.Clone(k.rejects)
	k.rejectMu.Unlock()
	if len(concerned) > 0 {
		var b strings.Builder
		for _, i := range concerned[:min(len(concerned), 20)] {
			fmt.Fprintf(&b, "\n  %s", k.describe(i, perHub[i], incs))
		}
		k.errorf("%d lost (PUBACK, no incident), %d duplicated (more than one incident), %d without a PUBACK:%s",
			len(k.lost), len(k.duplicated), len(k.unacked), b.String())
	}
	if len(k.others) > 0 {
		k.errorf("%d SOS incidents of unknown hubs opened during the round: %s", len(k.others), firstOf(k.others, 20))
	}
	if alerts != len(incs) || alerts != k.hubs || invalid != 0 {
		k.errorf("119 got %d Alerts (and %d invalid messages) for %d incidents of %d hubs; %s",
			alerts, invalid, len(incs), k.hubs, k.alertsReport(incs))
	}
	if n := k.refused.Load(); n > 0 {
		k.errorf("%d PUBACKs carried a refusal reason code: an emergency is delayed, never refused", n)
	}
	if len(rejects) > 0 {
		k.errorf("%d rejects: %s", len(rejects), firstOf(rejects, 20))
	}
}

// describe tells a hub's story in the round, with its incidents and the
// gateway's log lines that name it.
func (k *killRound) describe(i, n int, incs []killIncident) string {
	at := func(v int64) string {
		if v == 0 {
			return "never"
		}
		return "+" + time.Duration(v-1).Round(time.Millisecond).String()
	}
	id := k.fleet.ids[i]
	s := fmt.Sprintf("hub %s event %s: published %s, PUBACK %s, %d incidents", id, k.sos,
		at(k.published[i].Load()), at(k.ackedAt[i].Load()), n)
	for _, inc := range incs {
		if inc.Hub == id {
			s += fmt.Sprintf(" %s (opened %s, %s)", inc.ID, inc.OpenedAt.Format(time.RFC3339Nano), inc.State)
		}
	}
	for _, line := range grepFile(k.g.logPath, `"`+string(id)+`"`, 30) {
		s += "\n    " + line
	}
	return s
}

// alertsReport says which incidents of the round have no Alert or more
// than one at 119 (read from the mock's list, only when counts are off).
func (k *killRound) alertsReport(incs []killIncident) string {
	resp, err := httpClient.Get(k.mock.url + "/alerts")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var alerts []struct {
		Identifier string `json:"identifier"`
		IncidentID string `json:"incident_id"`
		MsgType    string `json:"msg_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return err.Error()
	}
	perIncident := map[string][]string{}
	for _, a := range alerts {
		if a.MsgType == "Alert" {
			perIncident[a.IncidentID] = append(perIncident[a.IncidentID], a.Identifier)
		}
	}
	var out []string
	for _, inc := range incs {
		if got := perIncident[inc.ID]; len(got) != 1 {
			out = append(out, fmt.Sprintf("%s (hub %s): %v", inc.ID, inc.Hub, got))
		}
	}
	return fmt.Sprintf("incidents without exactly one Alert: %s", firstOf(out, 20))
}

// concurrently runs fn for 0..n-1, 16 at a time, and returns the first
// error.
func concurrently(n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// post sends an admin API request and decodes a 2xx answer into out. It
// is safe for concurrent use.
func (g *gatewayProcess) post(path string, body, out any) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequest(http.MethodPost, g.httpURL+path, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e bytes.Buffer
		e.ReadFrom(resp.Body)
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(e.String()))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// sosIncidents lists the SOS incidents opened at or after since (in state,
// if given), paging through the API's 1,000 at a time (they come by
// priority, then opening time).
func (g *gatewayProcess) sosIncidents(t *testing.T, since time.Time, state string) []killIncident {
	t.Helper()
	const page = 1000
	seen := map[string]bool{}
	var out []killIncident
	for {
		var got struct {
			Incidents []killIncident `json:"incidents"`
		}
		q := url.Values{"cause": {"sos"}, "since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {fmt.Sprint(page)}}
		if state != "" {
			q.Set("state", state)
		}
		g.api(t, "/api/v1/incidents?"+q.Encode(), &got)
		fresh := 0
		for _, inc := range got.Incidents {
			if !seen[inc.ID] {
				seen[inc.ID] = true
				out = append(out, inc)
				fresh++
			}
			if inc.OpenedAt.After(since) {
				since = inc.OpenedAt
			}
		}
		if len(got.Incidents) < page {
			return out
		}
		if fresh == 0 {
			t.Fatalf("cannot page the incidents: %d opened at %s", page, since.Format(time.RFC3339Nano))
		}
	}
}

// grepFile returns the last n lines of the file that contain s.
func grepFile(path, s string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
			if len(out) > n {
				out = out[1:]
			}
		}
	}
	return out
}

func firstOf(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, "; ")
	}
	return strings.Join(s[:n], "; ") + fmt.Sprintf("; ... and %d more", len(s)-n)
}
