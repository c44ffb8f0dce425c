package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	mock119 "github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/store"
)

// capNotifier builds each alert with cap.Build and posts it with a
// cap.Sender, as the gateway does (its adapter adds the resident, place and
// guardians; the cost that matters here is the HTTP POST).
type capNotifier struct{ sender *cap.Sender }

func (c capNotifier) Notify(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	id, body, err := cap.Build(cap.Message{IncidentID: n.Incident.ID, HubID: string(n.Incident.Hub),
		Sender: "gw@dolbom.test", Sent: time.Now(), Cause: dispatch.CategorySOS, Priority: int(n.Incident.Priority),
		SummaryKO: n.Incident.Explanation.Ko, SummaryEN: n.Incident.Explanation.En})
	if err != nil {
		return "", false, err
	}
	retry, err := c.sender.Send(ctx, id, body)
	return id, retry, err
}

// arrivals wraps the mock 119 receiver and stamps when each incident's
// alert arrived.
type arrivals struct {
	next http.Handler
	mu   sync.Mutex
	at   map[string]time.Time // by CAP identifier
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.next.ServeHTTP(w, r)
	a.mu.Lock()
	a.at[r.Header.Get("Idempotency-Key")] = time.Now()
	a.mu.Unlock()
}

func (a *arrivals) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}

// BenchmarkCommittedToCAP measures incident committed (HandleDetection
// returned) -> the CAP alert received by a local mock 119 receiver, with
// SOS detections at a steady 50 per second (far above the national rate of
// one every few minutes; the burst case is BenchmarkBurst). The wake-up is
// in-process on SQLite; on PostgreSQL the NOTIFY listener runs too.
func BenchmarkCommittedToCAP(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg store.Config) {
		rc := &arrivals{next: mock119.New(mock119.Options{Logger: zerolog.Nop()}).Handler(), at: map[string]time.Time{}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		sender, err := cap.NewSender(cap.SenderOptions{Endpoints: []string{srv.URL + "/cap"}})
		if err != nil {
			b.Fatal(err)
		}
		h := start(b, cfg, crashPolicies, func(c *dispatch.Config) {
			c.Notifiers = map[dispatch.Channel]dispatch.Notifier{dispatch.Channel119: capNotifier{sender: sender}}
			c.PollInterval = time.Second // the wake-up, not the poll, must carry the latency
		})
		ctx := context.Background()
		episode := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		const interval = 20 * time.Millisecond
		type sent struct {
			id        string
			committed time.Time
		}
		var all []sent
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			tick := time.Now()
			inc, err := h.d.HandleDetection(ctx, det(homeN(i), detectors.CauseSOS, 1, detectors.Firing, episode))
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, sent{id: cap.Identifier("gw@dolbom.test", inc.ID, 0), committed: time.Now()})
			i++
			time.Sleep(time.Until(tick.Add(interval)))
		}
		b.StopTimer()
		var lat []time.Duration
		deadline := time.Now().Add(30 * time.Second)
		for _, s := range all {
			for {
				at, ok := rc.get(s.id)
				if ok {
					lat = append(lat, at.Sub(s.committed))
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("alert %s never arrived", s.id)
				}
				time.Sleep(time.Millisecond)
			}
		}
		reportPercentiles(b, lat)
	})
}
