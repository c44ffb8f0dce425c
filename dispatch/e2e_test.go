package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// Short windows so that the real-time tests run in about a second: the
// shape of the defaults (verify, then guardians, then 119) with
// milliseconds for minutes.
const fastPolicies = `{
  "after_hours": {"night_from": 0, "night_to": 0, "weekends": false, "reroute": {}},
  "second_attempt_after": "400ms",
  "backoff_initial": "20ms",
  "backoff_max": "80ms",
  "causes": {
    "sos": {"steps": [
      {"after": "0s", "notify": [{"to": "119", "via": "cap"}, {"to": "guardian", "via": "sms"}]},
      {"after": "300ms", "notify": [{"to": "social_worker", "via": "voice"}]}]},
    "fall": {"verify": {"window": "200ms"}, "steps": [
      {"after": "0s", "notify": [{"to": "guardian", "via": "voice"}]},
      {"after": "300ms", "notify": [{"to": "119", "via": "cap"}]}]}
  }
}`

// recorder is a set of fake channels that remember what they were given.
type recorder struct {
	mu   sync.Mutex
	sent []dispatch.Notification
	cmds []devices.Command
	// fail, when set, decides the outcome of a send.
	fail func(n dispatch.Notification) (retry bool, err error)
}

func (r *recorder) notifier(channel dispatch.Channel) dispatch.NotifierFunc {
	return func(ctx context.Context, n dispatch.Notification) (string, bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail != nil {
			if retry, err := r.fail(n); err != nil {
				return "", retry, err
			}
		}
		r.sent = append(r.sent, n)
		return string(channel) + "-ref-" + n.Key, false, nil
	}
}

type commanderFunc func(ctx context.Context, hub devices.HubID, cmd devices.Command) error

func (f commanderFunc) SendCommand(ctx context.Context, hub devices.HubID, cmd devices.Command) error {
	return f(ctx, hub, cmd)
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.sent {
		out = append(out, string(n.Channel)+" "+string(n.Type)+" "+n.Recipient.ID+" #"+fmt.Sprint(n.Attempt))
	}
	return out
}

func (r *recorder) count(pred func(n dispatch.Notification) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, n := range r.sent {
		if pred(n) {
			c++
		}
	}
	return c
}

type harness struct {
	d   *dispatch.Dispatcher
	s   *store.Store
	rec *recorder
}

// backends runs fn on SQLite and, when configured, PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, cfg store.Config)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)) })
}

func start(t testing.TB, cfg store.Config, policies string, tweak func(*dispatch.Config)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	seedHome(t, s, "hub-1")
	pol, err := dispatch.ParsePolicies([]byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	dc := dispatch.Config{
		Store: s.Incidents(), Directory: s.Registry(), Policies: pol,
		Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Notifiers: map[dispatch.Channel]dispatch.Notifier{dispatch.Channel119: rec.notifier(dispatch.Channel119), dispatch.ChannelSMS: rec.notifier(dispatch.ChannelSMS), dispatch.ChannelVoice: rec.notifier(dispatch.ChannelVoice), dispatch.ChannelConsole: rec.notifier(dispatch.ChannelConsole)},
		Hubs: commanderFunc(func(ctx context.Context, hub devices.HubID, cmd devices.Command) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.cmds = append(rec.cmds, cmd)
			return nil
		}),
		PollInterval: 50 * time.Millisecond,
	}
	return &harness{d: runDispatcher(t, ctx, cancel, s, dc, tweak), s: s, rec: rec}
}

// runDispatcher makes the dispatcher of dc, changed by tweak if not nil, and
// runs it with ctx until the test ends: then cancel stops it and s closes.
func runDispatcher(t testing.TB, ctx context.Context, cancel func(), s *store.Store, dc dispatch.Config, tweak func(*dispatch.Config)) *dispatch.Dispatcher {
	t.Helper()
	if tweak != nil {
		tweak(&dc)
	}
	d, err := dispatch.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return d
}

