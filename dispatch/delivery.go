package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// runDelivery claims due outbox rows and hands them to the workers until
// ctx ends. It sleeps until the earliest due row, a wake-up (an in-process
// commit or a NOTIFY from another gateway) or PollInterval, whichever comes
// first; the table is the truth, wake-ups only shorten the wait.
func (d *Dispatcher) runDelivery(ctx context.Context) {
	work := make(chan OutboxRow)
	slots := make(chan struct{}, d.cfg.Workers) // a token per idle worker
	done := make(chan struct{})
	for range d.cfg.Workers {
		slots <- struct{}{}
		go func() {
			for {
				select {
				case row := <-work:
					d.deliverSafely(ctx, row)
					d.delivering.Add(-1)
					slots <- struct{}{}
				case <-done:
					return
				}
			}
		}()
	}
	defer func() {
		// Wait for workers to finish their rows: a row left "sending" is
		// only recovered after its lease.
		for range d.cfg.Workers {
			<-slots
		}
		close(done)
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		free := len(slots)
		if free > 0 {
			claimID := d.newClaimID()
			d.claims.Add(1)
			d.delivering.Add(1) // the claim, until its rows are counted (Settle)
			rows, err := d.claim(ctx, Claim{ID: claimID, Now: d.cfg.Now(), Lease: d.cfg.Lease, Limit: free})
			d.delivering.Add(int64(len(rows)) - 1)
			if err != nil && ctx.Err() == nil {
				d.log.Error().Err(err).Msg("outbox claim failed")
			}
			for _, row := range rows {
				<-slots
				select {
				case work <- row:
				case <-ctx.Done():
					// Unsent claimed rows are recovered after the lease.
					slots <- struct{}{}
					return
				}
			}
			if len(rows) == free {
				continue // more may be due: claim again as workers free up
			}
		}
		wait := d.cfg.PollInterval
		if free > 0 {
			if due, ok, err := d.cfg.Store.NextOutboxDue(ctx); err == nil && ok {
				wait = min(wait, max(due.Sub(d.cfg.Now()), 0)+time.Millisecond)
			}
		} else {
			wait = 5 * time.Millisecond // all workers busy: look again soon
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// claim claims due rows: through the writer's next group commit with a
// single-writer store, else directly.
func (d *Dispatcher) claim(ctx context.Context, c Claim) ([]OutboxRow, error) {
	if d.claimReqs == nil {
		return d.cfg.Store.ClaimOutbox(ctx, c)
	}
	req := &claimReq{claim: c, done: make(chan struct{})}
	select {
	case d.claimReqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The writer outlives delivery, so it answers; waiting even after ctx
	// ended keeps the rows it claimed from being dropped until the lease.
	<-req.done
	return req.rows, req.err
}

func (d *Dispatcher) newClaimID() string {
	return strconv.FormatInt(d.cfg.Now().UnixNano(), 36) + "-" + strconv.FormatUint(d.claimSeq.Add(1), 36) + "-" + NewIncidentID(time.Time{})[4:]
}

// deliver carries out one claimed row and records the outcome. The outcome
// is committed even when ctx ends meanwhile: a send that happened must be
// recorded, or it would be repeated after the lease.
func (d *Dispatcher) deliver(ctx context.Context, row OutboxRow) {
	log := d.log.With().Str("incident_id", row.IncidentID).Str("key", row.Key).Str("channel", string(row.Channel)).Logger()
	commitCtx := context.WithoutCancel(ctx)
	var err error
	switch row.Kind {
	case KindTimer:
		_, err = d.submit(commitCtx, Mutation{IncidentID: row.IncidentID, Relaxed: true, Apply: func(cur *Incident, _ *OutboxRow) (Change, error) {
			p := d.planner()
			if !cur.State.Closed() {
				p.resident = d.lookupResident(cur.Hub)
			}
			return p.onTimer(cur, &row)
		}})
	case KindCommand:
		err = d.deliverCommand(ctx, commitCtx, row)
	default:
		err = d.deliverNotification(ctx, commitCtx, row, log)
	}
	if err != nil && commitCtx.Err() == nil {
		log.Error().Err(err).Msg("recording a delivery failed; the row is retried after its lease")
	}
}

func (d *Dispatcher) deliverCommand(ctx, commitCtx context.Context, row OutboxRow) error {
	inc, err := d.cfg.Store.Incident(commitCtx, row.IncidentID)
	if err != nil {
		return err
	}
	var sendErr error
	if inc.State != StateVerifying {
		return d.complete(commitCtx, row, Change{Row: &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxCancelled}})
	}
	if d.cfg.Hubs == nil {
		sendErr = errors.New("no hub commander configured")
	} else {
		args, _ := json.Marshal(map[string]string{"incident_id": inc.ID, "cause": string(inc.Cause)})
		sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		// The command id is derived from the key: a resend after a crash
		// carries the same id, which the hub recognises.
		sendErr = d.cfg.Hubs.SendCommand(sctx, inc.Hub, devices.Command{
			ID: devices.CommandID(commandID(row.Key)), At: d.cfg.Now(), Type: devices.CmdCheckIn, Args: args})
		cancel()
	}
	return d.record(commitCtx, row, "", sendErr, true)
}

// commandID turns a row key into a valid command id: the protocol allows
// only [A-Za-z0-9._:-] and 64 bytes (a hub refuses anything else), so '/'
// becomes ':' and a long key keeps its distinctive end.
func commandID(key string) string {
	id := []byte(key)
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			id[i] = ':'
		}
	}
	if len(id) > devices.MaxIDLen {
		id = id[len(id)-devices.MaxIDLen:]
	}
	return string(id)
}

func (d *Dispatcher) deliverNotification(ctx, commitCtx context.Context, row OutboxRow, log zerolog.Logger) error {
	inc, err := d.cfg.Store.Incident(commitCtx, row.IncidentID)
	if err != nil {
		return err
	}
	if inc.State.Closed() && row.MsgType == MsgAlert && !(row.Recovered && inc.Cancel119Owed && row.Channel == Channel119) {
		// Closed between the claim and now: nobody needs the alert. Not so
		// an alert to 119 in doubt (its claim died mid-send) whose incident
		// owes 119 a Cancel: 119 may have it, so it goes again (119 knows a
		// repeat by its identifier), and its outcome queues the Cancel.
		return d.complete(commitCtx, row, Change{Row: &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxCancelled}})
	}
	if inc.State == StateAcknowledged && row.MsgType == MsgAlert && row.Channel != Channel119 {
		return d.complete(commitCtx, row, Change{Row: &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxCancelled}})
	}
	notifier, ok := d.cfg.Notifiers[row.Channel]
	if !ok {
		log.Error().Msg("no notifier for the channel; notification failed")
		return d.record(commitCtx, row, "", fmt.Errorf("no notifier for channel %q", row.Channel), false)
	}
	if row.Recovered {
		// In doubt: the previous claim may have sent it before it died.
		if lk, ok := notifier.(Looker); ok {
			lctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
			ref, found, err := lk.Lookup(lctx, row.Key)
			cancel()
			if err == nil && found {
				log.Debug().Str("ref", ref).Msg("in-doubt notification was sent before; not resending")
				return d.record(commitCtx, row, ref, nil, false)
			}
			if err != nil {
				return d.record(commitCtx, row, "", fmt.Errorf("look-up of an in-doubt send: %w", err), true)
			}
		}
	}
	n, err := d.notification(commitCtx, inc, row)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	ref, retry, sendErr := notifier.Notify(sctx, n)
	cancel()
	log.Debug().Err(sendErr).Str("ref", ref).Msg("notify")
	return d.record(commitCtx, row, ref, sendErr, retry)
}

