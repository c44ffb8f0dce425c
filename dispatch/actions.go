package dispatch

import (
	"context"
	"fmt"
	"strings"
)

// The inbound side: people, channels and 119 acting on incidents. Each
// action is one mutation committed through the writer, so actions and
// detections on one incident are applied in order.

func (d *Dispatcher) onIncident(ctx context.Context, id string, fn func(p planner, cur *Incident) (Change, error)) (Incident, error) {
	if strings.TrimSpace(id) == "" {
		return Incident{}, fmt.Errorf("%w: incident id is required", ErrInvalid)
	}
	return d.submit(ctx, Mutation{IncidentID: id, Apply: func(cur *Incident, _ *OutboxRow) (Change, error) {
		return fn(d.planner(), cur)
	}})
}

// Acknowledge records that a person in the console or the API took the
// incident on (a dispatcher's or social worker's decision): the escalation
// stops (pending notifications and timers are cancelled; 119 rows stay).
// by is who ("김민수", a console user), via the channel (ChannelVoice,
// ChannelSMS, ChannelConsole). Acknowledging twice is not an error.
func (d *Dispatcher) Acknowledge(ctx context.Context, incidentID, by string, via Channel) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		return p.acknowledge(cur, by, via)
	})
}

// AcknowledgeNotification is a plain acknowledgement of the notification
// whose key or provider reference is ref: ReplyToNotification with the
// state acknowledged ("I got the message"), which stands a welfare or
// device incident down but not an emergency (responders.go).
func (d *Dispatcher) AcknowledgeNotification(ctx context.Context, ref string) (Incident, error) {
	return d.ReplyToNotification(ctx, ref, Reply{State: ResponderAcknowledged})
}

// Delivered records a provider's delivery confirmation for the row whose
// key or provider reference is ref. detail may say "voicemail": that is
// recorded, and is not an acknowledgement.
func (d *Dispatcher) Delivered(ctx context.Context, ref, detail string) error {
	_, err := d.submit(ctx, Mutation{RowRef: ref, Apply: func(cur *Incident, row *OutboxRow) (Change, error) {
		return d.planner().onStatus(cur, row, true, detail), nil
	}})
	return err
}

// Failed records a provider's failure report (busy, no answer, failed,
// undelivered) for the row whose key or provider reference is ref; the
// recipient's next attempt is brought forward.
func (d *Dispatcher) Failed(ctx context.Context, ref, reason string) error {
	_, err := d.submit(ctx, Mutation{RowRef: ref, Apply: func(cur *Incident, row *OutboxRow) (Change, error) {
		return d.planner().onStatus(cur, row, false, reason), nil
	}})
	return err
}

// Apply119 moves the incident on 119's answer.
func (d *Dispatcher) Apply119(ctx context.Context, a Answer119) (Incident, error) {
	return d.onIncident(ctx, a.IncidentID, func(p planner, cur *Incident) (Change, error) {
		// Its first "we have it" tells the guardians, by name and address.
		p.resident = d.lookupResident(cur.Hub)
		return p.apply119(cur, a)
	})
}

// Resolve closes the incident with a disposition; a false alarm, test or
// duplicate that 119 was alerted to is cancelled at 119.
func (d *Dispatcher) Resolve(ctx context.Context, incidentID string, disp Disposition, by, note string) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		return p.resolve(cur, disp, by, note)
	})
}

// Cancel closes the incident as cancelled (a resident's cancel reported by
// a person, or a dispatcher's false alarm) and sends 119 a cancel if it was
// alerted.
func (d *Dispatcher) Cancel(ctx context.Context, incidentID, by, reason string) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		return p.cancel(cur, by, ChannelConsole, reason)
	})
}

// Assign gives the incident to someone (empty: unassigned).
func (d *Dispatcher) Assign(ctx context.Context, incidentID, assignee, by string) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		return p.assign(cur, assignee, by)
	})
}

// Note adds a note to the incident's timeline.
func (d *Dispatcher) Note(ctx context.Context, incidentID, by, text string) (Incident, error) {
	return d.onIncident(ctx, incidentID, func(p planner, cur *Incident) (Change, error) {
		return p.note(cur, by, text)
	})
}

// Incident returns an incident with its timeline.
func (d *Dispatcher) Incident(ctx context.Context, id string) (Incident, []TimelineEntry, error) {
	inc, err := d.cfg.Store.Incident(ctx, id)
	if err != nil {
		return Incident{}, nil, err
	}
	tl, err := d.cfg.Store.Timeline(ctx, id)
	if err != nil {
		return Incident{}, nil, err
	}
	return inc, tl, nil
}

// Notifications returns an incident's outbox rows.
func (d *Dispatcher) Notifications(ctx context.Context, id string) ([]OutboxRow, error) {
	return d.cfg.Store.Outbox(ctx, id)
}

// ListIncidents returns incidents ordered by priority, then age.
func (d *Dispatcher) ListIncidents(ctx context.Context, q IncidentQuery) ([]Incident, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	return d.cfg.Store.ListIncidents(ctx, q)
}
