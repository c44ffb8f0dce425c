package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// A restart with an SOS open at 119 tells 119 nothing new. The rule engine
// sends every restored open episode again after a restart (facts
// gateway_restart, episode_age), lest a crash lose one; that re-send is
// bookkeeping, not news, and before issue 13 each open emergency got a CAP
// Update whose only news it was.
func TestRestartSendsNoUpdateTo119(t *testing.T) {
	mosquittoPub(t)
	mock := startMock119(t, false)
	g := startGateway(t, "", "--cap-url", mock.url+"/cap")
	hub := g.addHome(t)
	now := time.Now().UnixMilli()
	sos := fmt.Sprintf(`{"v":1,"id":"sos-%d","ts":%d,"kind":"sos","sensor":"pendant-1"}`, now, now)
	if out, err := g.pub(t, hub.HubID, hub.Secret, "events", 1, sos); err != nil {
		t.Fatalf("SOS: %v\n%s", err, out)
	}
	type incidentView struct {
		Incident struct {
			ID      string `json:"id"`
			Count   int    `json:"count"`
			Sent119 bool   `json:"sent_119"`
		} `json:"incident"`
		Notifications []struct {
			Channel string `json:"channel"`
			MsgType string `json:"msg_type"`
			State   string `json:"state"`
		} `json:"notifications"`
	}
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	var view incidentView
	waitFor(t, "the SOS alert accepted by 119", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		g.api(t, "/api/v1/incidents?cause=sos", &list)
		if len(list.Incidents) != 1 {
			return false, 0
		}
		g.api(t, "/api/v1/incidents/"+list.Incidents[0].ID, &view)
		return view.Incident.Sent119, fileSize(g.logPath)
	}, nil)

	// SIGTERM: the engine saves the open SOS; the next start sends it again.
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := g.waitExit(t, "dolbomd stopped by SIGTERM"); err != nil {
		t.Fatalf("dolbomd after SIGTERM: %v", err)
	}
	g.start(t)
	// Settled once the re-send is on the incident and no CAP message of it
	// is waiting or being sent.
	waitFor(t, "the engine's re-send handled", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		var v incidentView
		g.api(t, "/api/v1/incidents/"+view.Incident.ID, &v)
		if v.Incident.Count < 2 {
			return false, fileSize(g.logPath)
		}
		for _, n := range v.Notifications {
			if n.Channel == "cap" && (n.State == "pending" || n.State == "sending") {
				return false, fileSize(g.logPath)
			}
		}
		return true, 0
	}, nil)
	if st := mock.stats(t); st.ByType["Alert"] != 1 || st.ByType["Update"] != 0 {
		t.Errorf("119 got %v after a restart with nothing new, want one Alert and no Update", st.ByType)
	}
}
