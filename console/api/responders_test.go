package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// guardiansFirstFall is a fall policy that tells the guardians first and
// 119 three minutes later.
const guardiansFirstFall = `{"steps": [
	{"after": "0s", "notify": [{"to": "guardian", "via": "voice"}, {"to": "guardian", "via": "sms"}, {"to": "social_worker", "via": "sms"}]},
	{"after": "3m", "notify": [{"to": "119", "via": "cap"}]}]}`

// home registers a resident with one guardian on hub.
func (e *incidentEnv) home(t *testing.T, hub devices.HubID) {
	t.Helper()
	ctx := context.Background()
	r, err := e.s.Registry().CreateResident(ctx, devices.Resident{Name: "김순자", Language: "ko",
		Guardians: []devices.Guardian{{Name: "최영희", Relation: "딸", Phone: "+821033334444", Order: 1}},
		Consent:   devices.Consent{NotifyGuardians: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: time.Now(), SecretHash: "$argon2id$unused"}); err != nil {
		t.Fatal(err)
	}
}

// The API's send119 and responder actions: 119 is alerted once whatever
// the state, a second press is recorded; a responder's state is set by
// name with an ETA and shows in the incident JSON; bad input is a 400 that
// says what is wrong.
func TestIncidentAPISend119AndResponder(t *testing.T) {
	e := newIncidentEnv(t)
	e.home(t, "hub-r")
	ep := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// A fall past its window under a policy that tells the guardians first
	// and 119 only at the next step.
	var pol dispatch.Policy
	if err := json.Unmarshal([]byte(guardiansFirstFall), &pol); err != nil {
		t.Fatal(err)
	}
	if err := e.d.SetPolicy(context.Background(), detectors.CauseFall, pol); err != nil {
		t.Fatal(err)
	}
	fall := e.open(t, "hub-r", detectors.CauseFall, 2, ep)
	if fall.Alerted119 {
		t.Fatal("the fall alerted 119 at once")
	}
	p := "/api/v1/incidents/" + fall.ID
	e.runSteps(t, []apiStep{
		{"responder: on the way by name", p + "/responder", `{"by":"op","responder":"최영희","state":"on_the_way","eta_minutes":20}`, 200,
			func(i dispatch.Incident) bool {
				r, ok := i.Responder("guardian-1")
				return ok && r.State == dispatch.ResponderOnTheWay && r.ETAMinutes == 20 && r.SetBy == "op" &&
					r.Phone == "010-****-4444" && i.State != dispatch.StateAcknowledged && !i.Alerted119
			}, ""},
		{"responder: unknown", p + "/responder", `{"by":"op","responder":"이웃","state":"on_scene"}`, 400, nil, `no responder \"이웃\"`},
		{"responder: bad state", p + "/responder", `{"by":"op","responder":"guardian-1","state":"arrived"}`, 400, nil, "on_the_way"},
		{"responder: eta with on scene", p + "/responder", `{"by":"op","responder":"guardian-1","state":"on_scene","eta_minutes":5}`, 400, nil, "eta_minutes"},
		{"send119 without a reason", p + "/send119", `{"by":"op"}`, 400, nil, "reason"},
		{"send119", p + "/send119", `{"by":"op","reason":"resident does not answer"}`, 200,
			func(i dispatch.Incident) bool { return i.Alerted119 }, ""},
		{"send119 again", p + "/send119", `{"by":"op2","reason":"pressed again"}`, 200,
			func(i dispatch.Incident) bool { return i.Alerted119 }, ""},
		{"responder: on scene stands down", p + "/responder", `{"by":"op","responder":"guardian:최영희","state":"on_scene"}`, 200,
			func(i dispatch.Incident) bool { return i.State == dispatch.StateAcknowledged }, ""},
		{"send119 after stand down", p + "/send119", `{"by":"op","reason":"x"}`, 200, nil, ""},
		{"resolve", p + "/resolve", `{"by":"op","disposition":"real_emergency"}`, 200, nil, ""},
		{"send119 closed", p + "/send119", `{"by":"op","reason":"x"}`, 409, nil, ""},
	})
	code, body := e.call(t, testToken, "GET", p, "")
	var got struct {
		Incident      map[string]any
		Timeline      []dispatch.TimelineEntry
		Notifications []dispatch.OutboxRow
	}
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("get: %d %s", code, body)
	}
	// The guardian and the social worker (the monitoring centre at night)
	// the fall's first step reached.
	rs, _ := got.Incident["responders"].([]any)
	if len(rs) != 2 {
		t.Fatalf("responders in the incident JSON: %v", got.Incident["responders"])
	}
	guardian := rs[0].(map[string]any)
	for _, k := range []string{"id", "role", "name", "phone", "state", "at", "via", "set_by"} {
		if _, ok := guardian[k]; !ok {
			t.Errorf("responder JSON lacks %q: %v", k, guardian)
		}
	}
	var alerts, again int
	for _, n := range got.Notifications {
		if n.Channel == dispatch.Channel119 && n.MsgType == dispatch.MsgAlert {
			alerts++
		}
	}
	for _, te := range got.Timeline {
		if te.Action == dispatch.ActSend119 && strings.Contains(te.Detail, "already alerted") {
			again++
		}
	}
	if alerts != 1 || again != 2 {
		t.Errorf("119 alerts queued %d (want 1), repeated presses recorded %d (want 2)", alerts, again)
	}
}

// apiStep is one action of a scripted sequence: the answer's status, what
// its body says, and a check of the incident it returns.
type apiStep struct {
	name, path, body string
	want             int
	check            func(dispatch.Incident) bool
	says             string
}

func (e *incidentEnv) runSteps(t *testing.T, steps []apiStep) {
	t.Helper()
	for _, st := range steps {
		code, body := e.call(t, testToken, "POST", st.path, st.body)
		if code != st.want || !strings.Contains(string(body), st.says) {
			t.Fatalf("%s: status %d, want %d saying %q: %s", st.name, code, st.want, st.says, body)
		}
		if st.check != nil {
			var got dispatch.Incident
			if err := json.Unmarshal(body, &got); err != nil || !st.check(got) {
				t.Fatalf("%s: %s (%v)", st.name, body, err)
			}
		}
	}
}
