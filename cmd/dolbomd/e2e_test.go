package main

// End-to-end tests of the built binaries, as an operator and a hub vendor
// would use them: dolbomd started as a process, dolbomctl to provision, and
// Debian's stock mosquitto_pub as the hub. They run on the embedded store and,
// when DOLBOM_TEST_DATABASE_URL is set (make test sets it), on PostgreSQL.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dolbom-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "../dolbomd", "../dolbomctl", "../dolbom-119")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	// The crash tests' dolbomd: killed by itself at a named point of the
	// code (internal/crashpoint), which the production build compiles out.
	build = exec.Command("go", "build", "-tags", "crashpoints", "-o", filepath.Join(dir, "crashpoints")+"/", "../dolbomd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build dolbomd with crash points:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backends returns the store back ends to run an end-to-end test on.
func backends(t *testing.T) map[string]func(t *testing.T) string {
	b := map[string]func(t *testing.T) string{"embedded": func(*testing.T) string { return "" }}
	base := os.Getenv("DOLBOM_TEST_DATABASE_URL")
	switch {
	case base != "":
		b["postgres"] = func(t *testing.T) string { return freshDatabase(t, base) }
	case os.Getenv("DOLBOM_REQUIRE_POSTGRES") == "1":
		t.Fatal("DOLBOM_REQUIRE_POSTGRES=1 but DOLBOM_TEST_DATABASE_URL is not set")
	default:
		t.Log("DOLBOM_TEST_DATABASE_URL not set: PostgreSQL variant skipped (make test sets it)")
	}
	return b
}

// freshDatabase creates an empty database for one test on the test cluster.
func freshDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := "e2e_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a TCP port free on 127.0.0.1 for a process to listen on.
// It is drawn below the ephemeral range (32768-60999 on Linux, 49152-65535
// elsewhere): a port the kernel hands out as free there may go to any
// outgoing connection before the process binds it, or rebinds it after a
// kill ("address already in use" on a busy machine, seen twice in three
// runs beside two busy loops).
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

type gatewayProcess struct {
	databaseURL string
	extra       []string
	// crashpoint, when set, runs the crash-point build of dolbomd armed to
	// kill itself there (DOLBOM_CRASHPOINT).
	crashpoint string
	cleanupSet bool
	cmd        *exec.Cmd
	exited     chan struct{} // closed once cmd has exited; exitErr is then set
	exitErr    *error
	mqttPort   int
	httpURL    string
	token      string
	dataDir    string
	logPath    string // every run's output, appended
}

func startGateway(t *testing.T, databaseURL string, extra ...string) *gatewayProcess {
	t.Helper()
	g := &gatewayProcess{mqttPort: freePort(t), token: "e2e-" + randomHex(16), dataDir: t.TempDir()}
	g.logPath = filepath.Join(t.TempDir(), "dolbomd.log")
	g.httpURL = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	g.databaseURL, g.extra = databaseURL, extra
	g.start(t)
	return g
}

// start runs dolbomd (again) on the gateway's data folder and ports and
// waits until it is ready.
func (g *gatewayProcess) start(t *testing.T) {
	t.Helper()
	args := append([]string{"--data-dir", g.dataDir,
		"--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", g.mqttPort),
		"--http-addr", strings.TrimPrefix(g.httpURL, "http://"),
		"--log-format", "json"}, g.extra...)
	bin := filepath.Join(binDir, "dolbomd")
	if g.crashpoint != "" {
		bin = filepath.Join(binDir, "crashpoints", "dolbomd")
	}
	g.cmd = exec.Command(bin, args...)
	g.cmd.Env = append(os.Environ(), "DOLBOM_ADMIN_TOKEN="+g.token, "DOLBOM_DATABASE_URL="+g.databaseURL,
		"DOLBOM_CAP_ANSWER_TOKEN=e2e-119-answer-token-0123456789", "DOLBOM_CRASHPOINT="+g.crashpoint, "DOLBOM_TWILIO=fake")
	g.exited, g.exitErr = startLogged(t, g.cmd, g.logPath)
	if !g.cleanupSet {
		g.cleanupSet = true
		t.Cleanup(func() {
			g.kill(t)
			keepLog(t, "dolbomd", g.logPath)
		})
	}
	g.waitReady(t)
}