// notification builds what a channel needs from the incident, the resident
// (only while the incident is open) and the timeline.
func (d *Dispatcher) notification(ctx context.Context, inc Incident, row OutboxRow) (Notification, error) {
	n := Notification{
		Key: row.Key, Type: row.MsgType, Recipient: row.Recipient, Channel: row.Channel, Step: row.Step, Attempt: row.Attempt,
		Incident: IncidentSnapshot{ID: inc.ID, Hub: inc.Hub, Sensor: inc.Sensor, Class: inc.Class, Cause: inc.Cause,
			Priority: inc.Priority, State: inc.State, Status119: inc.Status119, Disposition: inc.Disposition, Explanation: inc.Explanation, Evidence: evidenceSummary(inc.Evidence),
			OpenedAt: inc.OpenedAt, Seq: inc.Seq},
	}
	// A closed incident's resident stays out of what 119 gets (its Cancel)
	// but not out of the news to the people who know them: "어르신 댁" told
	// a guardian nothing about whose fall it was.
	if !inc.State.Closed() || row.MsgType.newsOfPeople() && row.Channel != Channel119 {
		if r := d.lookupResident(inc.Hub); r != nil {
			n.Resident, n.HasResident = *r, true
		}
	}
	tl, err := d.cfg.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return Notification{}, err
	}
	p := d.policies.Load()
	loc := p.loc
	if loc == nil {
		loc = time.UTC
	}
	n.Tried = triedSummary(tl, loc)
	return n, nil
}

// record commits the outcome of one send.
func (d *Dispatcher) record(ctx context.Context, row OutboxRow, ref string, sendErr error, retry bool) error {
	_, err := d.submit(ctx, Mutation{IncidentID: row.IncidentID, Relaxed: true, Apply: func(cur *Incident, _ *OutboxRow) (Change, error) {
		p := d.planner()
		if sendErr == nil {
			return p.onSent(cur, &row, ref), nil
		}
		return p.onSendError(cur, &row, sendErr, retry, d.cfg.Jitter), nil
	}})
	return err
}

func (d *Dispatcher) complete(ctx context.Context, row OutboxRow, ch Change) error {
	_, err := d.submit(ctx, Mutation{IncidentID: row.IncidentID, Relaxed: true, Apply: func(*Incident, *OutboxRow) (Change, error) {
		return ch, nil
	}})
	return err
}
