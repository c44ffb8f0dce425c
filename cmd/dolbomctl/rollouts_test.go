package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	gw "github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// writeSigned writes an image and its signature (raw 64 bytes, or base64
// when b64) and returns their paths.
func writeSigned(t *testing.T, key ed25519.PrivateKey, model, version string, b64 bool) (image, sig string) {
	t.Helper()
	data := []byte("image " + model + " " + version)
	sum := sha256.Sum256(data)
	s := ed25519.Sign(key, devices.FirmwareManifest(model, version, int64(len(data)), hex.EncodeToString(sum[:])))
	dir := t.TempDir()
	image, sig = filepath.Join(dir, "image.bin"), filepath.Join(dir, "image.sig")
	out := s
	if b64 {
		out = []byte(base64.StdEncoding.EncodeToString(s) + "\n")
	}
	if os.WriteFile(image, data, 0o644) != nil || os.WriteFile(sig, out, 0o644) != nil {
		t.Fatal("writing the image")
	}
	return image, sig
}

// dolbomctl firmware publish and rollout start|status|halt|rollback against
// the real admin API, engine and store.
func TestRolloutCommands(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 10 {
		if _, err := st.Registry().CreateHub(ctx, devices.Hub{ID: devices.HubID(fmt.Sprintf("hub-%d", i)), Model: "DBH-200", Firmware: "2.4.1"}); err != nil {
			t.Fatal(err)
		}
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	e := ota.New(ota.Config{Store: st.Rollouts(), Fleet: st.Rollouts(), VendorKey: pub, Log: zerolog.Nop(),
		Commander: ota.CommanderFunc(func(context.Context, devices.HubID, devices.Command) error { return nil }),
		ImageURL:  func(m, v string) string { return "https://gw.example/firmware/" + m + "/" + v }})
	g := newGateway(t)
	mux := http.NewServeMux()
	mux.Handle(api.APIPrefix, api.NewAdminAPI(api.AdminConfig{Token: testToken, Rollouts: gw.RolloutAdmin(e)}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.env["DOLBOM_SERVER"] = srv.URL

	img, sig := writeSigned(t, key, "DBH-200", "2.5.0", false)
	pubd := g.ok(t, "firmware", "publish", img, "--model", "DBH-200", "--version", "2.5.0", "--signature-file", sig)
	if pubd["sha256"] == "" || pubd["size"] != float64(len("image DBH-200 2.5.0")) {
		t.Errorf("publish printed %v", pubd)
	}
	badImg, badSig := writeSigned(t, other, "DBH-200", "2.6.0", true)
	if r := g.ctl(t, "firmware", "publish", badImg, "--model", "DBH-200", "--version", "2.6.0", "--signature-file", badSig); r.code != 1 || !strings.Contains(r.stderr, "signature does not verify") {
		t.Errorf("publishing a badly signed image: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "rollout", "start", "--model", "DBH-200", "--version", "9.9"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 404") {
		t.Errorf("a rollout of an unpublished version: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "rollout", "start", "--model", "DBH-200", "--version", "2.5.0", "--canary", "half"); r.code != 2 {
		t.Errorf("--canary half: exit %d, want a usage error", r.code)
	}
	started := g.ok(t, "rollout", "start", "--model", "DBH-200", "--version", "2.5.0", "--canary", "10%", "--halt-on-failures", "2%", "--stage-timeout", "5m")
	if fmt.Sprint(started["stages"]) != "[1 4 5]" || started["state"] != "running" {
		t.Fatalf("rollout start printed %v", started)
	}
	if r := g.ctl(t, "rollout", "start", "--model", "DBH-200", "--version", "2.5.0"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 409") {
		t.Errorf("a second rollout: exit %d, %s", r.code, r.stderr)
	}
	if err := e.Step(ctx); err != nil { // commands the canary
		t.Fatal(err)
	}
	status := g.ok(t, "rollout", "status")
	if stages, _ := status["per_stage"].([]any); len(stages) != 3 || stages[0].(map[string]any)["sent"] != float64(1) {
		t.Errorf("rollout status printed %v", status)
	}
	if halted := g.ok(t, "rollout", "halt", "--reason", "call centre reports"); halted["state"] != "halted" || halted["reason"] != "call centre reports" {
		t.Errorf("rollout halt printed %v", halted)
	}
	if r := g.ctl(t, "rollout", "rollback"); r.code != 1 || !strings.Contains(r.stderr, "publish it to roll back") {
		t.Errorf("rollback without the old image: exit %d, %s", r.code, r.stderr)
	}
	oldImg, oldSig := writeSigned(t, key, "DBH-200", "2.4.1", true)
	g.ok(t, "firmware", "publish", oldImg, "--model", "DBH-200", "--version", "2.4.1", "--signature-file", oldSig)
	if rb := g.ok(t, "rollout", "rollback"); rb["version"] != "2.4.1" || fmt.Sprint(rb["stages"]) != "[1]" {
		t.Errorf("rollout rollback printed %v", rb)
	}
}