func seedHome(t testing.TB, s *store.Store, hub devices.HubID) {
	ctx := context.Background()
	r, err := s.Registry().CreateResident(ctx, devices.Resident{Name: "김영희", Language: "ko", Phone: "+821012345678",
		Address:   devices.Address{Line1: "서울특별시 종로구 세종대로 209", Lat: 37.57, Lon: 126.97},
		Guardians: []devices.Guardian{{Name: "김민수", Relation: "son", Phone: "+821098765432", Order: 1}},
		Consent:   devices.Consent{NotifyGuardians: true, ShareMedicalWith119: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, InstalledAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// homes finds hub-1's resident for every hub: the benchmarks and the crash
// test raise one SOS in each of many homes (a second SOS in a home whose
// first is open joins that incident), each with a guardian to reach.
type homes struct{ dispatch.Directory }

func (h homes) ResidentOfHub(ctx context.Context, _ devices.HubID) (devices.Resident, error) {
	return h.Directory.ResidentOfHub(ctx, "hub-1")
}

// homeN is the hub of the n-th home.
func homeN(n int) devices.HubID { return devices.HubID(fmt.Sprintf("hub-1-%d", n)) }

// manyHomes is start's tweak for many homes sharing hub-1's resident.
func manyHomes(dc *dispatch.Config) { dc.Directory = homes{dc.Directory} }

func det(hub devices.HubID, cause detectors.Cause, prio detectors.Priority, state detectors.State, episode time.Time) detectors.Detection {
	return detectors.Detection{Fingerprint: detectors.Fingerprint(hub, cause, "", episode), Hub: hub, Class: detectors.ClassEmergency,
		Cause: cause, Priority: prio, State: state, Episode: episode, At: episode,
		Explanation: detectors.Explanation{Ko: "응급", En: "emergency"}}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSOSGoesTo119AndGuardiansAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		h := start(t, cfg, fastPolicies, nil)
		ctx := context.Background()
		episode := time.Now().Truncate(time.Second)
		inc, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, episode))
		if err != nil {
			t.Fatal(err)
		}
		// A second press of the same episode updates the incident.
		again, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, episode))
		if err != nil || again.ID != inc.ID || again.Count != 2 {
			t.Fatalf("repeat: %+v %v", again, err)
		}
		eventually(t, "119 and the guardian", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Step == 0 && n.Attempt == 1 }) == 2
		})
		h.rec.mu.Lock()
		for _, n := range h.rec.sent {
			if !n.HasResident || n.Resident.Name != "김영희" || n.Incident.ID != inc.ID || n.Type != dispatch.MsgAlert {
				t.Errorf("notification: %+v", n)
			}
		}
		h.rec.mu.Unlock()
		eventually(t, "state notified", func() bool {
			got, _, err := h.d.Incident(ctx, inc.ID)
			return err == nil && got.State == dispatch.StateNotified
		})
		// Acknowledging stops the escalation: no social worker call, no
		// second SMS attempt.
		if _, err := h.d.Acknowledge(ctx, inc.ID, "김민수", dispatch.ChannelSMS); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond)
		if n := h.rec.count(func(n dispatch.Notification) bool { return n.Step > 0 || n.Attempt > 1 }); n != 0 {
			t.Errorf("%d notifications after the acknowledgement: %v", n, h.rec.keys())
		}
		_, tl, _ := h.d.Incident(ctx, inc.ID)
		if !hasAction(tl, dispatch.ActAcknowledged) || !hasAction(tl, dispatch.ActSent) {
			t.Errorf("timeline: %+v", tl)
		}
	})
}

func hasAction(tl []dispatch.TimelineEntry, action string) bool {
	for _, e := range tl {
		if e.Action == action {
			return true
		}
	}
	return false
}

func TestFallVerifiesThenEscalates(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		h := start(t, cfg, fastPolicies, nil)
		ctx := context.Background()
		inc, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Pending, time.Now().Truncate(time.Second)))
		if err != nil || inc.State != dispatch.StateVerifying {
			t.Fatalf("%+v %v", inc, err)
		}
		eventually(t, "check-in command", func() bool {
			h.rec.mu.Lock()
			defer h.rec.mu.Unlock()
			return len(h.rec.cmds) == 1 && h.rec.cmds[0].Type == devices.CmdCheckIn
		})
		if n := len(h.rec.keys()); n != 0 {
			t.Fatalf("notified during the cancel window: %v", h.rec.keys())
		}
		// Nobody cancels: guardian call, then (voicemail, not an
		// acknowledgement) the second attempt and 119.
		eventually(t, "guardian call", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.ChannelVoice }) == 1
		})
		if err := h.d.Delivered(ctx, "voice-ref-"+dispatch.NotificationKey(inc.ID, 0, "guardian-1", dispatch.ChannelVoice, 1), "voicemail"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "119 after the step delay", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) == 1
		})
		eventually(t, "second call attempt", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.ChannelVoice && n.Attempt == 2 }) == 1
		})
		got, tl, _ := h.d.Incident(ctx, inc.ID)
		if got.State != dispatch.StateNotified || !hasAction(tl, dispatch.ActVerifyTimeout) || !hasAction(tl, dispatch.ActDelivered) {
			t.Errorf("incident %s, timeline %+v", got.State, tl)
		}
		// The resident's late cancel reaches 119 as a cancel.
		if _, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Cancelled, inc.Episode)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "cancel to 119", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool {
				return n.Channel == dispatch.Channel119 && n.Type == dispatch.MsgCancel
			}) == 1
		})
		h.rec.mu.Lock()
		for _, n := range h.rec.sent {
			if n.Type == dispatch.MsgCancel && n.HasResident {
				t.Errorf("resident disclosed after the incident closed")
			}
		}
		h.rec.mu.Unlock()
	})
}

