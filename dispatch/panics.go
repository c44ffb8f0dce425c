package dispatch

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// A panic in dispatch (a planner bug on one incident, a notifier that
// trips on one message) must cost that incident's step, not the process:
// the writer and the delivery workers recover, count, and log with the
// incident, and everything else keeps being committed and delivered.

// errPanic wraps a recovered panic as an error.
var errPanic = errors.New("dispatch: panic recovered")

type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("%v: %v", errPanic, p.value) }
func (p *panicError) Unwrap() error { return errPanic }

// Panics counts the panics dispatch recovered; it must stay 0.
func (d *Dispatcher) Panics() uint64 { return d.panics.Load() }

// applySafely runs the store's commit of muts (and the claim, if any),
// turning a panic in a mutation's Apply into an error.
func (d *Dispatcher) applySafely(fn func() ([]MutationResult, error)) (results []MutationResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.panics.Add(1)
			results, err = nil, &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	return fn()
}

// deliverSafely is deliver with a panic recovered: the row is recorded
// failed (not retried: the same input would panic again) so the
// escalation goes on to its next step.
func (d *Dispatcher) deliverSafely(ctx context.Context, row OutboxRow) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		d.panics.Add(1)
		d.log.Error().Str("incident_id", row.IncidentID).Str("key", row.Key).Str("channel", string(row.Channel)).
			Str("panic", fmt.Sprint(r)).Str("stack", string(debug.Stack())).Msg("panic while delivering recovered; the notification is recorded failed")
		err := &panicError{value: r}
		if rerr := d.record(context.WithoutCancel(ctx), row, "", err, false); rerr != nil {
			d.log.Error().Err(rerr).Str("incident_id", row.IncidentID).Msg("recording a failed delivery failed; the row is retried after its lease")
		}
	}()
	d.deliver(ctx, row)
}