// waitReady waits for /readyz to answer 200. A start is slow on a busy
// machine, not stuck, while the process runs and keeps logging: the wait
// fails when it exits, or when it has been silent for two minutes.
func (g *gatewayProcess) waitReady(t *testing.T) {
	t.Helper()
	var last string
	waitFor(t, "dolbomd ready (/readyz 200)", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		select {
		case <-g.exited:
			t.Fatalf("dolbomd exited before it was ready: %v", *g.exitErr)
		default:
		}
		resp, err := httpClient.Get(g.httpURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, 0
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		return false, fileSize(g.logPath)
	}, func() string { return "last answer: " + last })
}

// kill ends the running dolbomd with SIGKILL and waits until it is gone.
func (g *gatewayProcess) kill(t *testing.T) {
	t.Helper()
	select {
	case <-g.exited:
		return
	default:
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL dolbomd: %v", err)
	}
	g.waitExit(t, "dolbomd gone after SIGKILL")
}

// waitExit waits for the running dolbomd to exit and returns its error.
// The bound is generous: it catches a process that hangs, not a slow one.
func (g *gatewayProcess) waitExit(t *testing.T, what string) error {
	t.Helper()
	select {
	case <-g.exited:
		return *g.exitErr
	case <-time.After(3 * time.Minute):
		t.Fatalf("timed out after 3m0s waiting for %s", what)
		return nil
	}
}

