package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mock119 runs the mock 119 receiver (dolbom-119) as its own process,
// validating every CAP message against the official schema.
type mock119 struct {
	url string
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startMock119(t *testing.T, downFor time.Duration) *mock119 {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil && os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
		t.Fatal("xmllint not found (make test installs libxml2-utils)")
	}
	m := &mock119{url: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), log: new(bytes.Buffer)}
	m.cmd = exec.Command(filepath.Join(binDir, "dolbom-119"), "--listen", strings.TrimPrefix(m.url, "http://"),
		"--xsd", "../../../shared/spec/CAP-v1.2.xsd", "--auto-accept", "0", fmt.Sprintf("--down-for=%s", downFor))
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		if t.Failed() {
			t.Logf("dolbom-119 log:\n%s", m.log.String())
		}
	})
	waitUntil(t, 10*time.Second, "mock 119 up", func() bool {
		resp, err := http.Get(m.url + "/stats")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return m
}

type mockStats struct {
	Received, Duplicates, Invalid int
}

func (m *mock119) stats(t *testing.T) mockStats {
	t.Helper()
	resp, err := http.Get(m.url + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s mockStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SOS events from many homes, each acknowledged (durable) to its hub, then
// the gateway is SIGKILLed while the 119 deliveries are under way (the
// 119 endpoint is down at first, so they are retrying). Restarted on the
// same data, it delivers every alert: each home's alert arrives at 119
// exactly once (the receiver recognises a resend after the crash by its
// stable CAP identifier), valid against the CAP 1.2 schema.
func TestSIGKILLDuringDeliveryLosesAndDuplicatesNothing(t *testing.T) {
	pub := mosquittoPub(t)
	_ = pub
	for name, database := range backends(t) {
		t.Run(name, func(t *testing.T) {
			const homes = 12
			mock := startMock119(t, 2*time.Second)
			g := startGateway(t, database(t), "--cap-url", mock.url+"/cap")

			var resident struct {
				ID string `json:"id"`
			}
			g.ctl(t, &resident, "resident", "add", "--name", "이영희", "--phone", "010-2222-3333",
				"--address", "부산광역시 해운대구 센텀중앙로 79", "--floor", "12", "--unit", "1203", "--lat", "35.17", "--lon", "129.13")
			type hubCred struct {
				HubID  string `json:"hub_id"`
				Secret string `json:"secret"`
			}
			hubs := make([]hubCred, homes)
			for i := range hubs {
				g.ctl(t, &hubs[i], "hub", "add", "--resident", resident.ID)
			}
			now := time.Now().UnixMilli()
			var wg sync.WaitGroup
			errs := make([]error, homes)
			for i, h := range hubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := g.pub(t, h.HubID, h.Secret, "events", 1,
						fmt.Sprintf(`{"v":1,"id":"sos-%d","ts":%d,"kind":"sos","sensor":"pendant-1"}`, i, now))
					if err != nil {
						errs[i] = fmt.Errorf("%v: %s", err, out)
					}
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("SOS %d not acknowledged: %v", i, err)
				}
			}
			// The endpoint comes back at 2 s; kill the gateway as the first
			// deliveries go through.
			waitUntil(t, 10*time.Second, "the first alert at 119", func() bool { return mock.stats(t).Received >= 1 })
			if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			g.cmd.Wait()
			before := mock.stats(t)
			t.Logf("at the kill: %d of %d alerts received", before.Received, homes)

			g.start(t)
			waitUntil(t, 60*time.Second, "every alert at 119 after the restart", func() bool { return mock.stats(t).Received >= homes })
			time.Sleep(500 * time.Millisecond) // room for a late duplicate
			after := mock.stats(t)
			t.Logf("after the restart: received %d, resent after the crash and recognised %d, invalid %d", after.Received, after.Duplicates, after.Invalid)
			if after.Received != homes || after.Invalid != 0 {
				t.Fatalf("119 received %d distinct valid alerts (%d invalid), want exactly %d", after.Received, after.Invalid, homes)
			}
			// A resend can only be of an alert in flight at the kill.
			if after.Duplicates > homes-before.Received+1 {
				t.Errorf("%d resends for %d alerts in flight at the kill", after.Duplicates, homes-before.Received)
			}
			var incidents struct {
				Incidents []struct {
					Cause string `json:"cause"`
					Hub   string `json:"hub_id"`
				} `json:"incidents"`
			}
			g.api(t, "/api/v1/incidents?cause=sos", &incidents)
			perHub := map[string]int{}
			for _, inc := range incidents.Incidents {
				perHub[inc.Hub]++
			}
			for _, h := range hubs {
				if perHub[h.HubID] != 1 {
					t.Errorf("hub %s has %d SOS incidents, want 1", h.HubID, perHub[h.HubID])
				}
			}
		})
	}
}

// A crash at each point between an SOS's commit in the journal and its
// incident's commit: the gateway (the crash-point build) kills itself with
// SIGKILL exactly there, and is restarted on the same data. The hub does
// what the protocol asks: it resends the event (same id) if it got no
// PUBACK. After the restart the journal's replay applies what the saved
// state had not: the SOS has exactly one incident, and 119 exactly one
// alert, valid against the CAP schema.
func TestCrashBetweenEventCommitAndIncidentCommit(t *testing.T) {
	mosquittoPub(t)
	points := []struct {
		name string
		// acked says whether the hub may have its PUBACK at the crash.
		acked bool
	}{
		{"journal-committed", false}, // committed; neither acknowledged nor handed on
		{"engine-event", true},       // acknowledged; not yet applied by the rule engine
		{"incident-commit", true},    // detected; the incident not yet committed
	}
	for name, database := range backends(t) {
		for _, point := range points {
			t.Run(name+"/"+point.name, func(t *testing.T) {
				mock := startMock119(t, 0)
				g := &gatewayProcess{mqttPort: freePort(t), token: "e2e-" + randomHex(16), dataDir: t.TempDir(),
					log: new(bytes.Buffer), databaseURL: database(t), extra: []string{"--cap-url", mock.url + "/cap"},
					crashpoint: point.name}
				g.httpURL = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
				g.start(t)
				var resident struct {
					ID string `json:"id"`
				}
				g.ctl(t, &resident, "resident", "add", "--name", "최말순", "--phone", "010-3333-4444",
					"--address", "대구광역시 중구 공평로 88", "--floor", "2", "--unit", "201")
				var hub struct {
					HubID  string `json:"hub_id"`
					Secret string `json:"secret"`
				}
				g.ctl(t, &hub, "hub", "add", "--resident", resident.ID)
				now := time.Now().UnixMilli()
				sos := fmt.Sprintf(`{"v":1,"id":"sos-%d","ts":%d,"kind":"sos","sensor":"pendant-1"}`, now, now)
				out, pubErr := g.pub(t, hub.HubID, hub.Secret, "events", 1, sos)

				exited := make(chan error, 1)
				go func() { exited <- g.cmd.Wait() }()
				select {
				case err := <-exited:
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
						t.Fatalf("dolbomd ended with %v, want killed at crash point %s", err, point.name)
					}
				case <-time.After(60 * time.Second):
					t.Fatalf("crash point %s not reached within 60 s of the SOS (publish: %v %s)", point.name, pubErr, out)
				}
				if !point.acked && pubErr == nil {
					t.Fatalf("the hub got a PUBACK although the gateway died before acknowledging (%s)", out)
				}

				g.crashpoint = ""
				g.start(t)
				if pubErr != nil { // no PUBACK: the hub resends the same event
					if out, err := g.pub(t, hub.HubID, hub.Secret, "events", 1, sos); err != nil {
						t.Fatalf("resend after the restart: %v\n%s", err, out)
					}
				}
				waitUntil(t, 60*time.Second, "the alert at 119 after the restart", func() bool { return mock.stats(t).Received >= 1 })
				// Room for a second alert, which a second incident would
				// have sent in the same delivery round.
				time.Sleep(time.Second)
				if st := mock.stats(t); st.Received != 1 || st.Duplicates != 0 || st.Invalid != 0 {
					t.Errorf("119 received %d alerts (%d resent, %d invalid), want exactly one", st.Received, st.Duplicates, st.Invalid)
				}
				var incidents struct {
					Incidents []struct {
						Hub string `json:"hub_id"`
					} `json:"incidents"`
				}
				g.api(t, "/api/v1/incidents?cause=sos", &incidents)
				if len(incidents.Incidents) != 1 || incidents.Incidents[0].Hub != hub.HubID {
					t.Errorf("SOS incidents after the crash: %+v, want exactly one for %s", incidents.Incidents, hub.HubID)
				}
			})
		}
	}
}
