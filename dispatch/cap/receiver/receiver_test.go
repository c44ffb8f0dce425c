package receiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
)

const xsdPath = "../../../../shared/spec/CAP-v1.2.xsd"

func message(seq int, typ cap.MsgType) cap.Message {
	m := cap.Message{IncidentID: "inc-7", HubID: "hub-1", Sender: "gw@dolbom.test", Sequence: seq, MsgType: typ,
		Sent: time.Date(2026, 3, 14, 10, 0, seq, 0, time.UTC), Cause: dispatch.CategorySOS, Priority: 1,
		Resident: cap.Resident{Name: "홍길순", Age: 90}, Location: cap.Location{Address: "부산 해운대구 1", Lat: 35.16, Lon: 129.16}}
	if seq > 0 {
		first := m
		first.Sequence = 0
		m.References = []cap.Reference{first.Ref()}
	}
	return m
}

func TestReceiverEndToEnd(t *testing.T) {
	answers := make(chan cap.Answer, 10)
	auth := cap.AnswerAuth{BearerToken: "answer-token"}
	gw := httptest.NewServer(cap.AnswerHandler(auth, func(_ context.Context, a cap.Answer) error { answers <- a; return nil }))
	defer gw.Close()

	xsd := xsdPath
	if _, err := os.Stat(xsd); err != nil {
		xsd = ""
	}
	rcv := New(Options{XSDPath: xsd, AutoAccept: 10 * time.Millisecond, AutoDispatch: true,
		AnswerURL: gw.URL, AnswerAuth: auth, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rcv.Run(ctx)

	cert, certPEM, err := SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rcv.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	snd, err := cap.NewSender(cap.SenderOptions{Endpoints: []string{srv.URL + "/cap"}, RootCAs: pool, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}

	id, body, err := cap.Build(message(0, cap.MsgAlert))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // a retry after a crash sends the same message again
		if retry, err := snd.Send(ctx, id, body); err != nil {
			t.Fatalf("Send = %v, %v", retry, err)
		}
	}
	if s := rcv.Stats(); s.Received != 1 || s.Duplicates != 2 || s.Invalid != 0 || s.ByType[cap.MsgAlert] != 1 || len(s.ByType) != 1 {
		t.Fatalf("stats = %+v", s)
	}
	for _, want := range []cap.AnswerStatus{cap.AnswerAccepted, cap.AnswerDispatched} {
		select {
		case a := <-answers:
			if a.Status != want || a.Identifier != id || a.IncidentID != "inc-7" {
				t.Fatalf("answer = %+v, want %s", a, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s answer", want)
		}
	}

	// Outage: 503 is retryable; the message arrives once it is back.
	rcv.SetDown(time.Hour)
	cid, cbody, err := cap.Build(message(1, cap.MsgCancel))
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := snd.Send(ctx, cid, cbody); err == nil || !retry {
		t.Fatalf("while down: Send = %v, %v", retry, err)
	}
	rcv.SetDown(0)
	if _, err := snd.Send(ctx, cid, cbody); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answers:
		if a.Status != cap.AnswerCancelAcknowledged {
			t.Fatalf("answer = %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cancel acknowledgement")
	}
	if s := rcv.Stats(); s.Received != 2 || s.Refused != 1 || s.ByType[cap.MsgAlert] != 1 || s.ByType[cap.MsgCancel] != 1 {
		t.Fatalf("stats = %+v", s)
	}

	// JSON and HTML views.
	resp, err := srv.Client().Get(srv.URL + "/alerts")
	if err != nil {
		t.Fatal(err)
	}
	var listed []Alert
	json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if len(listed) != 2 || listed[0].Duplicates != 2 || (xsd != "" && listed[0].Valid == nil) {
		t.Fatalf("alerts = %+v", listed)
	}
	resp, _ = srv.Client().Get(srv.URL + "/")
	page := new(strings.Builder)
	_, _ = io.Copy(page, resp.Body)
	resp.Body.Close()
	if !strings.Contains(page.String(), "홍길순") {
		t.Fatalf("page lacks the alert:\n%s", page)
	}
}

func TestReceiverManualAnswerAndInvalid(t *testing.T) {
	answers := make(chan cap.Answer, 1)
	auth := cap.AnswerAuth{HMACKey: []byte("k")}
	gw := httptest.NewServer(cap.AnswerHandler(auth, func(_ context.Context, a cap.Answer) error { answers <- a; return nil }))
	defer gw.Close()
	rcv := New(Options{AnswerURL: gw.URL, AnswerAuth: auth, Logger: zerolog.Nop()})
	srv := httptest.NewServer(rcv.Handler())
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/cap", cap.ContentType, strings.NewReader("<notcap/>"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage: %d", resp.StatusCode)
	}
	id, body, _ := cap.Build(message(0, cap.MsgAlert))
	resp, _ = http.Post(srv.URL+"/cap", cap.ContentType, strings.NewReader(string(body)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("alert: %d", resp.StatusCode)
	}
	resp, _ = http.Post(srv.URL+"/alerts/"+id+"/answer", "application/json",
		strings.NewReader(`{"status":"rejected","reason":"주소 확인 불가 / address not found"}`))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("manual answer: %d", resp.StatusCode)
	}
	if a := <-answers; a.Status != cap.AnswerRejected || a.IncidentID != "inc-7" {
		t.Fatalf("answer = %+v", a)
	}
	if s := rcv.Stats(); s.Invalid != 1 || s.Received != 1 || s.Answers != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

// A sender that hangs up while its message is being checked (a gateway
// killed mid-request) sent nothing invalid: the check has no verdict, the
// message is neither kept nor counted invalid, and its resend is taken as
// the first copy.
func TestReceiverSenderGoneDuringCheck(t *testing.T) {
	if _, err := os.Stat(xsdPath); err != nil {
		t.Skip("CAP schema not found")
	}
	if err := cap.ValidateXSD(context.Background(), xsdPath, []byte("<x/>")); errors.Is(err, cap.ErrNoXMLLint) {
		if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatal("xmllint is required (DOLBOM_REQUIRE_TOOLS=1): install libxml2-utils")
		}
		t.Skip("xmllint not installed (libxml2-utils)")
	}
	rcv := New(Options{XSDPath: xsdPath, Logger: zerolog.Nop()})
	_, body, err := cap.Build(message(0, cap.MsgAlert))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the sender is gone before the check starts
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/cap", strings.NewReader(string(body)))
	rcv.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if s := rcv.Stats(); s.Received != 0 || s.Invalid != 0 {
		t.Fatalf("after a sender gone mid-check: stats = %+v, want nothing received and nothing invalid", s)
	}
	w := httptest.NewRecorder()
	rcv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/cap", strings.NewReader(string(body))))
	if s := rcv.Stats(); w.Code != http.StatusCreated || s.Received != 1 || s.Duplicates != 0 || s.Invalid != 0 {
		t.Fatalf("resend: %d, stats = %+v, want 201, received 1", w.Code, s)
	}
}

// TestReceiverSchemaNotThere: a schema path that names no file (a clone
// without ../shared beside it) checks the structure, as no schema does:
// xmllint, if installed, could not compile it, and every Alert would be
// answered "try again" for ever.
func TestReceiverSchemaNotThere(t *testing.T) {
	rcv := New(Options{XSDPath: filepath.Join(t.TempDir(), "CAP-v1.2.xsd"), Logger: zerolog.Nop()})
	_, body, err := cap.Build(message(0, cap.MsgAlert))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	rcv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/cap", strings.NewReader(string(body))))
	if s := rcv.Stats(); w.Code != http.StatusCreated || s.Received != 1 {
		t.Fatalf("Alert with the schema missing: %d %s, stats %+v; want 201, received 1", w.Code, w.Body, s)
	}
	w = httptest.NewRecorder()
	rcv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/cap", strings.NewReader("<alert/>")))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("a structureless Alert with the schema missing: %d, want 400 (the structure is still checked)", w.Code)
	}
}
