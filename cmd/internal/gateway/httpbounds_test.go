package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/store/storetest"
)

// startHTTP runs a gateway (embedded store, no MQTT) with its HTTP server
// on a free port and the given HTTP limits, and returns its address.
func startHTTP(t *testing.T, limits HTTPLimits) (*Gateway, string) {
	t.Helper()
	sc := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, Options{DataDir: sc.DataDir, MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
		HTTPAddr: "127.0.0.1:0", AdminToken: "http-test-admin-token-0123456789", HTTP: limits,
		Channels: ChannelOptions{FakeTwilio: true}},
		zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel))
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, ctx, cancel, g, 10*time.Second)
	return g, g.HTTPAddr()
}

// closedWithin sends head (a request whose body never comes in full) and
// reports how the server ended the connection, failing if it is still open
// after wait.
func closedWithin(t *testing.T, addr, head string, wait time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a request with a stalled body still holds its connection after %v", wait)
	}
	return string(got)
}

// A client that sends headers and then stalls its body (here on the
// unauthenticated 119 answer endpoint, which reads the body to check its
// signature) loses the connection after the read timeout.
func TestHTTPStalledBodyIsDropped(t *testing.T) {
	_, addr := startHTTP(t, HTTPLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	for _, path := range []string{"/api/v1/119/answers", "/twilio/sms/status", "/login", "/api/v1/residents"} {
		t.Run(path, func(t *testing.T) {
			closedWithin(t, addr, "POST "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"+
				"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"incident_id\":", 5*time.Second)
		})
	}
	// Headers that never end are cut too.
	closedWithin(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 5*time.Second)
}

// Each route takes the body its job needs: 119's answers and Twilio's
// callbacks a few kilobytes, the admin API's CSV import megabytes.
func TestHTTPBodyLimitsPerRoute(t *testing.T) {
	g, addr := startHTTP(t, HTTPLimits{})
	answerToken, err := os.ReadFile(cap.AnswerTokenFile(g.opts.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, token, contentType, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// A well-formed answer about an unknown incident, padded to 32 KiB.
	answer := `{"incident_id":"no-such-incident","status":"accepted"}`
	if code := post("/api/v1/119/answers", string(answerToken), "application/json", answer); code != http.StatusNotFound {
		t.Fatalf("a small answer: %d, want 404 (unknown incident)", code)
	}
	padded := answer + strings.Repeat(" ", 32<<10)
	if code := post("/api/v1/119/answers", string(answerToken), "application/json", padded); code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
		t.Errorf("a 32 KiB answer from 119: %d, want it refused as too large", code)
	}
	// A 2 MiB import (dry run) is read in full; the same body elsewhere is
	// refused.
	var csv strings.Builder
	csv.WriteString("name,birth_date,phone,language,address\n")
	for i := 0; csv.Len() < 2<<20; i++ {
		fmt.Fprintf(&csv, "주민%d,1940-01-01,+8210%08d,ko,서울특별시 종로구 세종대로 %d\n", i, i, i)
	}
	if code := post("/api/v1/import/residents?dry_run=true", g.Token, "text/csv", csv.String()); code != http.StatusOK {
		t.Errorf("a 2 MiB import: %d, want 200", code)
	}
	if code := post("/api/v1/residents", g.Token, "application/json", `{"name":"`+strings.Repeat("가", 1<<20)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 3 MiB resident: %d, want it refused as too large", code)
	}
}

// The server's write timeout does not end a long-lived incident stream: the
// stream sets a deadline per write instead.
func TestHTTPStreamOutlivesWriteTimeout(t *testing.T) {
	g, addr := startHTTP(t, HTTPLimits{ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/incidents/stream", nil)
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	// Change an incident after both timeouts have passed: it still comes.
	time.Sleep(300 * time.Millisecond) // past both timeouts: what is tested is that the stream survives them
	inc := openSOS(t, g)
	lines := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for lines.Scan() {
		if strings.Contains(lines.Text(), inc.ID) {
			return
		}
	}
	t.Fatalf("the stream ended (%v) before the incident came", lines.Err())
}

// openSOS opens an SOS incident through the dispatcher.
func openSOS(t *testing.T, g *Gateway) dispatch.Incident {
	t.Helper()
	at := time.Now().Truncate(time.Second)
	inc, err := g.Dispatch.HandleDetection(context.Background(), detectors.Detection{
		Fingerprint: detectors.Fingerprint("hub-http", detectors.CauseSOS, "", at), Hub: "hub-http", Class: detectors.ClassEmergency,
		Cause: detectors.CauseSOS, Priority: detectors.PriorityCritical, State: detectors.Firing, Episode: at, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// The production limits are the ones docs/api.md and docs/faults.md
// promise (TestHTTPStalledBodyIsDropped proves the wiring with short ones).
func TestHTTPLimitsDefaultsAreTheDocumentedOnes(t *testing.T) {
	got := HTTPLimits{}.withDefaults()
	want := HTTPLimits{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	if got != want {
		t.Errorf("default HTTP limits %+v, want %+v", got, want)
	}
	if callbackBodyBytes != 16<<10 || loginBodyBytes != 8<<10 || defaultBodyBytes != 64<<10 || importBodyBytes != 32<<20 {
		t.Errorf("body limits changed: callbacks %d, login %d, default %d, import %d", callbackBodyBytes, loginBodyBytes, defaultBodyBytes, importBodyBytes)
	}
}
