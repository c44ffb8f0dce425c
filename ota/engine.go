package ota

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/rs/zerolog"
)

// Errors of the engine's operations. Each is also one of the registry's
// sentinels (devices.ErrNotFound, ErrConflict, ErrInvalid), which the admin
// API answers with 404, 409 and 400.
var (
	ErrNoImage       = fmt.Errorf("ota: no published image of that model and version: %w", devices.ErrNotFound)
	ErrActive        = fmt.Errorf("ota: a rollout is already running: %w", devices.ErrConflict)
	ErrNoRollout     = fmt.Errorf("ota: no rollout running: %w", devices.ErrNotFound)
	ErrNotRollback   = fmt.Errorf("ota: nothing to roll back: %w", devices.ErrConflict)
	ErrBadSignature  = fmt.Errorf("ota: the image's signature does not verify with the vendor key: %w", devices.ErrInvalid)
	ErrImageMismatch = fmt.Errorf("ota: the image does not match its size or SHA-256: %w", devices.ErrInvalid)
)

// Config wires an Engine.
type Config struct {
	Store     Store
	Fleet     Fleet
	Commander Commander
	// Open tells which hubs have an incident open (nil: none).
	Open OpenIncidents
	// ImageURL returns the URL hubs download an image from.
	ImageURL func(model, version string) string
	// VendorKey, when set, is checked against every published image's
	// signature, so that the gateway never rolls out what hubs would refuse.
	VendorKey ed25519.PublicKey
	Now       func() time.Time
	// Tick is how often the engine sends and judges (default 1 s).
	Tick time.Duration
	Log  zerolog.Logger
}

// Engine runs at most one rollout at a time.
type Engine struct {
	cfg  Config
	acks chan devices.CommandAck

	// stepMu makes Steps take turns (Run's ticker, a test's call): two
	// waves of one stage side by side would only contend for the same hubs.
	stepMu sync.Mutex
	// mu guards the rollout's state. It is never held while a command is
	// sent (a wave of thousands of hubs takes seconds to minutes): halt,
	// rollback, status and the acknowledgements take it between sends.
	mu      sync.Mutex
	active  *Rollout
	targets map[devices.HubID]*Target
	byStage [][]devices.HubID
	dirty   map[devices.HubID]struct{}
	loaded  bool
	// listening is set while the newest rollout runs or is halted (its
	// commanded hubs still finish and report), for Ingest, which must not
	// take mu on the broker's path.
	listening atomic.Bool
	// sending is the id of the rollout whose waves may command hubs (0:
	// none). Halt and Rollback clear it, and a wave checks it before each
	// hub, so that a halt stops the wave being sent at the next hub.
	sending atomic.Int64
	dropped atomic.Int64
}

// New returns an engine; Run loads the active rollout from the store.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	if cfg.Open == nil {
		cfg.Open = func(context.Context, []devices.HubID) (map[devices.HubID]bool, error) { return nil, nil }
	}
	// The ack queue is bounded: a flood of acks must not grow memory; a
	// dropped step is harmless and a dropped final ack is made up for by
	// the status the hub publishes when it comes back (Status).
	return &Engine{cfg: cfg, acks: make(chan devices.CommandAck, 65536)}
}

// CommandID is the id of a rollout's firmware_update: the same for every
// hub (the ack names the hub), new for each rollout.
func CommandID(rollout int64) devices.CommandID {
	return devices.CommandID("fw-r" + strconv.FormatInt(rollout, 10))
}

func rolloutOf(id devices.CommandID) (int64, bool) {
	s, ok := cutPrefix(string(id), "fw-r")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) < len(p) || s[:len(p)] != p {
		return "", false
	}
	return s[len(p):], true
}

// Ack hands the engine a hub's acknowledgement (from the ingest path; it
// never blocks). It reports whether the ack belonged to a rollout.
func (e *Engine) Ack(a devices.CommandAck) bool {
	if _, ok := rolloutOf(a.ID); !ok {
		return false
	}
	// A step ("accepted") gives way to the outcomes when the queue is half
	// full: while a large wave is being commanded, the first hubs' steps
	// pile up, and a lost "done" would count a healthy hub as not back.
	if a.Status == devices.AckAccepted && len(e.acks) > cap(e.acks)/2 {
		e.dropped.Add(1)
		return true
	}
	select {
	case e.acks <- a:
	default:
		e.dropped.Add(1)
	}
	return true
}