// startLogged starts cmd with its output appended to logPath and returns a
// channel closed once it has exited, and where its exit error is then.
// The process writes the file itself: nothing of ours copies its output,
// and the log can be read at any time.
func startLogged(t *testing.T, cmd *exec.Cmd, logPath string) (exited chan struct{}, exitErr *error) {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, exitErr = make(chan struct{}), new(error)
	go func() {
		*exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	return exited, exitErr
}

// keepLog shows a process's log when the test failed: in the test output
// when it is short, else kept in a folder that outlives the test, whose
// path is printed with the log's last lines.
func keepLog(t *testing.T, name, path string) {
	if !t.Failed() {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s log: %v", name, err)
		return
	}
	const inline = 64 << 10
	if len(b) <= inline {
		t.Logf("%s log:\n%s", name, b)
		return
	}
	dir, err := os.MkdirTemp("", "dolbom-failed-")
	if err == nil {
		kept := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+name+".log")
		if err = os.WriteFile(kept, b, 0o644); err == nil {
			lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
			t.Logf("%s log (%d bytes) kept in %s; its last lines:\n%s", name, len(b), kept, bytes.Join(lines[max(0, len(lines)-40):], []byte("\n")))
			return
		}
	}
	t.Logf("%s log could not be kept (%v); its end:\n%s", name, err, b[len(b)-inline:])
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// httpClient bounds every request of the tests: a gateway that stops
// answering fails the test instead of hanging it.
var httpClient = &http.Client{Timeout: time.Minute}

// waitFor polls cond until it reports done. cond also reports progress: a
// number that changes while the awaited work advances (a count received so
// far, the size of a log). A busy machine slows the work down without
// stopping it, so the wait fails only once progress has not changed for
// stall, or after limit in all; a wait without a measure of progress
// returns a constant and waits for stall. detail, if not nil, adds to the
// failure message.
func waitFor(t testing.TB, what string, stall, limit time.Duration, cond func() (done bool, progress int64), detail func() string) time.Duration {
	t.Helper()
	took, err := poll(what, stall, limit, cond)
	if err != nil {
		if detail != nil {
			err = fmt.Errorf("%w: %s", err, detail())
		}
		t.Fatal(err)
	}
	return took
}

// poll is waitFor that returns its failure, for a caller that reports
// what it found at the deadline rather than stopping there.
func poll(what string, stall, limit time.Duration, cond func() (done bool, progress int64)) (time.Duration, error) {
	start := time.Now()
	moved, last := start, int64(0)
	for i := 0; ; i++ {
		done, progress := cond()
		if done {
			return time.Since(start), nil
		}
		now := time.Now()
		if i == 0 || progress != last {
			moved, last = now, progress
		}
		if now.Sub(moved) > stall || now.Sub(start) > limit {
			return now.Sub(start), fmt.Errorf("gave up waiting for %s after %s (no progress for %s; progress %d)",
				what, now.Sub(start).Round(time.Millisecond), now.Sub(moved).Round(time.Millisecond), progress)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctl runs dolbomctl against the gateway and decodes its JSON output.
func (g *gatewayProcess) ctl(t *testing.T, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang, not a slow machine
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dolbomctl"), args...)
	cmd.Env = append(os.Environ(), "DOLBOM_SERVER="+g.httpURL, "DOLBOM_ADMIN_TOKEN="+g.token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dolbomctl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			t.Fatalf("dolbomctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
		}
	}
}

// api GETs an admin API path and decodes the JSON answer.
func (g *gatewayProcess) api(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.httpURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func mosquittoPub(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatal("mosquitto_pub not found (make test installs mosquitto-clients)")
		}
		t.Skip("mosquitto_pub not found: apt-get install mosquitto-clients (make test does)")
	}
	return p
}

// pub publishes one message with mosquitto_pub as the given hub and returns
// its combined output and error.
func (g *gatewayProcess) pub(t *testing.T, hub, secret, channel string, qos int, payload string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang, not a slow machine
	defer cancel()
	cmd := exec.CommandContext(ctx, mosquittoPub(t), "-h", "127.0.0.1", "-p", fmt.Sprint(g.mqttPort),
		"-V", "mqttv311", "-i", hub, "-u", hub, "-P", secret,
		"-t", "dolbom/v1/"+hub+"/"+channel, "-q", fmt.Sprint(qos), "-m", payload)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestEndToEndProvisionConnectAndSOS(t *testing.T) {
	for name, database := range backends(t) {
		t.Run(name, func(t *testing.T) {
			g := startGateway(t, database(t))

			var resident struct {
				ID string `json:"id"`
			}
			g.ctl(t, &resident, "resident", "add", "--name", "김순자", "--phone", "010-1234-5678",
				"--address", "서울특별시 종로구 세종대로 175", "--floor", "3", "--unit", "301",
				"--birth-date", "1941-03-02", "--guardian", "박민수:010-9876-5432:아들")
			if resident.ID == "" {
				t.Fatal("resident add printed no id")
			}
			var hub struct {
				HubID  string `json:"hub_id"`
				Secret string `json:"secret"`
			}
			g.ctl(t, &hub, "hub", "add", "--resident", resident.ID)
			if hub.HubID == "" || hub.Secret == "" {
				t.Fatalf("hub add printed %+v, want hub_id and secret", hub)
			}

			now := time.Now().UnixMilli()
			heartbeat := fmt.Sprintf(`{"v":1,"ts":%d,"uptime_s":60}`, now)
			if out, err := g.pub(t, hub.HubID, hub.Secret, "heartbeat", 1, heartbeat); err != nil {
				t.Fatalf("mosquitto_pub with the printed secret: %v\n%s", err, out)
			}
			out, err := g.pub(t, hub.HubID, hub.Secret+"x", "heartbeat", 1, heartbeat)
			if err == nil {
				t.Fatalf("mosquitto_pub with a wrong secret succeeded:\n%s", out)
			}
			if !strings.Contains(strings.ToLower(out), "not authori") && !strings.Contains(strings.ToLower(out), "refused") {
				t.Errorf("wrong secret refused without a clear reason: %q", out)
			}

			sos := fmt.Sprintf(`{"v":1,"id":"sos-%d","ts":%d,"kind":"sos","sensor":"pendant-1"}`, now, now)
			for i := 0; i < 2; i++ {
				if out, err := g.pub(t, hub.HubID, hub.Secret, "events", 1, sos); err != nil {
					t.Fatalf("SOS publish %d: %v\n%s", i+1, err, out)
				}
			}
			var events struct {
				Events []struct {
					ID   string `json:"id"`
					Kind string `json:"kind"`
				} `json:"events"`
			}
			g.api(t, "/api/v1/hubs/"+hub.HubID+"/events", &events)
			count := 0
			for _, e := range events.Events {
				if e.ID == fmt.Sprintf("sos-%d", now) && e.Kind == "sos" {
					count++
				}
			}
			if count != 1 {
				t.Fatalf("SOS stored %d times after two publishes with one event id, want exactly 1 (events: %+v)", count, events.Events)
			}

			// SIGTERM: stop intake, drain, exit cleanly. The drain is
			// bounded by --shutdown-timeout (20 s) inside the gateway; the
			// test's own bound only catches a hang.
			stopped := time.Now()
			g.cmd.Process.Signal(syscall.SIGTERM)
			if err := g.waitExit(t, "dolbomd to exit after SIGTERM"); err != nil {
				t.Fatalf("dolbomd exited with %v after SIGTERM", err)
			}
			t.Logf("dolbomd stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
		})
	}
}
