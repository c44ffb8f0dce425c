package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
	"github.com/rs/zerolog"
)

// signedImage returns an image of model and version signed by key.
func signedImage(key ed25519.PrivateKey, model, version string) (ota.Image, []byte) {
	data := []byte("firmware " + model + " " + version)
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	sig := ed25519.Sign(key, devices.FirmwareManifest(model, version, int64(len(data)), h))
	return ota.Image{Model: model, Version: version, Size: int64(len(data)), SHA256: h, Signature: base64.StdEncoding.EncodeToString(sig)}, data
}

// sentLog records the commands an engine sends.
type sentLog struct {
	mu   sync.Mutex
	hubs map[devices.HubID]devices.Command
}

func (l *sentLog) send(_ context.Context, hub devices.HubID, c devices.Command) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hubs == nil {
		l.hubs = map[devices.HubID]devices.Command{}
	}
	if _, dup := l.hubs[hub]; dup {
		return fmt.Errorf("%s commanded twice", hub)
	}
	l.hubs[hub] = c
	return nil
}

func (l *sentLog) sent() map[devices.HubID]devices.Command {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[devices.HubID]devices.Command{}
	for h, c := range l.hubs {
		out[h] = c
	}
	return out
}

// A rollout survives a gateway restart: the store is closed mid-rollout,
// reopened, and a new engine carries on from the stored stage without
// commanding any hub twice.
func TestRolloutSurvivesRestart(t *testing.T) {
	for _, be := range []struct {
		name  string
		fresh func(testing.TB) store.Config
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := be.fresh(t)
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			for i := range n {
				if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: devices.HubID(fmt.Sprintf("hub-%04d", i)), Model: "DBH-200", Firmware: "2.4.1"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: "hub-other", Model: "DBH-100", Firmware: "1.0"}); err != nil {
				t.Fatal(err)
			}
			_, key, _ := ed25519.GenerateKey(nil)
			now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			var log sentLog
			newEngine := func(s *store.Store) *ota.Engine {
				return ota.New(ota.Config{Store: s.Rollouts(), Fleet: s.Rollouts(), Commander: ota.CommanderFunc(log.send),
					ImageURL:  func(m, v string) string { return "https://gw.example/firmware/" + m + "/" + v },
					VendorKey: key.Public().(ed25519.PublicKey), Now: func() time.Time { return now }, Log: zerolog.Nop()})
			}
			e := newEngine(s)
			img, data := signedImage(key, "DBH-200", "2.5.0")
			if _, err := e.Publish(ctx, img, data); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Publish(ctx, img, data); !errors.Is(err, devices.ErrConflict) {
				t.Errorf("publishing twice: %v, want ErrConflict", err)
			}
			r, err := e.Start(ctx, "DBH-200", "2.5.0", ota.Plan{Canary: 0.05, HaltOn: 0.02, StageTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(r.Stages); got != "[10 10 80 100]" {
				t.Fatalf("stages %s, want [10 10 80 100]", got)
			}
			if err := e.Step(ctx); err != nil {
				t.Fatal(err)
			}
			canary := log.sent()
			if len(canary) != 10 {
				t.Fatalf("canary commanded %d hubs, want 10", len(canary))
			}
			for h := range canary {
				e.Ack(devices.CommandAck{Hub: h, ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
			}
			now = now.Add(time.Second)
			if err := e.Step(ctx); err != nil { // judges the canary, commands stage 1
				t.Fatal(err)
			}
			if got := len(log.sent()); got != 20 {
				t.Fatalf("after the canary %d hubs commanded, want 20", got)
			}
			s.Close() // the gateway stops mid-rollout

			s, err = store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			e = newEngine(s)
			rep, err := e.Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ID != r.ID || rep.State != ota.Running || rep.Stage != 1 || rep.PerStage[0].Installed != 10 || rep.PerStage[1].Sent != 10 {
				t.Fatalf("after the restart: %+v", rep)
			}
			if data, err := s.Rollouts().FirmwareImageData(ctx, "DBH-200", "2.5.0"); err != nil || string(data) != "firmware DBH-200 2.5.0" {
				t.Errorf("image after the restart: %q, %v", data, err)
			}
			// The next stage fails: 2 of 10 exceed 2%; the rollout halts and
			// no further hub is commanded.
			i := 0
			for h := range log.sent() {
				if canary[h].ID != "" {
					continue
				}
				if i < 2 {
					e.Ack(devices.CommandAck{Hub: h, ID: ota.CommandID(r.ID), Status: devices.AckFailed, Detail: devices.FwFailBoot})
				}
				i++
			}
			if err := e.Step(ctx); err != nil { // the restart must not resend stage 1 (sentLog refuses twice)
				t.Fatal(err)
			}
			rep, _ = e.Current(ctx)
			if rep.State != ota.Halted || rep.Stage != 1 || rep.PerStage[1].Failed != 2 || rep.Reasons[devices.FwFailBoot] != 2 || len(log.sent()) != 20 {
				t.Fatalf("after 2 failures in stage 1: %+v, %d commanded", rep, len(log.sent()))
			}
			// Rolling back re-sends 2.4.1 to the 20 commanded hubs once it is
			// published.
			if _, err := e.Rollback(ctx); !errors.Is(err, ota.ErrNoImage) {
				t.Fatalf("rollback without 2.4.1 published: %v", err)
			}
			old, oldData := signedImage(key, "DBH-200", "2.4.1")
			if _, err := e.Publish(ctx, old, oldData); err != nil {
				t.Fatal(err)
			}
			rb, err := e.Rollback(ctx)
			if err != nil || rb.Version != "2.4.1" || rb.RollbackOf != r.ID || fmt.Sprint(rb.Stages) != "[20]" {
				t.Fatalf("rollback: %+v, %v", rb, err)
			}
			rs, err := s.Rollouts().Rollouts(ctx, 10)
			if err != nil || len(rs) != 2 || rs[1].State != ota.RolledBack {
				t.Fatalf("stored rollouts: %+v, %v", rs, err)
			}
		})
	}
}

// A hub whose resident has an incident open is not commanded until the
// incident is closed; it is not judged meanwhile, and hubs silent past the
// stage timeout count as not back.
func TestRolloutPostponesAnOpenIncident(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var log sentLog
		open := map[devices.HubID]bool{}
		e, r, now := startRollout(t, ctx, s, 4, log.send, func(context.Context, []devices.HubID) (map[devices.HubID]bool, error) { return open, nil },
			ota.Plan{Canary: 1, HaltOn: 0.5, Waves: []float64{1}, StageTimeout: time.Minute})
		img, _, err := s.Rollouts().FirmwareImage(ctx, "DBH-200", "2.5.0")
		if err != nil {
			t.Fatal(err)
		}
		open["hub-2"] = true
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		sent := log.sent()
		if len(sent) != 3 || sent["hub-2"].ID != "" {
			t.Fatalf("commanded %v; want every hub but hub-2", sent)
		}
		u, err := devices.DecodeFirmwareUpdate(sent["hub-0"].Args)
		if err != nil || sent["hub-0"].Type != devices.CmdFirmwareUpdate || u.SHA256 != img.SHA256 || u.Size != img.Size || u.Signature != img.Signature {
			t.Fatalf("the command: %+v (%+v, %v)", sent["hub-0"], u, err)
		}
		e.Ack(devices.CommandAck{Hub: "hub-0", ID: ota.CommandID(r.ID), Status: devices.AckAccepted, Step: devices.StepRebooting})
		e.Status("hub-0", "2.5.0") // back with the new version, its done ack lost
		e.Ack(devices.CommandAck{Hub: "hub-1", ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
		*now = now.Add(time.Minute) // hub-3 never answers
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		rep, _ := e.Current(ctx)
		if c := rep.PerStage[0]; rep.State != ota.Running || c.Installed != 2 || c.Lost != 1 || c.Postponed != 1 {
			t.Fatalf("with hub-2's incident open: %+v", rep)
		}
		open["hub-2"] = false
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if log.sent()["hub-2"].ID != ota.CommandID(r.ID) {
			t.Fatal("hub-2 not commanded once its incident closed")
		}
		if rep, _ = e.Current(ctx); rep.PerStage[0].Sent != 1 || rep.State != ota.Running {
			t.Fatalf("hub-2 just commanded must have the stage's time: %+v", rep.PerStage[0])
		}
		e.Ack(devices.CommandAck{Hub: "hub-2", ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, _ = e.Current(ctx); rep.State != ota.Done || rep.PerStage[0].Installed != 3 {
			t.Fatalf("at the end: %+v", rep)
		}
	})
}

// TestRolloutWaitsWhileTheBrokerDoesNotServe: a step while the broker does
// not serve (before the journal's replay, or stopping) leaves the stage's
// hubs for a later step; they were marked unreachable for the rest of the
// rollout, never commanded.
func TestRolloutWaitsWhileTheBrokerDoesNotServe(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var log sentLog
		serving := false
		send := func(ctx context.Context, hub devices.HubID, c devices.Command) error {
			if !serving {
				return fmt.Errorf("%w: broker: not running", ota.ErrNotServing)
			}
			return log.send(ctx, hub, c)
		}
		e, r, _ := startRollout(t, ctx, s, 3, send, noneOpen, ota.Plan{Canary: 1, HaltOn: 0.5, Waves: []float64{1}, StageTimeout: time.Minute})
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, _ := e.Current(ctx); rep.PerStage[0].Unreachable != 0 || rep.State != ota.Running {
			t.Fatalf("after a step with the broker not serving: %+v", rep)
		}
		serving = true
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if sent := log.sent(); len(sent) != 3 || sent["hub-0"].ID != ota.CommandID(r.ID) {
			t.Fatalf("once the broker serves, commanded %v; want all three", sent)
		}
	})
}

// TestRollbackHaltsFirst: a rollback halts the rollout before anything
// else, so no step sends the version being taken back meanwhile; here the
// rollback itself fails (the previous image is not published) and the
// rollout must still have stopped sending.
func TestRollbackHaltsFirst(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var log sentLog
		e, r, now := startRollout(t, ctx, s, 4, log.send, noneOpen, ota.Plan{Canary: 0.25, HaltOn: 0.5, Waves: []float64{1}, StageTimeout: time.Minute})
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		canary := log.sent()
		if len(canary) != 1 {
			t.Fatalf("canary of 4 hubs at 25%%: commanded %v", canary)
		}
		for h := range canary {
			e.Ack(devices.CommandAck{Hub: h, ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
		}
		if _, err := e.Rollback(ctx); err == nil {
			t.Fatal("rollback to 2.4.1 with no 2.4.1 image published: no error")
		}
		for range 3 {
			*now = now.Add(time.Second)
			if err := e.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if sent := log.sent(); len(sent) != 1 {
			t.Fatalf("after a rollback was asked for, 2.5.0 went on: %d hubs commanded in all, want the canary's 1", len(sent))
		}
		if rep, _ := e.Current(ctx); rep.State == ota.Running {
			t.Fatalf("rollout still running after a rollback was asked for: %+v", rep.Rollout)
		}
	})
}

// startRollout registers hubs hubs of model DBH-200 running 2.4.1, makes an
// engine over the store that commands through send and asks open for the
// hubs with an incident open, publishes 2.5.0 and starts its rollout with
// plan. The engine's clock reads *now.
func startRollout(t *testing.T, ctx context.Context, s *store.Store, hubs int, send ota.CommanderFunc,
	open ota.OpenIncidents, plan ota.Plan) (*ota.Engine, ota.Rollout, *time.Time) {
	t.Helper()
	for i := range hubs {
		if _, err := s.Registry().CreateHub(ctx, devices.Hub{ID: devices.HubID(fmt.Sprintf("hub-%d", i)), Model: "DBH-200", Firmware: "2.4.1"}); err != nil {
			t.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(nil)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e := rolloutEngine(s, send, open, &now)
	img, data := signedImage(key, "DBH-200", "2.5.0")
	if _, err := e.Publish(ctx, img, data); err != nil {
		t.Fatal(err)
	}
	r, err := e.Start(ctx, "DBH-200", "2.5.0", plan)
	if err != nil {
		t.Fatal(err)
	}
	return e, r, &now
}

// rolloutEngine makes an engine over the store that commands through send
// and asks open for the hubs with an incident open; its clock reads *now.
func rolloutEngine(s *store.Store, send ota.CommanderFunc, open ota.OpenIncidents, now *time.Time) *ota.Engine {
	return ota.New(ota.Config{Store: s.Rollouts(), Fleet: s.Rollouts(), Commander: send, Open: open,
		ImageURL: func(m, v string) string { return "https://gw.example/f" }, Now: func() time.Time { return *now }, Log: zerolog.Nop()})
}

// noneOpen is an OpenIncidents with no incident open.
func noneOpen(context.Context, []devices.HubID) (map[devices.HubID]bool, error) { return nil, nil }

// The console's reads: a rollout by id, its hubs counted per stage and
// result in one grouped query, and its failed hubs with their reasons.
func TestRolloutCountsAndFailures(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var log sentLog
		e, r, now := startRollout(t, ctx, s, 10, log.send, noneOpen, ota.Plan{Canary: 0.3, HaltOn: 0.5, Waves: []float64{1}, StageTimeout: time.Minute})
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		canary := log.sent()
		if len(canary) != 3 {
			t.Fatalf("canary of 10 hubs at 30%%: commanded %d", len(canary))
		}
		var failed devices.HubID
		n := 0
		for h := range canary {
			switch n {
			case 0:
				failed = h
				e.Ack(devices.CommandAck{Hub: h, ID: ota.CommandID(r.ID), Status: devices.AckFailed, Detail: "hash_mismatch"})
			case 1:
				e.Ack(devices.CommandAck{Hub: h, ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
			}
			n++
		}
		*now = now.Add(time.Second)
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Rollouts().Rollout(ctx, r.ID)
		if err != nil || got.Version != "2.5.0" || fmt.Sprint(got.Stages) != "[3 7]" {
			t.Errorf("Rollout(%d) = %+v, %v", r.ID, got, err)
		}
		if _, err := s.Rollouts().Rollout(ctx, r.ID+100); !errors.Is(err, devices.ErrNotFound) {
			t.Errorf("a rollout that does not exist: %v, want ErrNotFound", err)
		}
		counts, err := s.Rollouts().RolloutCounts(ctx, []int64{r.ID, r.ID + 100})
		if err != nil {
			t.Fatal(err)
		}
		want := []ota.Counts{{Total: 3, Sent: 1, Installed: 1, Failed: 1}, {Total: 7, Pending: 7}}
		if fmt.Sprint(counts[r.ID]) != fmt.Sprint(want) || len(counts) != 1 {
			t.Errorf("counts %+v, want {%d: %+v}", counts, r.ID, want)
		}
		fails, err := s.Rollouts().RolloutFailures(ctx, r.ID, 10)
		if err != nil || len(fails) != 1 || fails[0].Hub != failed || fails[0].Detail != "hash_mismatch" || fails[0].Previous != "2.4.1" {
			t.Errorf("failures %+v, %v; want %s with hash_mismatch", fails, err, failed)
		}
	})
}