func TestFallCancelledInWindowAlertsNobody(t *testing.T) {
	h := start(t, storetest.SQLite(t), fastPolicies, nil)
	ctx := context.Background()
	ep := time.Now().Truncate(time.Second)
	inc, _ := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Pending, ep))
	got, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Cancelled, ep))
	if err != nil || got.ID != inc.ID || got.State != dispatch.StateCancelled {
		t.Fatalf("%+v %v", got, err)
	}
	time.Sleep(700 * time.Millisecond)
	if k := h.rec.keys(); len(k) != 0 {
		t.Errorf("notified after a cancel in the window: %v", k)
	}
}

// Test119DownThenBack: 119's endpoint fails for a while; its rows keep
// retrying and arrive once when it is back, while the escalation moved on
// to the social worker meanwhile.
func Test119DownThenBack(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		var down sync.Map
		down.Store(dispatch.Channel119, true)
		attempts := 0
		h := start(t, cfg, fastPolicies, nil)
		h.rec.fail = func(n dispatch.Notification) (bool, error) {
			if _, ok := down.Load(n.Channel); ok {
				attempts++
				return true, errors.New("connection refused")
			}
			return false, nil
		}
		ctx := context.Background()
		inc, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now().Truncate(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the social worker step while 119 is down", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Recipient.Role == dispatch.RoleSocialWorker }) == 1
		})
		if h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) != 0 {
			t.Fatal("119 received while down")
		}
		h.rec.mu.Lock()
		tried := attempts
		h.rec.mu.Unlock()
		if tried < 2 {
			t.Errorf("119 tried %d times while down", tried)
		}
		down.Delete(dispatch.Channel119)
		eventually(t, "119 once it is back", func() bool {
			return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) == 1
		})
		time.Sleep(300 * time.Millisecond)
		if c := h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }); c != 1 {
			t.Errorf("119 received %d times", c)
		}
		_, tl, _ := h.d.Incident(ctx, inc.ID)
		if !hasAction(tl, dispatch.ActRetrying) {
			t.Errorf("no retry on the timeline: %+v", tl)
		}
		for _, n := range h.rec.sent {
			if n.Channel == dispatch.Channel119 && !containsLine(n.Tried, "SMS") {
				t.Errorf("119 not told what was tried: %v", n.Tried)
			}
		}
	})
}

func containsLine(lines []dispatch.TriedLine, s string) bool {
	for _, l := range lines {
		if strings.Contains(l.En, s) {
			return true
		}
	}
	return false
}

func TestLiveFeedResumes(t *testing.T) {
	h := start(t, storetest.SQLite(t), fastPolicies, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inc, _ := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now().Truncate(time.Second)))
	feed, err := h.d.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := <-feed
	if first.ID != inc.ID {
		t.Fatalf("replayed %+v", first)
	}
	note, _ := h.d.Note(ctx, inc.ID, "op", "called the neighbour")
	for got := range feed {
		if got.Seq == note.Seq {
			break
		}
		if got.Seq <= first.Seq {
			t.Fatalf("feed went back: %d after %d", got.Seq, first.Seq)
		}
	}
	// Resume after the note: nothing older comes back.
	resumed, _ := h.d.Subscribe(ctx, note.Seq)
	h.d.Assign(ctx, inc.ID, "sw-7", "op")
	if got := <-resumed; got.Seq <= note.Seq || got.AssignedTo != "sw-7" && got.Seq <= note.Seq {
		t.Errorf("resumed with %+v", got)
	}
}

