package dispatch_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store/storetest"
)

// On a simulated clock, Settle is all a clock's owner waits for: an
// escalation step is delivered when Settle returns after the clock passed
// its due time, never before, and no wall time need pass (the claim loop's
// poll interval is an hour here; the soak steps a whole gateway this way).
func TestSettleOnSimulatedClock(t *testing.T) {
	const policies = `{
  "after_hours": {"night_from": 0, "night_to": 0, "weekends": false, "reroute": {}},
  "second_attempt_after": "2m", "backoff_initial": "1m", "backoff_max": "5m",
  "causes": {"sos": {"steps": [
      {"after": "0s", "notify": [{"to": "guardian", "via": "sms"}]},
      {"after": "10m", "notify": [{"to": "119", "via": "cap"}]}]}}
}`
	var ms atomic.Int64
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ms.Store(t0.UnixMilli())
	now := func() time.Time { return time.UnixMilli(ms.Load()) }
	cfg := storetest.SQLite(t)
	cfg.Now = now
	h := start(t, cfg, policies, func(dc *dispatch.Config) { dc.Now, dc.PollInterval = now, time.Hour })
	to119 := func() int {
		return h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.Channel119 })
	}
	h.d.Detect(det("hub-1", detectors.CauseSOS, 1, detectors.Firing, t0))
	if err := h.d.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := h.rec.count(func(n dispatch.Notification) bool { return n.Channel == dispatch.ChannelSMS }); n != 1 || to119() != 0 {
		t.Fatalf("at the detection: %d SMS and %d to 119, want the guardian's SMS only (%q)", n, to119(), h.rec.keys())
	}
	ms.Store(t0.Add(9 * time.Minute).UnixMilli())
	if err := h.d.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if to119() != 0 {
		t.Fatalf("119 alerted at 9 simulated minutes, its step is at 10 (%q)", h.rec.keys())
	}
	ms.Store(t0.Add(11 * time.Minute).UnixMilli())
	if err := h.d.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if to119() != 1 {
		t.Fatalf("%d to 119 once Settle returned at 11 simulated minutes, want 1 (%q)", to119(), h.rec.keys())
	}
}
