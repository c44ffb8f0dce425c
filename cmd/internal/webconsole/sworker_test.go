package webconsole

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// guardianHome registers a resident with a guardian and a hub.
func (de *deskEnv) guardianHome(name, worker string) (devices.Resident, devices.HubID) {
	de.t.Helper()
	ctx := context.Background()
	r, err := de.st.CreateResident(ctx, devices.Resident{Name: name, BirthDate: "1936-02-03", Phone: "+821012345678", Language: "ko",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209", Unit: "302", Floor: "3"}, SocialWorkerID: worker,
		Consent:   devices.Consent{NotifyGuardians: true},
		Guardians: []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821033334444", Order: 1}}})
	if err != nil {
		de.t.Fatal(err)
	}
	hub := devices.HubID("hub-" + string(r.ID))
	if _, err := de.st.CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: de.clock().AddDate(-1, 0, 0),
		Model: "DG-200", SecretHash: "$argon2id$unused"}); err != nil {
		de.t.Fatal(err)
	}
	return r, hub
}

// 119 accepted the SOS (its CAP answer acknowledged the incident); the
// guardian pressed 1 on the voice call afterwards. The reports count the
// acknowledgement as 119's, on its own channel, never as a voice call.
func TestReports119AnswerIsItsOwnChannel(t *testing.T) {
	e := newDeskEnv(t)
	ctx := context.Background()
	_, hub := e.guardianHome("김영희", "sw-kim")
	inc := e.detect(hub, detectors.CauseSOS, detectors.PriorityCritical, "button-1")
	var voiceKey string
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, n := range e.sent {
			if n.Channel == "voice" && n.Recipient.Role == dispatch.RoleGuardian {
				voiceKey = n.Key
			}
		}
		return voiceKey != ""
	})
	e.advance(20 * time.Second)
	if _, err := e.d.Apply119(ctx, dispatch.Answer119{IncidentID: inc.ID, Status: dispatch.Answer119Accepted}); err != nil {
		t.Fatal(err)
	}
	e.advance(40 * time.Second)
	if _, err := e.d.AcknowledgeNotification(ctx, voiceKey); err != nil {
		t.Fatal(err)
	}
	got := e.incident(inc.ID)
	if got.AcknowledgedVia != dispatch.Channel119 || got.AcknowledgedBy != "119" {
		t.Fatalf("incident acknowledged by %q via %q, want 119 via cap", got.AcknowledgedBy, got.AcknowledgedVia)
	}

	c := e.client()
	c.login("d-park", password)
	_, body, _ := c.do("GET", "/reports/export.csv?kind=incidents", nil, nil)
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	if len(recs) != 2 {
		t.Fatalf("incidents csv: %q", recs)
	}
	row := recs[1]
	if row[col["ack_channel"]] != "cap" || row[col["ack_step"]] != "119" || row[col["acknowledged_by"]] != "119" || row[col["ack_s"]] != "20.0" {
		t.Errorf("acknowledgement: step %q channel %q by %q after %q s, want step 119, channel cap, by 119 after 20.0 s",
			row[col["ack_step"]], row[col["ack_channel"]], row[col["acknowledged_by"]], row[col["ack_s"]])
	}
	_, body, _ = c.do("GET", "/reports/export.csv?kind=ack", nil, nil)
	if !strings.Contains(body, "\n119,cap,1,") || strings.Contains(body, ",voice,") {
		t.Errorf("ack csv counts 119's answer elsewhere:\n%s", body)
	}
	_, page := c.get("/reports")
	if !strings.Contains(page, "119 전송 (CAP)") {
		t.Errorf("reports page does not name 119's channel")
	}
}
