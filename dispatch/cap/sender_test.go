package cap

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSenderOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantRetry bool
		wantErr   bool
	}{
		{"accepted", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }, false, false},
		{"duplicate is success", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusConflict) }, false, false},
		{"server error retries", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, true, true},
		{"too many requests retries", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }, true, true},
		{"bad request does not", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }, false, true},
		{"slow receiver times out and retries", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			s, err := NewSender(SenderOptions{Endpoints: []string{srv.URL}, RootCAs: pool, Timeout: 200 * time.Millisecond, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := s.Send(context.Background(), "id-1", []byte("<alert/>"))
			if retry != tt.wantRetry || (err != nil) != tt.wantErr {
				t.Fatalf("Send = (%v, %v), want retry %v err %v", retry, err, tt.wantRetry, tt.wantErr)
			}
		})
	}
}

func TestSenderHeadersAndTLSRoots(t *testing.T) {
	var got http.Header
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	}))
	defer srv.Close()

	// Without the test CA the certificate is unknown: a connection error, retryable.
	s, _ := NewSender(SenderOptions{Endpoints: []string{srv.URL}, Logger: zerolog.Nop()})
	if retry, err := s.Send(context.Background(), "id-1", []byte("<alert/>")); err == nil || !retry {
		t.Fatalf("untrusted certificate: Send = (%v, %v)", retry, err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s, _ = NewSender(SenderOptions{Endpoints: []string{srv.URL}, RootCAs: pool, BearerToken: "tok", Logger: zerolog.Nop()})
	if _, err := s.Send(context.Background(), "dolbom.x.inc-1.0", []byte("<alert/>")); err != nil {
		t.Fatal(err)
	}
	if got.Get("Content-Type") != ContentType || got.Get("Idempotency-Key") != "dolbom.x.inc-1.0" || got.Get("Authorization") != "Bearer tok" {
		t.Fatalf("headers = %v", got)
	}
}

func TestSenderConnectionRefusedRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, _ := NewSender(SenderOptions{Endpoints: []string{"http://" + addr + "/cap"}, Logger: zerolog.Nop()})
	retry, err := s.Send(context.Background(), "id", []byte("x"))
	if !retry || err == nil {
		t.Fatalf("Send = (%v, %v), want retryable error", retry, err)
	}
}

func TestSenderAllEndpoints(t *testing.T) {
	var ok1, ok2 atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ok1.Add(1) }))
	defer good.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok2.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer down.Close()
	s, _ := NewSender(SenderOptions{Endpoints: []string{good.URL, down.URL}, Logger: zerolog.Nop()})
	retry, err := s.Send(context.Background(), "id", []byte("x"))
	var se *StatusError
	if !retry || !errors.As(err, &se) || se.Code != http.StatusBadGateway || !strings.Contains(se.Endpoint, down.URL) {
		t.Fatalf("Send = (%v, %v)", retry, err)
	}
	if ok1.Load() != 1 || ok2.Load() != 1 {
		t.Fatalf("posts: good %d down %d", ok1.Load(), ok2.Load())
	}
}

func TestNewSenderRejectsBadEndpoints(t *testing.T) {
	for _, e := range [][]string{nil, {"ftp://x"}, {"://"}, {"http://"}} {
		if _, err := NewSender(SenderOptions{Endpoints: e}); err == nil {
			t.Errorf("NewSender(%q) accepted", e)
		}
	}
}
