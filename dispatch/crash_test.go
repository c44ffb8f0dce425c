package dispatch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// The crash test re-runs this test binary as a child gateway that
// dispatches SOS incidents from a file-backed SQLite store to a receiver in
// the parent, SIGKILLs it in the middle of delivery, restarts it, and checks
// that every notification arrived once.

const (
	envCrashDir = "DOLBOM_DISPATCH_CRASH_DIR"
	envCrashURL = "DOLBOM_DISPATCH_CRASH_URL"
	crashCount  = 400
)

const crashPolicies = `{
  "backoff_initial": "20ms", "backoff_max": "100ms",
  "causes": {"sos": {"steps": [{"after": "0s", "notify": [{"to": "119", "via": "cap"}]}]}}
}`

// receiver counts the keys it is sent; /lookup answers whether a key came.
type receiver struct {
	mu    sync.Mutex
	count map[string]int
	delay time.Duration
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	rc.mu.Lock()
	n := rc.count[key]
	if r.Method == http.MethodPost {
		rc.count[key]++
	}
	rc.mu.Unlock()
	if r.Method == http.MethodPost {
		time.Sleep(rc.delay) // a slow endpoint: the kill lands mid-delivery
		return
	}
	if n == 0 {
		http.NotFound(w, r)
	}
}

func (rc *receiver) stats() (distinct, duplicates int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.count {
		distinct++
		duplicates += n - 1
	}
	return distinct, duplicates
}

// httpNotifier posts the key; it can look keys up after a crash.
type httpNotifier struct{ url string }

func (h httpNotifier) Notify(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"?key="+n.Key, bytes.NewReader([]byte(n.Incident.ID)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", true, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode >= 500, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n.Key, false, nil
}

func (h httpNotifier) Lookup(ctx context.Context, key string) (string, bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"?key="+key, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false, err
	}
	resp.Body.Close()
	return key, resp.StatusCode == http.StatusOK, nil
}

func TestCrashDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rc := &receiver{count: map[string]int{}, delay: 10 * time.Millisecond}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	dir := t.TempDir()
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashURL+"="+srv.URL)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := child()
	deadline := time.Now().Add(30 * time.Second)
	for d, _ := rc.stats(); d < crashCount/4; d, _ = rc.stats() {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("child delivered only %d before the deadline", d)
		}
		time.Sleep(time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: no clean-up of any kind
		t.Fatal(err)
	}
	first.Wait()
	atKill, _ := rc.stats()
	if atKill >= crashCount {
		t.Fatalf("all %d delivered before the kill; the test proves nothing", atKill)
	}
	second := child()
	defer func() { second.Process.Kill(); second.Wait() }()
	deadline = time.Now().Add(60 * time.Second)
	for d, _ := rc.stats(); d < crashCount; d, _ = rc.stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart only %d of %d arrived", d, crashCount)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let any duplicate land
	distinct, dups := rc.stats()
	t.Logf("killed after %d of %d; after the restart %d distinct, %d duplicates", atKill, crashCount, distinct, dups)
	if distinct != crashCount || dups != 0 {
		t.Errorf("received %d distinct keys with %d duplicates; want %d and 0", distinct, dups, crashCount)
	}
}

// TestCrashChild is the child gateway of TestCrashDuringDelivery.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("runs only as the crash test's child")
	}
	ctx := context.Background()
	cfg := storetest.SQLite(t)
	cfg.DataDir = dir
	cfg.SecretKey = bytes.Repeat([]byte{7}, 32) // the same key across restarts
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Registry().GetHub(ctx, "hub-1"); err != nil {
		seedHome(t, s, "hub-1")
	}
	pol, err := dispatch.ParsePolicies([]byte(crashPolicies))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Config{Store: s.Incidents(), Directory: homes{s.Registry()}, Policies: pol,
		Notifiers: map[dispatch.Channel]dispatch.Notifier{dispatch.Channel119: httpNotifier{url: os.Getenv(envCrashURL)}},
		Lease:     500 * time.Millisecond, Logger: zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)})
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	// Detections are replayed on every start, as the detectors do after a
	// restart: one incident per fingerprint, so nothing is opened twice.
	episode := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range crashCount {
		dt := det(homeN(i), detectors.CauseSOS, 1, detectors.Firing, episode)
		if _, err := d.HandleDetection(ctx, dt); err != nil {
			t.Error(err)
		}
	}
	select {} // until killed
}
