package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/internal/memowner"
	"github.com/dolbom/dolbom/store"
)

var (
	onlyScenarios = flag.String("scenarios", "", "TestScenarios: run only these (comma-separated names)")
	onlyClock     = flag.String("clock", "", "TestScenarios: run only at this clock (weekday_1000, weekday_0318, saturday_1400)")
)

// suiteClocks are the local times (Asia/Seoul) the suite starts at: by day
// on a weekday, at night on a weekday (the after-hours reroute applies),
// and on a Saturday afternoon (weekend: it applies too).
var suiteClocks = []struct {
	name string
	at   time.Time
}{
	{"weekday_1000", time.Date(2000, 1, 3, 10, 0, 0, 0, kst)},
	{"weekday_0318", time.Date(2000, 1, 3, 3, 18, 0, 0, kst)},
	{"saturday_1400", time.Date(2000, 1, 8, 14, 0, 0, 0, kst)},
}

var kst = time.FixedZone("KST", 9*3600)

// TestScenarios runs the whole acceptance suite, every scenario for its
// whole window (24 h of inactivity included), against an in-process
// gateway inside a testing/synctest bubble: the bubble's fake clock jumps
// whenever every goroutine in it waits, so a day passes in seconds. The
// hubs reach the broker in memory, the API is called through the handler,
// 119 (the mock receiver) and the fake Twilio are reached in memory, and
// the store is SQLite on disk: nothing in the bubble waits on a socket.
// A check that is skipped or pending fails here.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite")
	}
	list := Suite()
	if *onlyScenarios != "" {
		var err error
		if list, err = selectScenarios(list, *onlyScenarios); err != nil {
			t.Fatal(err)
		}
	}
	// latency119[scenario][clock]: trigger to the mock 119's receipt.
	var mu sync.Mutex
	latency119 := map[string]map[string]float64{}
	t.Run("clocks", func(t *testing.T) {
		for _, clock := range suiteClocks {
			if *onlyClock != "" && clock.name != *onlyClock {
				continue
			}
			t.Run(clock.name, func(t *testing.T) {
				t.Parallel()
				// Under /dev/shm when there is one (fsync costs real time the
				// fake clock does not hide), as dolbom-sim does.
				base := ""
				if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
					base = "/dev/shm"
				}
				dir, err := os.MkdirTemp(base, "dolbom-scenarios-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				synctest.Test(t, func(t *testing.T) {
					// The bubble's clock starts at 2000-01-01 00:00 UTC.
					time.Sleep(time.Until(clock.at))
					c := common{seed: 1, logLevel: "error", dataDir: dir}
					res, err := runScenarios(t.Context(), &c, list, suiteMaxWait, io.Discard)
					if err != nil {
						t.Fatal(err)
					}
					if len(res) != len(list) {
						t.Fatalf("%d results for %d scenarios", len(res), len(list))
					}
					for _, r := range res {
						t.Logf("%-8s %s %v", r.Status, r.Name, r.PubackMS)
						for _, ch := range r.Checks {
							switch ch.Status {
							case "pass":
								if ch.Detail != "" {
									t.Logf("%s: %s: %s", r.Name, ch.Expect, ch.Detail)
								}
							case "known":
								t.Logf("%s: %s: known: %s", r.Name, ch.Expect, ch.Detail)
							default:
								t.Errorf("%s: %s: %s %s", r.Name, ch.Expect, ch.Status, ch.Detail)
							}
							if ch.Latency119MS != nil {
								mu.Lock()
								if latency119[r.Name] == nil {
									latency119[r.Name] = map[string]float64{}
								}
								latency119[r.Name][clock.name] = *ch.Latency119MS
								mu.Unlock()
							}
						}
					}
				})
			})
		}
	})
	// At night and at weekends the after-hours reroute changes who is
	// called, never how soon 119 is: each scenario's 119 latency is within
	// its bound at every clock (checked above) and no later than by day
	// (plus a second for the order in which the bubble runs timers).
	day := suiteClocks[0].name
	for _, name := range slices.Sorted(maps.Keys(latency119)) {
		byClock := latency119[name]
		t.Logf("119 latency %-28s %v", name, byClock)
		d, ok := byClock[day]
		if !ok {
			continue
		}
		for clock, ms := range byClock {
			if ms > d+1000 {
				t.Errorf("%s: 119 alerted %.0f ms after the trigger at %s, %.0f ms by day", name, ms, clock, d)
			}
		}
	}
}

