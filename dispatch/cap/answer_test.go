package cap

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAnswerHandler(t *testing.T) {
	now := time.Date(2026, 3, 14, 1, 5, 0, 0, time.UTC)
	auth := AnswerAuth{BearerToken: "secret", HMACKey: []byte("k"), Now: func() time.Time { return now }}
	var applied []Answer
	apply := func(_ context.Context, a Answer) error {
		if a.IncidentID == "nope" {
			return ErrUnknownIncident
		}
		if a.IncidentID == "broken" {
			return errors.New("store down")
		}
		applied = append(applied, a)
		return nil
	}
	h := AnswerHandler(auth, apply)
	sign := func(r *http.Request, body string, at time.Time) {
		ts, sig := SignAnswer([]byte("k"), at, []byte(body))
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderSignature, sig)
	}
	bearer := func(tok string) func(*http.Request, string) {
		return func(r *http.Request, _ string) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	tests := []struct {
		name string
		body string
		auth func(*http.Request, string)
		want int
	}{
		{"accepted by bearer", `{"identifier":"dolbom.x.inc-1.0","status":"accepted","at":"2026-03-14T10:05:00+09:00"}`, bearer("secret"), 204},
		{"dispatched by hmac", `{"incident_id":"inc-1","status":"dispatched","unit":"강남 구급1"}`, func(r *http.Request, b string) { sign(r, b, now) }, 204},
		{"closed with disposition", `{"incident_id":"inc-1","status":"closed","disposition":"transported"}`, bearer("secret"), 204},
		{"cancel acknowledged", `{"incident_id":"inc-1","status":"cancel_acknowledged"}`, bearer("secret"), 204},
		{"wrong token", `{"incident_id":"inc-1","status":"accepted"}`, bearer("guess"), 401},
		{"no auth", `{"incident_id":"inc-1","status":"accepted"}`, func(*http.Request, string) {}, 401},
		{"stale hmac", `{"incident_id":"inc-1","status":"accepted"}`, func(r *http.Request, b string) { sign(r, b, now.Add(-time.Hour)) }, 401},
		{"tampered hmac", `{"incident_id":"inc-1","status":"accepted"}`, func(r *http.Request, b string) { sign(r, strings.Replace(b, "accepted", "rejected", 1), now) }, 401},
		{"rejected needs reason", `{"incident_id":"inc-1","status":"rejected"}`, bearer("secret"), 400},
		{"closed needs disposition", `{"incident_id":"inc-1","status":"closed"}`, bearer("secret"), 400},
		{"unknown status", `{"incident_id":"inc-1","status":"lunch"}`, bearer("secret"), 400},
		{"no id", `{"status":"accepted"}`, bearer("secret"), 400},
		{"unknown field", `{"incident_id":"inc-1","status":"accepted","x":1}`, bearer("secret"), 400},
		{"unknown incident", `{"incident_id":"nope","status":"accepted"}`, bearer("secret"), 404},
		{"apply fails", `{"incident_id":"broken","status":"accepted"}`, bearer("secret"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/119/answers", strings.NewReader(tt.body))
			tt.auth(r, tt.body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
		})
	}
	if len(applied) != 4 || applied[1].Unit != "강남 구급1" || applied[2].Disposition != "transported" || applied[1].At.IsZero() {
		t.Fatalf("applied = %+v", applied)
	}
}

func TestPostAnswerRoundTrip(t *testing.T) {
	got := make(chan Answer, 1)
	auth := AnswerAuth{HMACKey: []byte("shared")}
	srv := httptest.NewServer(AnswerHandler(auth, func(_ context.Context, a Answer) error { got <- a; return nil }))
	defer srv.Close()
	a := Answer{Identifier: "dolbom.x.inc-1.0", Status: AnswerRejected, Reason: "duplicate of 119 call", At: time.Now()}
	if err := PostAnswer(context.Background(), srv.Client(), srv.URL, auth, a); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b.Reason != a.Reason || b.Status != AnswerRejected {
		t.Fatalf("received %+v", b)
	}
	err := PostAnswer(context.Background(), srv.Client(), srv.URL, AnswerAuth{HMACKey: []byte("wrong")}, a)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
}
