package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// incidentEnv is the incident API on a real dispatcher and SQLite store.
type incidentEnv struct {
	srv *httptest.Server
	d   *dispatch.Dispatcher
	s   *store.Store
	// routes are the patterns of the APIs served (regionEnv).
	routes []string
}

func newIncidentEnv(t *testing.T) *incidentEnv {
	t.Helper()
	return newIncidentEnvWith(t, api.IncidentAPIConfig{}, nil)
}

// newIncidentEnvWith is newIncidentEnv with the API's settings and a hook
// on the server before it starts.
func newIncidentEnvWith(t *testing.T, cfg api.IncidentAPIConfig, tune func(*http.Server)) *incidentEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	// No notifiers: rows fail at once, which is all these tests need.
	d, err := dispatch.New(dispatch.Config{Store: s.Incidents(), Directory: s.Registry(), Logger: zerolog.Nop(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	cfg.Token = testToken
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 50 * time.Millisecond
	}
	srv := httptest.NewUnstartedServer(api.NewIncidentAPI(cfg, d, zerolog.Nop()))
	if tune != nil {
		tune(srv.Config)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		s.Close()
	})
	return &incidentEnv{srv: srv, d: d, s: s}
}

func (e *incidentEnv) open(t *testing.T, hub devices.HubID, cause detectors.Cause, prio detectors.Priority, episode time.Time) dispatch.Incident {
	t.Helper()
	inc, err := e.d.HandleDetection(context.Background(), detectors.Detection{
		Fingerprint: detectors.Fingerprint(hub, cause, "", episode), Hub: hub, Class: detectors.ClassEmergency,
		Cause: cause, Priority: prio, State: detectors.Firing, Episode: episode, At: episode})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func (e *incidentEnv) call(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, []byte(b.String())
}

func TestIncidentAPIAuth(t *testing.T) {
	e := newIncidentEnv(t)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope", http.StatusUnauthorized},
		{"right token", testToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := e.call(t, tc.token, "GET", "/api/v1/incidents", ""); code != tc.want {
				t.Errorf("status %d, want %d: %s", code, tc.want, body)
			}
		})
	}
}