// TestLoadSmall runs 200 homes for 5 s at 60x and checks the report.
func TestLoadSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	// The heap profile samples one allocation per 512 KB by default: the
	// 200 simulated hubs' ~100 KB could go unsampled and the simulator
	// missing from memory by owner. Sample finely for this run.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1024
	var out, errb bytes.Buffer
	heap := filepath.Join(t.TempDir(), "mid.heap")
	err := cmdLoad(context.Background(), []string{"--homes", "200", "--duration", "5s", "--speed", "60", "--connect-rate", "1000",
		"--emergency-rate", "5", "--json", "--data-dir", t.TempDir(), "--sensors", "no",
		"--memprofile", heap, "--memprofile-at", "2s"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if fi, err := os.Stat(heap); err != nil || fi.Size() == 0 || !strings.Contains(errb.String(), "heap profile written") {
		t.Errorf("no heap profile written mid-run (--memprofile-at): %v", err)
	}
	var rep LoadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 200 {
		t.Errorf("connected %d of 200", rep.Connected)
	}
	if m := rep.MemoryByOwner; m == nil || m.StackBytes == 0 || m.Goroutines == 0 {
		t.Errorf("no memory by owner in the report with --memprofile: %+v", m)
	} else {
		have := map[string]bool{}
		for _, s := range m.Shares {
			have[s.Owner] = s.Bytes > 0
		}
		for _, o := range []string{memowner.Mochi, memowner.Engine, memowner.Simulator} {
			if !have[o] {
				t.Errorf("memory by owner has no %q: %+v", o, m.Shares)
			}
		}
	}
	if rep.Messages == 0 || rep.LatencyMS["puback"] == nil || rep.LatencyMS["puback"].N == 0 {
		t.Errorf("no traffic measured: %+v", rep)
	}
	if rep.Fleet.Rejects != 0 || rep.Fleet.Refused != 0 {
		t.Errorf("gateway refused simulator messages: rejects %d refused %d", rep.Fleet.Rejects, rep.Fleet.Refused)
	}
	if rep.EmergenciesSent == 0 {
		t.Error("no emergencies injected")
	}
	checkStages(t, rep)
}

// checkStages: the report splits every slow SOS's publish -> incident into
// stages that are non-negative and add up to it, and gives each stage's
// percentiles over all SOS.
func checkStages(t *testing.T, rep LoadReport) {
	t.Helper()
	for _, name := range []string{"puback", "detect", "incident", "alert_119"} {
		if s := rep.StagesMS[name]; s == nil || s.N == 0 || s.P50 < 0 || s.P99 < s.P50 {
			t.Errorf("stages_ms[%q] = %+v, want SOS counted with 0 <= p50 <= p99", name, s)
		}
	}
	if g := rep.GatewayStagesMS["journal_lock"]; g.N == 0 || g.P99 < g.P50 {
		t.Errorf("gateway_stages_ms[journal_lock] = %+v, want the journal's lock waits", g)
	}
	// From the first connect: every event came after it, and no stage counts
	// more than over the whole run.
	if run, all := rep.GatewayStagesRunMS["journal_lock"], rep.GatewayStagesMS["journal_lock"]; run != all {
		t.Errorf("gateway_stages_run_ms[journal_lock] = %+v, want the whole run's %+v: no event comes before the first connect", run, all)
	}
	for name, run := range rep.GatewayStagesRunMS {
		if all := rep.GatewayStagesMS[name]; run.N > all.N {
			t.Errorf("gateway_stages_run_ms[%s] counts %d, the whole run's %d", name, run.N, all.N)
		}
	}
	if len(rep.SlowestIncidents) == 0 {
		t.Fatal("no slowest_incidents")
	}
	for _, si := range rep.SlowestIncidents {
		s := si.Stages
		if s == nil {
			t.Errorf("slow SOS %s (%.1f ms) has no stages", si.EventID, si.MS)
			continue
		}
		if s.PubackMS < 0 || s.DetectMS < 0 || s.IncidentMS < 0 || s.Alert119MS == nil || *s.Alert119MS < 0 {
			t.Errorf("slow SOS %s: a stage is negative or missing: %+v", si.EventID, s)
		}
		if sum := s.PubackMS + s.DetectMS + s.IncidentMS; math.Abs(sum-si.MS) > 0.001 {
			t.Errorf("slow SOS %s: stages add up to %.4f ms, its incident took %.4f ms", si.EventID, sum, si.MS)
		}
	}
}

// TestLoadRefusedAtCapacity: 60 homes against an in-process gateway with
// places for 40. The report shows 40 online and 20 homes refused at
// CONNECT, none lost: the SOS injected into refused homes are reported
// apart (their hubs hold them), and the machine is named.
func TestLoadRefusedAtCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	var out, errb bytes.Buffer
	err := cmdLoad(context.Background(), []string{"--homes", "60", "--max-hubs", "40", "--duration", "5s", "--speed", "60",
		"--connect-rate", "1000", "--emergency-rate", "8", "--json", "--data-dir", t.TempDir(), "--sensors", "no"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rep LoadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	f := rep.Fleet
	if f.Online != 40 || rep.Connected != 40 || f.RefusedHubs != 20 || f.RefusedConnects < 20 || f.DeniedConnects != 0 {
		t.Errorf("online %d (connected %d), refused hubs %d, refused connects %d, denied %d; want 40, 20 hubs, >= 20 attempts, 0 denied",
			f.Online, rep.Connected, f.RefusedHubs, f.RefusedConnects, f.DeniedConnects)
	}
	// Read after the drain, while refused hubs kept retrying: at least
	// what the fleet had seen, and all for capacity.
	if rep.GatewayRefused["capacity"] < f.RefusedConnects || rep.GatewayRefused["memory"] != 0 {
		t.Errorf("gateway refused %v, the fleet saw %d busy refusals", rep.GatewayRefused, f.RefusedConnects)
	}
	if rep.ConnectSeconds == nil {
		t.Error("connect_s null: the 40 places filled should count as everyone in")
	}
	if rep.Lost != 0 || rep.EmergenciesRefusedHubs == 0 || rep.EmergenciesRefusedHubs >= rep.EmergenciesSent {
		t.Errorf("emergencies sent %d: lost %d, of refused homes %d; want none lost, some of refused homes, the rest delivered",
			rep.EmergenciesSent, rep.Lost, rep.EmergenciesRefusedHubs)
	}
	m := rep.Machine
	if m.Cores <= 0 || m.GOMAXPROCS <= 0 || m.RAMBytes <= 0 || m.GoVersion == "" || m.OS == "" || m.Arch == "" || m.Commit == "" || m.MaxHubs != 40 {
		t.Errorf("machine %+v", m)
	}
}

// TestHubAnswersGatewayCheckIn sends a check_in command through the
// in-process gateway's broker (g.Broker.SendCommand) to a simulated hub of
// each client kind and checks that the resident's answer reaches the
// gateway's journal as the right event.
func TestHubAnswersGatewayCheckIn(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process gateway")
	}
	tests := []struct {
		client    string
		answer    firmwaresim.Answer
		wantKind  devices.EventKind
		wantEvent string // id prefix
	}{
		{"raw", firmwaresim.AnswerCheckIn, devices.EventCheckIn, "ci-"},
		{"raw", firmwaresim.AnswerCancel, devices.EventCancel, "cx-"},
		{"paho", firmwaresim.AnswerCheckIn, devices.EventCheckIn, "ci-"},
		{"paho", firmwaresim.AnswerCancel, devices.EventCancel, "cx-"},
	}
	ctx := context.Background()
	env, err := startInproc(ctx, t.TempDir(), "", 0, broker.Config{}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.stop()
	prov := newStoreProvisioner(env)
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.client, tc.wantKind), func(t *testing.T) {
			hub := devices.HubID(fmt.Sprintf("cmd-test-%d", i))
			secret, err := prov.provision(ctx, hub, false)
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var online func() bool
			var run func(context.Context) error
			switch tc.client {
			case "raw":
				f := firmwaresim.NewFleet(firmwaresim.Options{Transport: env.tr, Seed: 1, NoReadings: true})
				h := f.Add(hub, secret, uint32(i))
				h.Answer = tc.answer
				f.Start(h, time.Now())
				online, run = h.Online, f.Run
			case "paho":
				f := firmwaresim.NewPahoFleet(firmwaresim.PahoOptions{Dial: env.tr.DialConn, Seed: 1, NoReadings: true})
				h := f.Add(hub, secret, uint32(i))
				h.Answer = tc.answer
				online, run = h.Online, f.Run
			}
			done := make(chan struct{})
			go func() { run(rctx); close(done) }()
			defer func() { cancel(); <-done }()
			waitUntil(t, "hub online", online)
			g := env.gateway()
			// The hub's cmd subscription follows its CONNACK: send until
			// the broker has somewhere to put it (its session keeps it).
			time.Sleep(100 * time.Millisecond)
			cmd := devices.Command{ID: devices.CommandID(fmt.Sprintf("c%d", i)), Type: devices.CmdCheckIn, At: time.Now()}
			if err := g.Broker.SendCommand(ctx, hub, cmd); err != nil {
				t.Fatal(err)
			}
			want := devices.EventID(tc.wantEvent + string(cmd.ID))
			waitUntil(t, "the answer in the journal", func() bool {
				evs, err := g.Store.Journal().ListEvents(ctx, store.EventQuery{Hub: hub})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					if e.ID == want {
						if e.Kind != tc.wantKind {
							t.Fatalf("event %s is %s, want %s", e.ID, e.Kind, tc.wantKind)
						}
						return true
					}
				}
				return false
			})
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRestartReleasesOldGateway: after --restart-at, nothing of the load run
// holds the stopped gateway. Held, its hubs' sessions and detectors' state
// stayed in memory beside the new gateway's: at 300,000 homes the new one
// collected against twice the live heap, with seconds of assists.
func TestRestartReleasesOldGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	// Looked at mid-run, up to 3 s after the restart (the run goes on for
	// 4 s and its drain): the run's state is live then, and must not reach
	// the stopped gateway once its own goroutines have ended.
	held := make(chan bool, 1)
	var once sync.Once
	gatewayStopped = func(g *gateway.Gateway) {
		once.Do(func() {
			w := weak.Make(g)
			go func() {
				for range 15 {
					time.Sleep(200 * time.Millisecond)
					runtime.GC()
					if w.Value() == nil {
						held <- false
						return
					}
				}
				held <- true
			}()
		})
	}
	defer func() { gatewayStopped = nil }()
	var out, errb bytes.Buffer
	err := cmdLoad(context.Background(), []string{"--homes", "20", "--duration", "5s", "--restart-at", "1s", "--drain", "1s",
		"--json", "--data-dir", t.TempDir(), "--sensors", "no"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if <-held {
		t.Error("the restarted gateway was still reachable 3 s after its stop, mid-run")
	}
}