// Dropped returns the acknowledgements and statuses dropped because the
// queue was full (steps first).
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// Status hands the engine a hub's online status: a hub that comes back
// with the rollout's version is running it even if its done ack was lost.
func (e *Engine) Status(hub devices.HubID, fw string) {
	if fw == "" {
		return
	}
	e.Ack(devices.CommandAck{Hub: hub, ID: "fw-r0", Status: devices.AckDone, Firmware: fw})
}

// Publish verifies and stores an image.
func (e *Engine) Publish(ctx context.Context, img Image, data []byte) (Image, error) {
	u := devices.FirmwareUpdate{URL: "https://x/", Version: img.Version, Model: img.Model, Size: int64(len(data)), SHA256: img.SHA256, Signature: img.Signature}
	sum := sha256Hex(data)
	if img.SHA256 == "" {
		u.SHA256, img.SHA256 = sum, sum
	}
	if img.Size != 0 && img.Size != int64(len(data)) || u.SHA256 != sum {
		return Image{}, ErrImageMismatch
	}
	img.Size = int64(len(data))
	if err := u.Validate(); err != nil {
		return Image{}, fmt.Errorf("ota: publish: %w: %w", devices.ErrInvalid, err)
	}
	if e.cfg.VendorKey != nil && !u.VerifySignature(e.cfg.VendorKey) {
		return Image{}, ErrBadSignature
	}
	img.Published = e.cfg.Now()
	if err := e.cfg.Store.PutFirmwareImage(ctx, img, data); err != nil {
		return Image{}, err
	}
	return img, nil
}

// Start begins a rollout of a published version to every hub of its model
// not already running it.
func (e *Engine) Start(ctx context.Context, model, version string, p Plan) (Rollout, error) {
	if err := p.Validate(); err != nil {
		return Rollout{}, err
	}
	img, ok, err := e.cfg.Store.FirmwareImage(ctx, model, version)
	if err != nil {
		return Rollout{}, err
	} else if !ok {
		return Rollout{}, fmt.Errorf("%w: %s %s", ErrNoImage, model, version)
	}
	// The command every hub will get must be valid before anyone gets it:
	// a gateway without a download URL would send args hubs refuse.
	if err := (devices.FirmwareUpdate{URL: e.cfg.ImageURL(model, version), Version: img.Version, Model: img.Model, Size: img.Size,
		SHA256: img.SHA256, Signature: img.Signature}).Validate(); err != nil {
		return Rollout{}, fmt.Errorf("ota: the firmware_update would be refused (is the gateway's firmware URL set?): %w: %w", devices.ErrInvalid, err)
	}
	hubs, err := e.cfg.Fleet.HubsOfModel(ctx, model)
	if err != nil {
		return Rollout{}, err
	}
	hubs = slices.DeleteFunc(hubs, func(h HubFirmware) bool { return h.Firmware == version })
	return e.begin(ctx, Rollout{Model: model, Version: version, Plan: p}, hubs)
}

