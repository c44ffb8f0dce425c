package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
)

// oneStage is a plan that commands every hub in one stage.
var oneStage = ota.Plan{Canary: 1, HaltOn: 0.5, Waves: []float64{1}, StageTimeout: time.Minute}

// commandCount counts the commands each hub is sent.
type commandCount struct {
	mu  sync.Mutex
	per map[devices.HubID]int
}

func (c *commandCount) add(hub devices.HubID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.per == nil {
		c.per = map[devices.HubID]int{}
	}
	c.per[hub]++
	n := 0
	for _, k := range c.per {
		n += k
	}
	return n
}

// twice returns the hubs commanded more than once, and how many hubs were
// commanded.
func (c *commandCount) twice() ([]devices.HubID, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []devices.HubID
	for h, k := range c.per {
		if k > 1 {
			out = append(out, h)
		}
	}
	return out, len(c.per)
}

// TestHaltStopsAWaveBeingSent: a halt asked while a wave of slow sends is
// under way returns at once and no hub is commanded after it. The wave was
// sent holding the engine's lock: the halt waited for all 200 hubs (~5 s)
// and every one of them was commanded.
func TestHaltStopsAWaveBeingSent(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		const hubs = 200
		var (
			count     commandCount
			halted    atomic.Bool
			afterHalt atomic.Int64
			tenth     = make(chan struct{})
		)
		send := func(_ context.Context, hub devices.HubID, _ devices.Command) error {
			if halted.Load() {
				afterHalt.Add(1)
			}
			if count.add(hub) == 10 {
				close(tenth)
			}
			time.Sleep(25 * time.Millisecond) // a slow link
			return nil
		}
		e, _, _ := startRollout(t, ctx, s, hubs, send, noneOpen, oneStage)
		stepped := make(chan error, 1)
		go func() { stepped <- e.Step(ctx) }()
		select {
		case <-tenth:
		case <-time.After(10 * time.Second):
			t.Fatal("the wave did not reach its 10th hub in 10 s")
		}
		start := time.Now()
		if _, err := e.Halt(ctx, "콜센터 문의 급증"); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		halted.Store(true)
		_, atHalt := count.twice()
		if err := <-stepped; err != nil {
			t.Fatal(err)
		}
		// The rest of the wave needs at least 190 x 25 ms of sends: a halt
		// that waited for it took longer than that. (Not a tighter bound: a
		// busy machine may stall this goroutine, and the sends go on
		// meanwhile, which is why the counts below are relative to the halt.)
		if took > 3*time.Second {
			t.Errorf("halt took %v while a wave was sent; want it within one send", took)
		}
		if n := afterHalt.Load(); n > 0 {
			t.Errorf("%d hubs commanded after the halt returned", n)
		}
		twice, commanded := count.twice()
		if len(twice) > 0 || commanded > atHalt+1 || commanded >= hubs {
			t.Errorf("commanded %d hubs (twice: %v), %d when the halt returned; want no more than the one in flight after it", commanded, twice, atHalt)
		}
		// The hubs claimed but not commanded are pending again, in memory
		// and in the store.
		for _, e := range []*ota.Engine{e, rolloutEngine(s, send, noneOpen, new(time.Now()))} {
			rep, err := e.Current(ctx)
			if c := rep.PerStage[0]; err != nil || rep.State != ota.Halted || c.Sent != commanded || c.Pending != hubs-commanded {
				t.Errorf("after the halt: %+v, %v; want halted, %d sent, the rest pending", rep, err, commanded)
			}
		}
	})
}

// TestAcksAreCountedDuringALongWave: the hubs' acknowledgements are applied
// while a wave is still being sent, none is dropped, and the stage ends
// with every hub running the new version. The acks were applied only
// between steps: during a wave they piled up in the queue (whose steps
// are dropped once half full, its outcomes once full), and the status
// asked for mid-wave waited for the whole wave.
func TestAcksAreCountedDuringALongWave(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		const hubs = 300
		var (
			e       *ota.Engine
			r       ota.Rollout
			count   commandCount
			midWave = make(chan string, 1)
		)
		send := func(_ context.Context, hub devices.HubID, _ devices.Command) error {
			n := count.add(hub)
			time.Sleep(2 * time.Millisecond)
			// A fast hub: each step, then done, right after its command.
			for _, step := range []devices.FirmwareStep{devices.StepDownloading, devices.StepVerified, devices.StepInstalling, devices.StepRebooting} {
				e.Ack(devices.CommandAck{Hub: hub, ID: ota.CommandID(r.ID), Status: devices.AckAccepted, Step: step})
			}
			e.Ack(devices.CommandAck{Hub: hub, ID: ota.CommandID(r.ID), Status: devices.AckDone, Firmware: "2.5.0"})
			if n == hubs {
				// Every hub before this one has answered done.
				midWave <- waitFor(ctx, e, 10*time.Second, fmt.Sprint(hubs-1, " running"), func(rep ota.Report) bool { return installed(rep) >= hubs-1 })
			}
			return nil
		}
		e, r, _ = startRollout(t, ctx, s, hubs, send, noneOpen, oneStage)
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- e.Run(runCtx) }()
		defer func() {
			stop()
			if err := <-ran; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		select {
		case msg := <-midWave:
			if msg != "" {
				t.Errorf("while the wave's last hub was commanded: %s", msg)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the wave did not reach its last hub in 30 s")
		}
		if msg := waitFor(ctx, e, 10*time.Second, "done, all running", func(rep ota.Report) bool {
			return rep.State == ota.Done && installed(rep) == hubs
		}); msg != "" {
			t.Fatal(msg)
		}
		if e.Dropped() != 0 {
			t.Errorf("%d acks dropped", e.Dropped())
		}
	})
}