// A fall, then the SOS: one incident through the store, and the SOS
// replayed (the detectors after a crash) or pressed again once the incident
// is closed finds that incident by its alias, never a second one; a
// restart's re-send of the open SOS sends 119 no Update.
func TestFoldThroughTheStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg store.Config) {
		h := start(t, cfg, fastPolicies, nil)
		ctx := context.Background()
		ep := time.Now().Truncate(time.Second)
		fall, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Pending, ep))
		if err != nil {
			t.Fatal(err)
		}
		sosDet := det("hub-1", detectors.CauseSOS, 1, detectors.Firing, ep.Add(2*time.Second))
		sos, err := h.d.HandleDetection(ctx, sosDet)
		if err != nil || sos.ID != fall.ID || sos.Cause != detectors.CauseSOS || len(sos.Episodes) != 2 {
			t.Fatalf("the SOS after the fall: %+v %v", sos, err)
		}
		eventually(t, "119's alert accepted", func() bool {
			inc, _, err := h.d.Incident(ctx, fall.ID)
			return err == nil && inc.Sent119
		})
		again := sosDet
		again.Evidence.Facts = []detectors.Fact{{Name: "gateway_restart", Value: 1}, {Name: "episode_age", Value: 9, Unit: "s"}}
		again.Explanation = detectors.Explanation{En: "SOS: re-sent after a gateway restart"}
		if inc, err := h.d.HandleDetection(ctx, again); err != nil || inc.ID != fall.ID || inc.Updates119 != 0 {
			t.Fatalf("the restart's re-send: %+v %v", inc, err)
		}
		if _, err := h.d.Resolve(ctx, fall.ID, dispatch.DispositionRealEmergency, "op", ""); err != nil {
			t.Fatal(err)
		}
		if inc, err := h.d.HandleDetection(ctx, sosDet); err != nil || inc.ID != fall.ID || !inc.State.Closed() {
			t.Fatalf("the SOS replayed after the close: %+v %v", inc, err)
		}
		time.Sleep(500 * time.Millisecond)
		if n := h.rec.count(func(n dispatch.Notification) bool {
			return n.Channel == dispatch.Channel119 && n.Type == dispatch.MsgAlert
		}); n != 1 {
			t.Errorf("119 got %d alerts, want 1", n)
		}
		if n := h.rec.count(func(n dispatch.Notification) bool {
			return n.Channel == dispatch.Channel119 && n.Type == dispatch.MsgUpdate
		}); n != 0 {
			t.Errorf("119 got %d updates, want none", n)
		}
		list, err := h.d.ListIncidents(ctx, dispatch.IncidentQuery{Hub: "hub-1"})
		if err != nil || len(list) != 1 {
			t.Errorf("%d incidents for the home, want 1 (%v)", len(list), err)
		}
	})
}

// A dispatcher's "send to 119 now" during a fall's check-in window ends the
// window: 119 is alerted once and the first step's guardians are told too
// (they used to hear nothing when 119 answered before the window ended).
func TestSend119DuringCheckInTellsTheGuardians(t *testing.T) {
	const longWindow = `{
  "after_hours": {"night_from": 0, "night_to": 0, "weekends": false, "reroute": {}},
  "causes": {
    "fall": {"verify": {"window": "10m"}, "steps": [
      {"after": "0s", "notify": [{"to": "guardian", "via": "voice"}]},
      {"after": "10m", "notify": [{"to": "119", "via": "cap"}]}]}
  }
}`
	h := start(t, storetest.SQLite(t), longWindow, nil)
	ctx := context.Background()
	inc, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseFall, 2, detectors.Pending, time.Now().Truncate(time.Second)))
	if err != nil || inc.State != dispatch.StateVerifying {
		t.Fatalf("%+v %v", inc, err)
	}
	if _, err := h.d.Send119(ctx, inc.ID, "박상황", "관제 판단"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "119 and the guardian's call", func() bool {
		return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 }) == 1 &&
			h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.ChannelVoice && n.Step == 0 }) == 1
	})
	got, _, _ := h.d.Incident(ctx, inc.ID)
	if got.State == dispatch.StateVerifying {
		t.Errorf("still in the check-in window after send to 119: %s", got.State)
	}
}