func (e *Engine) begin(ctx context.Context, r Rollout, hubs []HubFirmware) (Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(ctx); err != nil {
		return Rollout{}, err
	}
	if e.active != nil && e.active.State == Running {
		return Rollout{}, fmt.Errorf("%w: %d (%s %s)", ErrActive, e.active.ID, e.active.Model, e.active.Version)
	}
	// The order is a hash of the hub id with the version: stable across a
	// restart, different for each version so that the same hubs are not
	// always the canary.
	key := func(h devices.HubID) uint64 {
		f := fnv.New64a()
		f.Write([]byte(r.Version))
		f.Write([]byte{0})
		f.Write([]byte(h))
		return f.Sum64()
	}
	slices.SortFunc(hubs, func(a, b HubFirmware) int { return cmpU64(key(a.Hub), key(b.Hub)) })
	now := e.cfg.Now()
	r.Stages = r.Plan.Stages(len(hubs))
	r.State, r.Created, r.Updated, r.StageStarted = Running, now, now, now
	if len(hubs) == 0 {
		r.State = Done
	}
	ts := make([]Target, 0, len(hubs))
	i := 0
	for s, n := range r.Stages {
		for range n {
			ts = append(ts, Target{Hub: hubs[i].Hub, Stage: s, Result: Pending, Previous: hubs[i].Firmware, Updated: now})
			i++
		}
	}
	r, err := e.cfg.Store.CreateRollout(ctx, r, ts)
	if err != nil {
		return Rollout{}, err
	}
	e.install(r, ts)
	e.cfg.Log.Info().Int64("rollout", r.ID).Str("model", r.Model).Str("version", r.Version).Ints("stages", r.Stages).Msg("rollout started")
	return r, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// install makes r the engine's rollout (under mu).
func (e *Engine) install(r Rollout, ts []Target) {
	e.active = &r
	e.targets = make(map[devices.HubID]*Target, len(ts))
	e.byStage = make([][]devices.HubID, len(r.Stages))
	e.dirty = map[devices.HubID]struct{}{}
	for i := range ts {
		t := &ts[i]
		e.targets[t.Hub] = t
		if t.Stage < len(e.byStage) {
			e.byStage[t.Stage] = append(e.byStage[t.Stage], t.Hub)
		}
	}
	e.loaded = true
	e.listening.Store(listensIn(r.State))
	e.sending.Store(0)
	if r.State == Running {
		e.sending.Store(r.ID)
	}
}

// loadLocked reads the newest rollout from the store once (after a
// restart): a running one carries on from its stored stage and targets.
func (e *Engine) loadLocked(ctx context.Context) error {
	if e.loaded {
		return nil
	}
	rs, err := e.cfg.Store.Rollouts(ctx, 1)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		e.loaded = true
		return nil
	}
	ts, err := e.cfg.Store.RolloutTargets(ctx, rs[0].ID)
	if err != nil {
		return err
	}
	e.install(rs[0], ts)
	return nil
}

// Halt stops the running rollout: no more commands are sent (those sent
// are not recalled: a hub mid-install finishes).
func (e *Engine) Halt(ctx context.Context, reason string) (Rollout, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(ctx); err != nil {
		return Rollout{}, err
	}
	if e.active == nil || e.active.State != Running {
		return Rollout{}, ErrNoRollout
	}
	// The wave being sent (if any) stops before its next hub: mu is not
	// held while a command is sent, so this is reached within one send.
	e.sending.Store(0)
	e.active.State, e.active.Reason, e.active.Updated = Halted, reason, e.cfg.Now()
	return *e.active, e.cfg.Store.UpdateRollout(ctx, *e.active)
}

// Rollback halts the current rollout if it runs and re-sends, to every hub
// it commanded, the firmware that hub ran before, in one stage per
// previous version... in practice one: a model's fleet runs one version.
// Hubs that never got the command are left alone.
func (e *Engine) Rollback(ctx context.Context) (Rollout, error) {
	e.mu.Lock()
	if err := e.loadLocked(ctx); err != nil {
		e.mu.Unlock()
		return Rollout{}, err
	}
	if e.active == nil || e.active.RollbackOf != 0 || e.active.State == RolledBack {
		e.mu.Unlock()
		return Rollout{}, ErrNotRollback
	}
	// Halted first, in the same hold of the lock as the list of hubs to
	// take back: a step between this and the rollback's start would
	// otherwise send the version being taken back to more hubs, which the
	// list would not hold.
	if e.active.State == Running {
		e.sending.Store(0)
		e.active.State, e.active.Reason, e.active.Updated = Halted, "rolling back", e.cfg.Now()
		if err := e.cfg.Store.UpdateRollout(ctx, *e.active); err != nil {
			e.mu.Unlock()
			return Rollout{}, err
		}
	}
	old := *e.active
	byPrev := map[string][]HubFirmware{}
	for _, t := range e.targets {
		switch t.Result {
		case Sent, Installed, Lost, Failed:
			if t.Previous != "" && t.Previous != old.Version {
				byPrev[t.Previous] = append(byPrev[t.Previous], HubFirmware{Hub: t.Hub, Firmware: old.Version})
			}
		}
	}
	e.mu.Unlock()
	// The most common previous version is the one to go back to; hubs
	// that came from another (rare: a fleet mid-way through an older
	// rollout) are named in the log and left to a rollout of their own.
	prev, hubs := "", []HubFirmware(nil)
	for v, hs := range byPrev {
		if len(hs) > len(hubs) || len(hs) == len(hubs) && v < prev {
			prev, hubs = v, hs
		}
	}
	if prev == "" {
		return Rollout{}, ErrNotRollback
	}
	if _, ok, err := e.cfg.Store.FirmwareImage(ctx, old.Model, prev); err != nil {
		return Rollout{}, err
	} else if !ok {
		return Rollout{}, fmt.Errorf("%w: %s %s (publish it to roll back)", ErrNoImage, old.Model, prev)
	}
	e.mu.Lock()
	now := e.cfg.Now()
	e.active.State, e.active.Updated = RolledBack, now
	if e.active.Reason == "" || e.active.Reason == "rolling back" {
		e.active.Reason = "rolled back"
	}
	err := e.cfg.Store.UpdateRollout(ctx, *e.active)
	e.loaded = true
	e.mu.Unlock()
	if err != nil {
		return Rollout{}, err
	}
	// A rollback goes to everyone at once and does not halt: the version it
	// sends is the one these hubs ran.
	return e.begin(ctx, Rollout{Model: old.Model, Version: prev, RollbackOf: old.ID,
		Plan: Plan{Canary: 1, HaltOn: 0.999999, Waves: []float64{1}, StageTimeout: old.Plan.StageTimeout}}, hubs)
}

