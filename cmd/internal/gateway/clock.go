package gateway

// A gateway on a simulated clock (Tuning.Clock). Every stage reads the one
// clock where time decides something: the broker's receive stamps (the
// hubs' clock checks, clock_skew, the 7-day horizon), the detectors'
// deadlines (no wall ticker runs; Step moves them), dispatch's escalation
// steps and outbox leases, the store's stamps and retention, the sent
// times and the resident's age that 119 is told. What stays on the wall
// clock decides nothing a soak measures:
//   - mochi's own clocks: keepalives (a hub that sends nothing for 1.5
//     keepalives of wall time is dropped; the soak's hubs connect with
//     keepalive 0, and publish every step anyway), the inflight and
//     session expiry sweeps (no session expires while its hub is
//     connected), the message expiry of outbound commands;
//   - the broker's rate limits and journal timeouts, the store's flush
//     ticker (Step flushes before it seals), dispatch's poll interval, the fake Twilio's call pacing: they
//     guard the machine's CPU and bound waits, and each step waits for
//     their work to finish (Step) instead of for time to pass;
//   - latency metrics and log durations, which measure the machine;
//   - the time 119's answers carry when they carry none, and the check of
//     their signatures' age: answers come from a real centre on real time
//     (the soak's mock 119 answers nothing).

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// retentionEvery is how often, in simulated time, Step runs the store's
// retention: its own loop ticks on the wall clock (every 10 minutes), so a
// soak would keep days of raw readings between two passes.
const retentionEvery = 10 * time.Minute

// Step makes the gateway catch up with its Tuning.Clock's present time:
// each detector shard applies every input queued before the call and runs
// its deadlines up to now, then dispatch commits the detections and
// delivers every notification due by now (the escalation steps that fall
// due, 119's CAP alerts), and every 10 simulated minutes a store pass
// starts as of now (flush the readings, seal the due hours, retention),
// which runs beside the next steps (StepsDone waits for it). The clock's
// owner calls it each time it moves the clock, after the hubs' messages of
// the step are acknowledged, so that a run's results do not depend on the
// machine's speed.
func (g *Gateway) Step(ctx context.Context) error {
	if g.clock == nil {
		return errors.New("gateway: Step is for a gateway on a simulated clock (Tuning.Clock); on the wall clock time moves by itself")
	}
	now := g.clock()
	if err := g.Engine.Step(ctx, now); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.Health.Step(ctx, now); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.Dispatch.Settle(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if now.Sub(g.retainedAt) >= retentionEvery {
		// One pass at a time: the previous one is over before the next
		// starts, so the store never falls behind the clock by more than
		// a pass.
		if err := g.StepsDone(ctx); err != nil {
			return err
		}
		g.retainedAt = now
		done := make(chan error, 1)
		g.maintaining = done
		// The pass runs beside the next steps, as the store's own loops run
		// beside the traffic on the wall clock: nothing the detectors or
		// dispatch decide reads what it writes or deletes, and on two cores
		// it used to leave one idle while every hub waited for it.
		go func() { done <- g.maintainStore(ctx, now) }()
	}
	return nil
}

// StepsDone waits for the store pass (flush, seal, retention) the last
// Step started, and returns its error. The clock's owner calls it before
// it stops the gateway or reads the store.
func (g *Gateway) StepsDone(ctx context.Context) error {
	if g.maintaining == nil {
		return nil
	}
	select {
	case err := <-g.maintaining:
		g.maintaining = nil
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maintainStore writes the readings received so far, then seals the
// hours due as of now, then runs retention as of now. In that order: with
// the sealer on the wall clock, a soak moving an hour of simulated time
// every few wall seconds left the seal half a simulated day behind, and
// retention, which keeps the raw rows of every unsealed hour, kept them
// all and rescanned them at every pass (44% of the CPU of a 200-home day).
func (g *Gateway) maintainStore(ctx context.Context, now time.Time) error {
	if err := g.Store.Flush(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.Store.SealDue(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if _, _, err := g.Store.RunRetentionAlone(ctx, now); err != nil {
		return fmt.Errorf("gateway: retention: %w", err)
	}
	return nil
}