func TestIncidentAPIListFiltersAndOrder(t *testing.T) {
	e := newIncidentEnv(t)
	ep := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// hub-a's test SOS is closed before its fall: a detection joins its
	// home's open incident (dispatch folds one emergency into one incident).
	dev := e.open(t, "hub-a", detectors.CauseSOS, 1, ep)
	if _, err := e.d.Resolve(context.Background(), dev.ID, dispatch.DispositionTest, "op", ""); err != nil {
		t.Fatal(err)
	}
	fall := e.open(t, "hub-a", detectors.CauseFall, 2, ep.Add(time.Minute))
	sos := e.open(t, "hub-b", detectors.CauseSOS, 1, ep.Add(2*time.Minute))
	for _, tc := range []struct {
		query string
		want  []string
		code  int
	}{
		{"", []string{dev.ID, sos.ID, fall.ID}, 200}, // priority, then age
		{"?hub=hub-a", []string{dev.ID, fall.ID}, 200},
		{"?cause=sos", []string{dev.ID, sos.ID}, 200},
		{"?priority=P2", []string{fall.ID}, 200},
		{"?state=active", []string{sos.ID, fall.ID}, 200},
		{"?state=resolved", []string{dev.ID}, 200},
		{"?limit=1", []string{dev.ID}, 200},
		{"?state=bogus", nil, 400},
		{"?priority=9", nil, 400},
		{"?limit=0", nil, 400},
		{"?since=yesterday", nil, 400},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body := e.call(t, testToken, "GET", "/api/v1/incidents"+tc.query, "")
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if code != 200 {
				return
			}
			var got struct{ Incidents []dispatch.Incident }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, inc := range got.Incidents {
				ids = append(ids, inc.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestIncidentAPIActions(t *testing.T) {
	e := newIncidentEnv(t)
	inc := e.open(t, "hub-a", detectors.CauseSOS, 1, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	p := "/api/v1/incidents/" + inc.ID
	e.runSteps(t, []apiStep{
		{"unknown incident", "/api/v1/incidents/inc-none/acknowledge", `{"by":"op"}`, 404, nil, ""},
		{"unknown action", p + "/escalate", `{"by":"op"}`, 404, nil, ""},
		{"nobody acting", p + "/acknowledge", `{}`, 400, nil, ""},
		{"not json", p + "/note", `{`, 400, nil, ""},
		{"empty note", p + "/note", `{"by":"op"}`, 400, nil, ""},
		{"acknowledge", p + "/acknowledge", `{"by":"op"}`, 200, func(i dispatch.Incident) bool {
			return i.State == dispatch.StateAcknowledged && i.AcknowledgedBy == "op" && i.AcknowledgedVia == "console"
		}, ""},
		{"assign", p + "/assign", `{"by":"op","assignee":"sw-7"}`, 200, func(i dispatch.Incident) bool { return i.AssignedTo == "sw-7" }, ""},
		{"note", p + "/note", `{"by":"op","text":"called the neighbour"}`, 200, nil, ""},
		{"invalid disposition", p + "/resolve", `{"by":"op","disposition":"maybe"}`, 400, nil, ""},
		{"resolve", p + "/resolve", `{"by":"op","disposition":"false_alarm","text":"toaster"}`, 200, func(i dispatch.Incident) bool {
			return i.State == dispatch.StateResolved && i.Disposition == dispatch.DispositionFalseAlarm
		}, ""},
		{"acknowledge closed", p + "/acknowledge", `{"by":"op"}`, 409, nil, ""},
		{"cancel closed", p + "/cancel", `{"by":"op","reason":"x"}`, 409, nil, ""},
		{"resolve closed", p + "/resolve", `{"by":"op","disposition":"test"}`, 409, nil, ""},
	})
	code, body := e.call(t, testToken, "GET", p, "")
	var got struct {
		Incident dispatch.Incident
		Timeline []dispatch.TimelineEntry
	}
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("get: %d %s", code, body)
	}
	var actions []string
	for _, e := range got.Timeline {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{dispatch.ActOpened, dispatch.ActAcknowledged, dispatch.ActAssigned, dispatch.ActNote, dispatch.ActResolved} {
		if !strings.Contains(","+strings.Join(actions, ",")+",", ","+want+",") {
			t.Errorf("timeline %v lacks %s", actions, want)
		}
	}
	if code, _ := e.call(t, testToken, "GET", "/api/v1/incidents/inc-none", ""); code != 404 {
		t.Errorf("get unknown: %d", code)
	}

	// Cancel of an open incident.
	other := e.open(t, "hub-b", detectors.CauseSOS, 1, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	code, body = e.call(t, testToken, "POST", "/api/v1/incidents/"+other.ID+"/cancel", `{"by":"op","reason":"resident called back"}`)
	var cancelled dispatch.Incident
	if code != 200 || json.Unmarshal(body, &cancelled) != nil || cancelled.State != dispatch.StateCancelled {
		t.Errorf("cancel: %d %s", code, body)
	}
}

// sseEvent is one event read from the stream.
type sseEvent struct{ id, event, data string }

// readSSE returns the stream's events and comments, one per blank-line
// separated block, on a channel.
func readSSE(t *testing.T, resp *http.Response) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				out <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.event = "comment" + line
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

func (e *incidentEnv) stream(t *testing.T, lastID string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/incidents/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return readSSE(t, resp)
}

// nextIncident skips comments and returns the next incident event.
func nextIncident(t *testing.T, events <-chan sseEvent) (sseEvent, dispatch.Incident) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		ev := nextEvent(t, events, timeout, func() string { return "no incident event" })
		if ev.event == "incident" {
			return ev, incidentOf(t, ev)
		}
	}
}

// nextEvent returns the stream's next event, failing t when the stream ends
// or timeout fires first (saying why with waiting).
func nextEvent(t *testing.T, events <-chan sseEvent, timeout <-chan time.Time, waiting func() string) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-timeout:
		t.Fatal(waiting())
	}
	return sseEvent{}
}

// incidentOf decodes an incident event's data.
func incidentOf(t *testing.T, ev sseEvent) dispatch.Incident {
	t.Helper()
	var inc dispatch.Incident
	if err := json.Unmarshal([]byte(ev.data), &inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestIncidentAPIStream(t *testing.T) {
	e := newIncidentEnv(t)
	events := e.stream(t, "")
	inc := e.open(t, "hub-a", detectors.CauseSOS, 1, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ev, got := nextIncident(t, events)
	if got.ID != inc.ID || ev.id == "" {
		t.Fatalf("event %+v", ev)
	}
	// A heartbeat comment comes when nothing changes (every 50 ms here).
	sawBeat := false
	for deadline := time.After(5 * time.Second); !sawBeat; {
		select {
		case ev := <-events:
			sawBeat = ev.event == "comment: heartbeat"
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
	// Resume: after the note's id, only later changes come.
	note, err := e.d.Note(context.Background(), inc.ID, "op", "on my way")
	if err != nil {
		t.Fatal(err)
	}
	resumed := e.stream(t, strings.TrimSpace(jsonInt(note.Seq)))
	assigned, err := e.d.Assign(context.Background(), inc.ID, "sw-7", "op")
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, got := nextIncident(t, resumed)
		if got.Seq <= note.Seq {
			t.Fatalf("resumed stream repeated seq %d (after %d): %+v", got.Seq, note.Seq, ev)
		}
		if got.Seq == assigned.Seq {
			break
		}
	}
	if code, _ := e.call(t, testToken, "GET", "/api/v1/incidents/stream?last_event_id=x", ""); code != 400 {
		t.Errorf("bad Last-Event-ID: %d", code)
	}
}

// untilSeq reads incident events until the change seq arrives and returns
// those before it, and the other events (by name) seen on the way.
func untilSeq(t *testing.T, events <-chan sseEvent, seq int64) (before []dispatch.Incident, other []string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		ev := nextEvent(t, events, timeout, func() string {
			return fmt.Sprintf("change %d never came; %d incident events before", seq, len(before))
		})
		if ev.event != "incident" {
			if !strings.HasPrefix(ev.event, "comment") {
				other = append(other, ev.event)
			}
			continue
		}
		inc := incidentOf(t, ev)
		if inc.Seq == seq {
			return before, other
		}
		before = append(before, inc)
	}
}

// A console that connects without Last-Event-ID gets the active incidents
// and the latest changes, not every incident ever (1,500 here: one event
// each, per tab, per reconnect); one that resumes far behind is told to
// reload and gets the same bounded start.
func TestIncidentAPIStreamStartIsBounded(t *testing.T) {
	e := newIncidentEnv(t)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := e.open(t, "hub-first", detectors.CauseSOS, 2, t0)
	storetest.CloseMany(t, e.s, 1500)
	var open []dispatch.Incident
	for i, hub := range []devices.HubID{"hub-a", "hub-b", "hub-c"} {
		open = append(open, e.open(t, hub, detectors.CauseSOS, 1, t0.Add(time.Duration(i)*time.Minute)))
	}
	for _, tc := range []struct {
		name, lastID string
		reset        bool
	}{
		{"fresh", "", false},
		{"far behind", strings.TrimSpace(jsonInt(first.Seq)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := e.stream(t, tc.lastID)
			// A change made once the stream is open marks the end of its
			// start (it comes after what was sent before it).
			marker, err := e.d.Note(context.Background(), first.ID, "op", "marker "+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			before, other := untilSeq(t, events, marker.Seq)
			if len(before) > 200 {
				t.Fatalf("the stream started with %d incidents (of 1,504), want the active ones and the latest changes", len(before))
			}
			seen := map[string]bool{}
			for _, inc := range before {
				seen[inc.ID] = true
			}
			for _, inc := range append(open, first) {
				if !seen[inc.ID] {
					t.Errorf("the start misses active incident %s", inc.ID)
				}
			}
			if reset := len(other) > 0 && other[0] == "reset"; reset != tc.reset {
				t.Errorf("other events %v; want a reset first: %v", other, tc.reset)
			}
		})
	}
}

// A console that stops reading its stream (a frozen tab, a dead link that
// still looks open) is dropped once a write has waited StreamWriteTimeout,
// and its subscription with it.
func TestIncidentAPIStreamDropsAStalledReader(t *testing.T) {
	closed := make(chan struct{}, 16)
	e := newIncidentEnvWith(t, api.IncidentAPIConfig{StreamWriteTimeout: 200 * time.Millisecond}, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed <- struct{}{}
			}
		}
	})
	// 300 active incidents of ~32 KB: ~10 MB, more than the sockets buffer.
	big := strings.Repeat("거실에서 낙상이 감지되었습니다. ", 800)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 300 {
		hub := devices.HubID(fmt.Sprintf("hub-%03d", i))
		if _, err := e.d.HandleDetection(context.Background(), detectors.Detection{
			Fingerprint: detectors.Fingerprint(hub, detectors.CauseFall, "", t0), Hub: hub, Class: detectors.ClassEmergency,
			Cause: detectors.CauseFall, Priority: 2, State: detectors.Firing, Episode: t0, At: t0,
			Explanation: detectors.Explanation{Ko: big, En: "a fall"}}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/incidents/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
	// Never read: the server's writes block once the buffers are full.
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("a stream nobody reads still holds its connection after 15 s (StreamWriteTimeout 200 ms)")
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestIncidentAPIPolicies(t *testing.T) {
	e := newIncidentEnv(t)
	code, body := e.call(t, testToken, "GET", "/api/v1/policies/sos", "")
	if code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, _ := e.call(t, testToken, "GET", "/api/v1/policies/no-such-cause", ""); code != 404 {
		t.Errorf("unknown cause: %d", code)
	}
	for _, tc := range []struct{ name, body string }{
		{"not json", `{`},
		{"no steps", `{"steps": []}`},
		{"unknown channel", `{"steps": [{"after": "0s", "notify": [{"to": "119", "via": "pigeon"}]}]}`},
	} {
		if code, body := e.call(t, testToken, "PUT", "/api/v1/policies/sos", tc.body); code != 400 {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	edited := `{"steps": [{"after": "0s", "notify": [{"to": "119", "via": "cap"}]}]}`
	if code, body := e.call(t, testToken, "PUT", "/api/v1/policies/sos", edited); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if p, ok := e.d.Policy(detectors.CauseSOS); !ok || len(p.Steps) != 1 || len(p.Steps[0].Notify) != 1 {
		t.Errorf("policy in force: %+v", p)
	}
}