// Report is a rollout with its hubs counted per stage.
type Report struct {
	Rollout
	PerStage []Counts       `json:"per_stage"`
	Reasons  map[string]int `json:"failure_reasons"`
}

// Current returns the newest rollout and its counts (ErrNoRollout when
// there has been none).
func (e *Engine) Current(ctx context.Context) (Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(ctx); err != nil {
		return Report{}, err
	}
	if e.active == nil {
		return Report{}, ErrNoRollout
	}
	rep := Report{Rollout: *e.active, PerStage: make([]Counts, len(e.active.Stages)), Reasons: map[string]int{}}
	for s := range rep.PerStage {
		rep.PerStage[s] = e.countLocked(s)
	}
	for _, t := range e.targets {
		if t.Result == Failed {
			rep.Reasons[t.Detail]++
		} else if t.Result == Lost {
			rep.Reasons["not_back"]++
		}
	}
	return rep, nil
}

func (e *Engine) countLocked(stage int) Counts {
	var c Counts
	for _, h := range e.byStage[stage] {
		t := e.targets[h]
		if t.Stage != stage {
			continue // moved on (postponed into a later stage)
		}
		c.Add(t.Result, 1)
	}
	return c
}

// Run sends, judges and persists every Tick until ctx ends. The hubs'
// acknowledgements are applied as they come, in a goroutine of their own:
// a wave being sent must neither delay them (a stage judged on stale
// counts) nor let their queue fill up and drop them (a healthy hub's lost
// "done" counts it as not back, and can halt a healthy rollout).
func (e *Engine) Run(ctx context.Context) error {
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		e.applyAcks(ctx)
	}()
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-acksDone
			e.mu.Lock()
			defer e.mu.Unlock()
			e.drainLocked()
			return e.flushLocked(context.WithoutCancel(ctx))
		case <-t.C:
			if err := e.Step(ctx); err != nil {
				e.cfg.Log.Error().Err(err).Msg("rollout step")
			}
		}
	}
}

// acksPerHold bounds the acknowledgements applied in one hold of mu, so
// that a flood of them does not keep a halt waiting.
const acksPerHold = 256

// applyAcks applies the acknowledgements as they arrive until ctx ends.
func (e *Engine) applyAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-e.acks:
			e.mu.Lock()
			e.applyLocked(a)
		more:
			for range acksPerHold {
				select {
				case a := <-e.acks:
					e.applyLocked(a)
				default:
					break more
				}
			}
			e.mu.Unlock()
		}
	}
}

// drainLocked applies the acknowledgements waiting.
func (e *Engine) drainLocked() {
	for {
		select {
		case a := <-e.acks:
			e.applyLocked(a)
		default:
			return
		}
	}
}

// applyLocked records an ack (or a status, whose ack id is fw-r0).
func (e *Engine) applyLocked(a devices.CommandAck) {
	r := e.active
	if r == nil {
		return
	}
	id, _ := rolloutOf(a.ID)
	t := e.targets[a.Hub]
	if t == nil || id != 0 && id != r.ID || t.Result != Sent && t.Result != Lost {
		return
	}
	switch {
	case a.Status == devices.AckDone && a.Firmware == r.Version:
		t.Result, t.Step, t.Detail = Installed, "", ""
	case a.Status == devices.AckDone && id == 0:
		return // a status of the old version: the hub has not rebooted yet
	case a.Status == devices.AckAccepted && a.Step != "":
		t.Step = a.Step
	case a.Status == devices.AckFailed, a.Status == devices.AckUnsupported, a.Status == devices.AckDone:
		// done without our version is a failure too: the hub runs
		// something else.
		t.Result, t.Detail = Failed, a.Detail
		if a.Status == devices.AckUnsupported {
			t.Detail = "unsupported"
		}
	default:
		return
	}
	t.Updated = e.cfg.Now()
	e.dirty[t.Hub] = struct{}{}
}

