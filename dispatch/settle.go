package dispatch

import (
	"context"
	"fmt"
	"time"
)

// Settle returns once nothing is left to do at the clock's present time
// (Config.Now): every detection handed to Detect before the call is
// committed, and every outbox row due by now is delivered (or rescheduled
// by its failure), including the rows those deliveries made due. A
// simulated clock's owner calls it after each step so that what reaches
// 119, and when in simulated time, does not depend on the machine's speed
// (dolbom-sim soak). On the wall clock it is a wait for an idle moment
// that may never come; nothing in a gateway calls it.
func (d *Dispatcher) Settle(ctx context.Context) error {
	if err := d.Flush(ctx); err != nil {
		return err
	}
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		// Unchanged claim count and nothing under way on both sides of the
		// look at the table: no claim can have taken a due row between.
		claims := d.claims.Load()
		idle := d.delivering.Load() == 0
		due, ok, err := d.cfg.Store.NextOutboxDue(ctx)
		if err != nil {
			return fmt.Errorf("dispatch: settle: %w", err)
		}
		if idle && d.delivering.Load() == 0 && d.claims.Load() == claims && (!ok || due.After(d.cfg.Now())) {
			return nil
		}
		d.signal()
		pause.Reset(time.Millisecond)
		select {
		case <-ctx.Done():
			return fmt.Errorf("dispatch: settle: %w", ctx.Err())
		case <-pause.C:
		}
	}
}