// waitFor waits until the engine's report satisfies done, and says what
// it last saw if that does not happen within d (or the engine does not
// answer).
func waitFor(ctx context.Context, e *ota.Engine, d time.Duration, want string, done func(ota.Report) bool) string {
	deadline := time.Now().Add(d)
	for {
		got := make(chan ota.Report, 1)
		go func() {
			rep, _ := e.Current(ctx)
			got <- rep
		}()
		select {
		case rep := <-got:
			if done(rep) {
				return ""
			}
			if time.Now().After(deadline) {
				return fmt.Sprintf("after %v: %s %+v (%d acks dropped); want %s", d, rep.State, rep.PerStage, e.Dropped(), want)
			}
			time.Sleep(10 * time.Millisecond)
		case <-time.After(time.Until(deadline)):
			return fmt.Sprintf("the rollout's status did not answer within %v", d)
		}
	}
}

func installed(rep ota.Report) int {
	n := 0
	for _, c := range rep.PerStage {
		n += c.Installed
	}
	return n
}

// errKilled is what the commander says once the simulated gateway is
// killed: nothing leaves a dead process.
var errKilled = errors.New("gateway killed")

// TestRolloutKilledMidWaveCommandsNoHubTwice: a gateway killed in the
// middle of a wave (its store closed under it, so nothing more is saved)
// and started again commands only the hubs the first run had not: no hub
// twice. The hubs were saved as sent only at the end of the step, so the
// restart commanded again the whole part of the wave already sent.
func TestRolloutKilledMidWaveCommandsNoHubTwice(t *testing.T) {
	withEachStoreConfig(t, func(t *testing.T, ctx context.Context, cfg store.Config, s *store.Store) {
		const hubs, killAt = 200, 100
		var (
			count  commandCount
			killed atomic.Bool
		)
		send := func(_ context.Context, hub devices.HubID, _ devices.Command) error {
			if killed.Load() {
				return errKilled
			}
			if count.add(hub) == killAt {
				killed.Store(true)
				s.Close() // kill -9: the command has left, nothing after it is saved
			}
			return nil
		}
		e, _, now := startRollout(t, ctx, s, hubs, send, noneOpen, oneStage)
		if err := e.Step(ctx); err == nil {
			t.Fatal("a step whose store closed under it reported no error")
		}
		_, before := count.twice()

		s, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		killed.Store(false)
		e = rolloutEngine(s, send, noneOpen, now)
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		twice, commanded := count.twice()
		if len(twice) > 0 {
			t.Fatalf("%d hubs commanded twice after the restart: %v", len(twice), twice)
		}
		// The batch being sent when the gateway died (ota's sendBatch,
		// 32) was saved as sent before its commands left: the hubs of
		// it after the kill are never commanded (they will count as not
		// back), the price of never commanding a hub twice.
		rep, err := e.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c := rep.PerStage[0]; before != killAt || hubs-commanded > 32 || c.Sent != hubs || c.Pending != 0 {
			t.Errorf("%d commanded before the kill, %d in all (%d never), stage %+v; want %d, at least %d, all sent", before, commanded, hubs-commanded, c, killAt, hubs-32)
		}
	})
}

// TestRolloutStoppedMidWaveCommandsEachHubOnce: a gateway stopping in the
// middle of a wave (its context cancelled) and dropped without the final
// save of Run leaves the rest of the wave pending in the store; started
// again, it commands every hub exactly once.
func TestRolloutStoppedMidWaveCommandsEachHubOnce(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		const hubs, stopAt = 200, 100
		var count commandCount
		stepCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		send := func(ctx context.Context, hub devices.HubID, _ devices.Command) error {
			if err := ctx.Err(); err != nil {
				return err // the broker stopping: nothing sent
			}
			if count.add(hub) == stopAt {
				cancel()
			}
			return nil
		}
		_, _, now := startRollout(t, ctx, s, hubs, send, noneOpen, oneStage)
		if err := rolloutEngine(s, send, noneOpen, now).Step(stepCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		e := rolloutEngine(s, send, noneOpen, now)
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		twice, commanded := count.twice()
		if len(twice) > 0 || commanded != hubs {
			t.Fatalf("commanded %d hubs, %v twice; want each of the %d once", commanded, twice, hubs)
		}
		if rep, _ := e.Current(ctx); rep.PerStage[0].Sent != hubs {
			t.Errorf("after the restart: %+v", rep.PerStage[0])
		}
	})
}