// Step drains the acks waiting, sends the current stage's commands, judges
// it and persists what changed. Run calls it every Tick; tests call it
// directly.
func (e *Engine) Step(ctx context.Context) error {
	e.stepMu.Lock()
	defer e.stepMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loadLocked(ctx); err != nil {
		return err
	}
	e.drainLocked()
	for {
		r := e.active
		if r == nil || r.State != Running || r.Stage >= len(r.Stages) {
			break
		}
		if w, ok := e.waveLocked(); ok {
			// mu is let go while the wave is sent: see sendWave.
			e.mu.Unlock()
			err := e.sendWave(ctx, w)
			e.mu.Lock()
			if err != nil {
				return err
			}
			if r = e.active; r == nil || r.ID != w.rollout || r.State != Running {
				break // halted or rolled back meanwhile
			}
		}
		now := e.cfg.Now()
		c := e.countLocked(r.Stage)
		v, timedOut := Judge(c, r.Plan, now.Sub(r.StageStarted))
		if timedOut {
			for _, h := range e.byStage[r.Stage] {
				if t := e.targets[h]; t.Stage == r.Stage && t.Result == Sent {
					t.Result, t.Updated = Lost, now
					e.dirty[h] = struct{}{}
				}
			}
			c = e.countLocked(r.Stage)
			if v, _ = Judge(c, r.Plan, now.Sub(r.StageStarted)); v == Wait {
				v = Advance // only postponed hubs are left; they move on
			}
		}
		switch v {
		case Wait:
			return e.flushLocked(ctx)
		case Halt:
			r.State = Halted
			r.Reason = fmt.Sprintf("stage %d: %d of %d hubs failed or did not come back (limit %.4g%%)", r.Stage, c.Bad(), c.Total-c.Postponed-c.Unreachable, r.Plan.HaltOn*100)
			e.cfg.Log.Warn().Int64("rollout", r.ID).Int("stage", r.Stage).Int("failed", c.Failed).Int("lost", c.Lost).Msg("rollout halted")
		case Advance:
			// Postponed hubs join the next stage; at the last stage the
			// rollout stays open for them.
			if c.Postponed > 0 && r.Stage == len(r.Stages)-1 {
				return e.flushLocked(ctx)
			}
			for _, h := range e.byStage[r.Stage] {
				if t := e.targets[h]; t.Stage == r.Stage && t.Result == Postponed {
					t.Stage, t.Result = r.Stage+1, Pending
					e.byStage[r.Stage+1] = append(e.byStage[r.Stage+1], h)
					e.dirty[h] = struct{}{}
				}
			}
			r.Stage++
			r.StageStarted = now
			if r.Stage == len(r.Stages) {
				r.State = Done
			}
		}
		if r.State != Running {
			e.sending.Store(0)
		}
		r.Updated = now
		if err := e.cfg.Store.UpdateRollout(ctx, *r); err != nil {
			return err
		}
	}
	return e.flushLocked(ctx)
}

// wave is a stage's hubs to command, listed under mu and sent without it.
type wave struct {
	rollout        int64
	stage          int
	model, version string
	hubs           []devices.HubID
}

// waveLocked lists the current stage's pending and postponed hubs.
func (e *Engine) waveLocked() (wave, bool) {
	r := e.active
	w := wave{rollout: r.ID, stage: r.Stage, model: r.Model, version: r.Version}
	for _, h := range e.byStage[r.Stage] {
		if t := e.targets[h]; t.Stage == r.Stage && (t.Result == Pending || t.Result == Postponed) {
			w.hubs = append(w.hubs, h)
		}
	}
	return w, len(w.hubs) > 0
}

// sendBatch is how many hubs of a wave are claimed at a time: marked sent
// and saved before any of them is commanded, so that a gateway killed
// mid-wave commands none of them again after its restart. A kill in the
// middle of a batch leaves at most this many hubs saved as sent whose
// command never left; they count as not back at the stage timeout (the
// safe side: the stage may halt; no hub is told to reboot twice). A batch
// costs a query (its hubs' open incidents) and a write (the claim), and
// one more write when some of its hubs were not commanded after all: a
// wave of 150,000 hubs is ~4,700 batches.
const sendBatch = 32

// openRecheck is how old the list of hubs with an incident open may be
// when a hub is commanded: a slow wave reads it again for the rest of its
// batch, so that an emergency opened mid-wave postpones the reboot.
const openRecheck = time.Second

// sendWave commands a wave's hubs a batch at a time, without holding mu
// while a command is sent: a halt, a rollback, a status request and the
// acknowledgements take it between two sends. Each batch asks which of
// its hubs have an incident open right before commanding them (again
// after openRecheck), and stops at the next hub once the rollout is halted.
func (e *Engine) sendWave(ctx context.Context, w wave) error {
	img, ok, err := e.cfg.Store.FirmwareImage(ctx, w.model, w.version)
	if err != nil || !ok {
		e.cfg.Log.Error().Err(err).Bool("found", ok).Int64("rollout", w.rollout).Msg("rollout image")
		return nil
	}
	cmd := devices.Command{ID: CommandID(w.rollout), At: e.cfg.Now(), Type: devices.CmdFirmwareUpdate,
		Args: devices.FirmwareUpdateArgs(devices.FirmwareUpdate{URL: e.cfg.ImageURL(w.model, w.version), Version: img.Version, Model: img.Model,
			Size: img.Size, SHA256: img.SHA256, Signature: img.Signature})}
	for hubs := w.hubs; len(hubs) > 0; {
		batch := hubs[:min(len(hubs), sendBatch)]
		hubs = hubs[len(batch):]
		if more, err := e.sendBatch(ctx, w, cmd, batch); err != nil || !more {
			return err
		}
	}
	return nil
}

// sendBatch claims and commands one batch; more says whether the wave
// goes on.
func (e *Engine) sendBatch(ctx context.Context, w wave, cmd devices.Command, batch []devices.HubID) (more bool, err error) {
	if e.sending.Load() != w.rollout {
		return false, nil
	}
	open, err := e.cfg.Open(ctx, batch)
	if err != nil {
		// Fail closed: without knowing who has an emergency, nobody is
		// rebooted; the rest of the wave waits for a later step.
		e.cfg.Log.Error().Err(err).Int64("rollout", w.rollout).Msg("rollout: open incidents")
		return false, nil
	}
	readAt := time.Now()
	claimed, err := e.claim(ctx, w, batch, open)
	if err != nil {
		return false, err
	}
	// The claimed hubs not commanded after all, saved in one write at the
	// end of the batch (or when the wave stops).
	var notSent []outcome
	stop := func(rest []Target) (bool, error) {
		for _, c := range rest {
			notSent = append(notSent, outcome{Target: c})
		}
		return false, e.settle(ctx, w, notSent)
	}
	for i, c := range claimed {
		if e.sending.Load() != w.rollout {
			return stop(claimed[i:])
		}
		if time.Since(readAt) >= openRecheck {
			if open, err = e.cfg.Open(ctx, hubsOf(claimed[i:])); err != nil {
				e.cfg.Log.Error().Err(err).Int64("rollout", w.rollout).Msg("rollout: open incidents")
				return stop(claimed[i:])
			}
			readAt = time.Now()
		}
		if open[c.Hub] {
			notSent = append(notSent, outcome{Target: c, res: Postponed})
			continue
		}
		if err := e.send(ctx, c.Hub, cmd); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrNotServing) {
				// The gateway is stopping, or not serving yet: the rest
				// of the wave waits for a later step (or the next start).
				return stop(claimed[i:])
			}
			notSent = append(notSent, outcome{Target: c, res: Unreachable, detail: err.Error()})
		}
	}
	return true, e.settle(ctx, w, notSent)
}

func hubsOf(ts []Target) []devices.HubID {
	hubs := make([]devices.HubID, len(ts))
	for i, t := range ts {
		hubs[i] = t.Hub
	}
	return hubs
}

// outcome is a claimed hub not commanded after all: res (Postponed,
// Unreachable) or, when res is "", back to what it was before the claim
// (Target).
type outcome struct {
	Target
	res    Result
	detail string
}