// openIncidents opens an incident for each hub, opened at at and of the
// given priority, cause and class.
func openIncidents(t *testing.T, ctx context.Context, s *store.Store, hubs []devices.HubID, prefix string, at time.Time,
	prio detectors.Priority, cause detectors.Cause, class detectors.Class, state dispatch.State) {
	t.Helper()
	muts := make([]dispatch.Mutation, 0, len(hubs))
	for _, h := range hubs {
		id := prefix + string(h)
		muts = append(muts, dispatch.Mutation{Fingerprint: id, Apply: func(*dispatch.Incident, *dispatch.OutboxRow) (dispatch.Change, error) {
			return dispatch.Change{Incident: &dispatch.Incident{ID: id, Fingerprint: id, Hub: h, Cause: cause, Class: class, Priority: prio,
				State: state, Count: 1, Episode: at, OpenedAt: at, UpdatedAt: at}}, nil
		}})
	}
	applyIncidents(t, ctx, s, muts)
}

// applyIncidents applies muts and fails the test on any error.
func applyIncidents(t *testing.T, ctx context.Context, s *store.Store, muts []dispatch.Mutation) {
	t.Helper()
	res, err := s.Incidents().ApplyIncidents(ctx, muts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// TestRolloutHoldsBackAnIncidentPastTheFirstThousand: with more than 1000
// incidents open, a hub whose resident's emergency is the 1001st (least
// urgent, newest) is still held back. The gateway read the open incidents
// a page of 1000 at a time, once, and rebooted it. A device-health
// incident, or a closed one, holds nobody back.
func TestRolloutHoldsBackAnIncidentPastTheFirstThousand(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		var count commandCount
		send := func(_ context.Context, hub devices.HubID, _ devices.Command) error {
			count.add(hub)
			return nil
		}
		e, _, _ := startRollout(t, ctx, s, 40, send, s.Rollouts().OpenIncidentHubs, oneStage)
		at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		others := make([]devices.HubID, 1000)
		for i := range others {
			others[i] = devices.HubID(fmt.Sprintf("elsewhere-%04d", i))
		}
		openIncidents(t, ctx, s, others, "fire-", at, detectors.PriorityCritical, detectors.CauseFireConfirmed, detectors.ClassEmergency, dispatch.StateNotified)
		openIncidents(t, ctx, s, []devices.HubID{"hub-33"}, "fall-", at.Add(time.Hour), detectors.PriorityHigh, detectors.CauseFall, detectors.ClassEmergency, dispatch.StateAcknowledged)
		openIncidents(t, ctx, s, []devices.HubID{"hub-34"}, "battery-", at, detectors.PriorityLow, detectors.CauseBatteryLow, detectors.ClassDeviceHealth, dispatch.StateOpen)
		openIncidents(t, ctx, s, []devices.HubID{"hub-35"}, "sos-", at, detectors.PriorityCritical, detectors.CauseSOS, detectors.ClassEmergency, dispatch.StateResolved)
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		twice, commanded := count.twice()
		count.mu.Lock()
		held := count.per["hub-33"]
		count.mu.Unlock()
		if held != 0 || commanded != 39 || len(twice) > 0 {
			t.Errorf("hub-33 (emergency open, the 1001st) commanded %d times; %d of 40 hubs commanded; want every hub but hub-33, once", held, commanded)
		}
		if rep, _ := e.Current(ctx); rep.PerStage[0].Postponed != 1 {
			t.Errorf("stage %+v; want hub-33 postponed", rep.PerStage[0])
		}
	})
}

// TestRolloutPostponesAnIncidentOpenedMidWave: an emergency opened while a
// wave is being sent holds back the hubs not yet commanded. The open
// incidents were read once per wave: every hub was rebooted.
func TestRolloutPostponesAnIncidentOpenedMidWave(t *testing.T) {
	withEachStore(t, func(t *testing.T, ctx context.Context, s *store.Store) {
		const hubs = 10
		var count commandCount
		all := make([]devices.HubID, hubs)
		for i := range all {
			all[i] = devices.HubID(fmt.Sprintf("hub-%d", i))
		}
		send := func(_ context.Context, hub devices.HubID, _ devices.Command) error {
			if count.add(hub) == 1 {
				// An earthquake: every home raises an emergency while
				// the first hub's command is on its (slow) way.
				openIncidents(t, ctx, s, all, "sos-", time.Now(), detectors.PriorityCritical, detectors.CauseSOS, detectors.ClassEmergency, dispatch.StateOpen)
				time.Sleep(1100 * time.Millisecond)
			}
			return nil
		}
		e, _, _ := startRollout(t, ctx, s, hubs, send, s.Rollouts().OpenIncidentHubs, oneStage)
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if _, commanded := count.twice(); commanded != 1 {
			t.Errorf("%d hubs commanded; want the first only: the others' residents have an emergency open", commanded)
		}
		if rep, _ := e.Current(ctx); rep.PerStage[0].Postponed != hubs-1 || rep.PerStage[0].Sent != 1 {
			t.Errorf("stage %+v; want 1 sent, %d postponed", rep.PerStage[0], hubs-1)
		}
	})
}