// claim marks the hubs of batch still to command in w's stage as sent, and
// those with an incident open as postponed, and saves them before any is
// commanded. It returns the claimed hubs as they were before.
func (e *Engine) claim(ctx context.Context, w wave, batch []devices.HubID, open map[devices.HubID]bool) ([]Target, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.active
	if r == nil || r.ID != w.rollout || r.State != Running || e.sending.Load() != w.rollout {
		return nil, nil
	}
	now := e.cfg.Now()
	var claimed []Target
	wasPostponed := false
	for _, h := range batch {
		t := e.targets[h]
		if t == nil || t.Stage != w.stage || t.Result != Pending && t.Result != Postponed {
			continue
		}
		if open[h] {
			if t.Result != Postponed {
				t.Result, t.Updated = Postponed, now
				e.dirty[h] = struct{}{}
			}
			continue
		}
		claimed = append(claimed, *t)
		wasPostponed = wasPostponed || t.Result == Postponed
		t.Result, t.Detail, t.Updated = Sent, "", now
		e.dirty[h] = struct{}{}
	}
	err := e.flushLocked(ctx)
	if err == nil && wasPostponed {
		// A hub held back by an incident gets the stage's full time once
		// it is commanded, or it would count as not back at once.
		r.StageStarted, r.Updated = now, now
		err = e.cfg.Store.UpdateRollout(ctx, *r)
	}
	if err != nil {
		// Nothing was commanded: the hubs are as they were (the store may
		// hold them as sent: see sendBatch).
		for _, c := range claimed {
			*e.targets[c.Hub] = c
		}
		return nil, err
	}
	return claimed, nil
}

// settle saves the outcomes of claimed hubs not commanded after all, at
// once (even when ctx has ended: a gateway stopping must not leave them
// saved as sent).
func (e *Engine) settle(ctx context.Context, w wave, outs []outcome) error {
	if len(outs) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	if e.active == nil || e.active.ID != w.rollout {
		// Rolled back meanwhile: the rollout's hubs are no longer held in
		// memory; its stored record is corrected.
		ts := make([]Target, 0, len(outs))
		for _, o := range outs {
			t := o.Target
			if o.res != "" {
				t.Result, t.Detail = o.res, o.detail
			}
			t.Updated = now
			ts = append(ts, t)
		}
		return e.cfg.Store.UpdateTargets(ctx, w.rollout, ts)
	}
	for _, o := range outs {
		t := e.targets[o.Hub]
		if t == nil || t.Result != Sent || t.Step != "" {
			continue // it answered: it was commanded after all
		}
		if o.res == "" {
			t.Result, t.Detail = o.Result, o.Detail
		} else {
			t.Result, t.Detail = o.res, o.detail
		}
		t.Updated = now
		e.dirty[o.Hub] = struct{}{}
	}
	return e.flushLocked(ctx)
}

// sendTimeout bounds the write of one command: a hub whose connection is
// stuck must not hold up a wave (the command stays in its session and is
// delivered when it reads again).
const sendTimeout = 5 * time.Second

func (e *Engine) send(ctx context.Context, h devices.HubID, cmd devices.Command) error {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return e.cfg.Commander.SendCommand(sctx, h, cmd)
}

func (e *Engine) flushLocked(ctx context.Context) error {
	e.listening.Store(e.active != nil && listensIn(e.active.State))
	if len(e.dirty) == 0 || e.active == nil {
		return nil
	}
	ts := make([]Target, 0, len(e.dirty))
	for h := range e.dirty {
		ts = append(ts, *e.targets[h])
	}
	if err := e.cfg.Store.UpdateTargets(ctx, e.active.ID, ts); err != nil {
		return err
	}
	clear(e.dirty)
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Ingest takes the hubs' acknowledgements and online statuses from the
// broker (broker.Ingester). While no rollout runs it looks at nothing.
func (e *Engine) Ingest(m *devices.Message) {
	if !e.listening.Load() {
		return
	}
	switch {
	case m.CmdAck != nil:
		e.Ack(*m.CmdAck)
	case m.Status != nil && m.Status.State == devices.HubOnline:
		e.Status(m.Hub, m.Status.Firmware)
	}
}

// listensIn says whether acknowledgements still matter in state s: after a
// halt the hubs already commanded finish, and status shows how they did.
func listensIn(s State) bool { return s == Running || s == Halted }

// Connection is part of broker.Ingester; connections tell a rollout
// nothing the statuses do not.
func (e *Engine) Connection(devices.ConnectionEvent) {}

// SharesReadingBatches: the engine keeps no readings batch, so the broker
// may pool them (broker.BatchSharer).
func (e *Engine) SharesReadingBatches() bool { return true }
