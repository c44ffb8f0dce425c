package store

// Maintenance work orders and technicians (dispatch/workorder). One open
// order per hub and fault is the partial unique index work_orders_open;
// opening again adds to the open order in the same statement.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/workorder"
)

// WorkOrders is the sub-store of work orders (workorder.Store).
type WorkOrders struct{ *database }

// WorkOrders returns the sub-store of work orders and technicians.
func (s *Store) WorkOrders() WorkOrders { return WorkOrders{s.database} }

const orderColumns = `id, hub_id, resident_id, fault, region, technician_id, status, detections, last_incident,
	opened_us, last_us, notified_us, notice_sid, closed_us, closed_by, replaced,
	notice_state, notice_attempts, notice_undelivered, notice_due_us, notice_error`

func scanOrder(sc row) (workorder.Order, error) {
	var o workorder.Order
	var opened, last, notified, closed, due int64
	err := sc.Scan(&o.ID, &o.Hub, &o.ResidentID, &o.Fault, &o.Region, &o.Technician, &o.Status, &o.Detections, &o.LastIncident,
		&opened, &last, &notified, &o.NoticeSID, &closed, &o.ClosedBy, &o.Replaced,
		&o.Notice, &o.NoticeAttempts, &o.NoticeUndelivered, &due, &o.NoticeError)
	o.OpenedAt, o.LastAt = fromUS(opened), fromUS(last)
	if due != 0 {
		o.NoticeDue = fromUS(due)
	}
	if notified != 0 {
		o.NotifiedAt = fromUS(notified)
	}
	if closed != 0 {
		o.ClosedAt = fromUS(closed)
	}
	return o, err
}

// OpenOrder opens o or adds to the open order of its hub and fault: a
// detection counts once per incident (the feed replays active incidents).
func (s WorkOrders) OpenOrder(ctx context.Context, o workorder.Order) (workorder.Order, bool, error) {
	if o.Hub == "" || o.Fault == "" {
		return o, false, invalid("work order: hub and fault are required")
	}
	id := newID(workorder.IDPrefix)
	got, err := scanOrder(s.be.queryRow(ctx, `INSERT INTO work_orders (id, hub_id, resident_id, fault, region, technician_id, status,
			detections, last_incident, opened_us, last_us)
		VALUES ($1, $2, $3, $4, $5, '', 'open', 1, $6, $7, $7)
		ON CONFLICT (hub_id, fault) WHERE status = 'open' DO UPDATE SET
			detections = work_orders.detections + CASE WHEN work_orders.last_incident = excluded.last_incident THEN 0 ELSE 1 END,
			last_incident = excluded.last_incident, last_us = excluded.last_us
		RETURNING `+orderColumns, id, o.Hub, o.ResidentID, o.Fault, o.Region, o.LastIncident, toUS(o.OpenedAt)))
	if err != nil {
		return got, false, fmt.Errorf("store: open work order: %w", err)
	}
	return got, got.ID == id, nil
}

// ClaimDue claims the orders due to be told. The outer WHERE repeats the
// conditions of the inner SELECT on purpose: on PostgreSQL a second
// gateway's UPDATE that waited for the first's row lock re-checks them on
// the row the first committed, and skips it, instead of claiming it again
// (SKIP LOCKED would need a dialect of its own; the wait is one short
// transaction).
//
// It runs as a transaction so that on SQLite it queues at the writers' gate
// like every other write.
func (s WorkOrders) ClaimDue(ctx context.Context, by string, now time.Time, hold time.Duration, limit int) ([]workorder.Order, error) {
	var orders []workorder.Order
	err := s.be.inTx(ctx, func(q querier) error {
		rows, err := q.query(ctx, `UPDATE work_orders SET claimed_by = $1, claim_until_us = $2
		WHERE id IN (SELECT id FROM work_orders WHERE status = 'open' AND notice_state IN ('pending', 'parked')
				AND notice_due_us <= $3 AND claim_until_us <= $3
			ORDER BY notice_due_us, opened_us, id LIMIT $4)
			AND status = 'open' AND notice_state IN ('pending', 'parked') AND notice_due_us <= $3 AND claim_until_us <= $3
		RETURNING `+orderColumns, by, toUS(now.Add(hold)), toUS(now), limit)
		orders, err = collect(rows, err, "claim work orders to tell", scanOrder)
		return err
	})
	// RETURNING comes in no particular order: oldest due first.
	slices.SortFunc(orders, func(a, b workorder.Order) int {
		return cmp.Or(a.NoticeDue.Compare(b.NoticeDue), a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID))
	})
	return orders, err
}

// MarkNotified records which technician's SMS was accepted.
func (s WorkOrders) MarkNotified(ctx context.Context, id, technician, sid string, at time.Time) error {
	n, err := s.be.exec(ctx, `UPDATE work_orders SET notified_us = $2, notice_sid = $3, technician_id = $4, notice_state = 'sent',
			notice_attempts = notice_attempts + 1, notice_due_us = 0, notice_error = '', claimed_by = '', claim_until_us = 0
		WHERE id = $1`, id, toUS(at), sid, technician)
	if err != nil {
		return fmt.Errorf("store: work order notified: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: work order %s: %w", id, devices.ErrNotFound)
	}
	return nil
}

// RecordNotice records a notice that was not accepted (or was, and then
// not delivered) and releases the claim.
func (s WorkOrders) RecordNotice(ctx context.Context, id string, r workorder.NoticeRecord) (bool, error) {
	switch r.State {
	case workorder.NoticePending, workorder.NoticeParked, workorder.NoticeFailed:
	default:
		return false, invalid("work order %s: notice state %q: pending, parked or failed", id, r.State)
	}
	b2i := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	sql := `UPDATE work_orders SET notice_state = $2, notice_due_us = $3, notice_error = $4,
			notice_attempts = notice_attempts + $5, notice_undelivered = notice_undelivered + $6,
			notified_us = 0, claimed_by = '', claim_until_us = 0
		WHERE id = $1`
	args := []any{id, string(r.State), toUS(r.Due), r.Error, b2i(r.Attempted), b2i(r.Undelivered)}
	if r.IfSID != "" {
		sql += ` AND notice_state = 'sent' AND notice_sid = $7`
		args = append(args, r.IfSID)
	}
	n, err := s.be.exec(ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("store: work order notice: %w", err)
	}
	if n == 0 && r.IfSID == "" {
		return false, fmt.Errorf("store: work order %s: %w", id, devices.ErrNotFound)
	}
	return n > 0, nil
}

// ActiveFaultIncidents pages through the active incidents of the causes
// that open orders, by id.
func (s WorkOrders) ActiveFaultIncidents(ctx context.Context, after string, limit int) ([]dispatch.Incident, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var states, causes []string
	for _, st := range dispatch.ActiveStates() {
		states = append(states, arg(string(st)))
	}
	for _, c := range workorder.Faults() {
		causes = append(causes, arg(string(c)))
	}
	return s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents WHERE state IN (`+strings.Join(states, ", ")+`)
		AND cause IN (`+strings.Join(causes, ", ")+`) AND id > `+arg(after)+` ORDER BY id LIMIT `+arg(int64(limit)), args...)
}

// CloseOrder closes an open order with what was replaced.
func (s WorkOrders) CloseOrder(ctx context.Context, id, by, replaced string, at time.Time) (workorder.Order, error) {
	if err := workorder.CheckClose(by, replaced); err != nil {
		return workorder.Order{}, err
	}
	n, err := s.be.exec(ctx, `UPDATE work_orders SET status = 'closed', closed_us = $2, closed_by = $3, replaced = $4
		WHERE id = $1 AND status = 'open'`, id, toUS(at), by, replaced)
	if err != nil {
		return workorder.Order{}, fmt.Errorf("store: close work order: %w", err)
	}
	o, err := s.GetOrder(ctx, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("store: work order %s: %w", id, workorder.ErrClosed)
	}
	return o, err
}

// GetOrder reads one order.
func (s WorkOrders) GetOrder(ctx context.Context, id string) (workorder.Order, error) {
	o, err := scanOrder(s.be.queryRow(ctx, `SELECT `+orderColumns+` FROM work_orders WHERE id = $1`, id))
	return one(o, err, "work order", id)
}

// ListOrders lists orders, newest first.
func (s WorkOrders) ListOrders(ctx context.Context, q workorder.Query) ([]workorder.Order, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.ResidentID != "" {
		where = append(where, "resident_id = "+arg(q.ResidentID))
	}
	if q.Hub != "" {
		where = append(where, "hub_id = "+arg(q.Hub))
	}
	if q.Status != "" {
		where = append(where, "status = "+arg(q.Status))
	}
	if q.Regions != nil {
		ors := []string{"1 = 0"} // regions given but none: nothing
		for _, r := range q.Regions {
			ors = append(ors, "region LIKE "+arg(r+"%"))
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = min(max(limit, 100), 1000)
	}
	sql := `SELECT ` + orderColumns + ` FROM work_orders`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY opened_us DESC, id DESC LIMIT " + arg(limit)
	rows, err := s.be.query(ctx, sql, args...)
	return collect(rows, err, "list work orders", scanOrder)
}

// PutTechnician creates or replaces a technician.
func (s WorkOrders) PutTechnician(ctx context.Context, t workorder.Technician) error {
	switch {
	case !validAccountID(t.ID):
		return invalid("technician id %q: 1-64 characters of a-z, 0-9, '.', '-', '_'", t.ID)
	case t.Phone == "" || t.Region == "":
		return invalid("technician %s: phone and region are required", t.ID)
	}
	if t.Lang == "" {
		t.Lang = "ko"
	}
	err := s.be.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `INSERT INTO technicians (id, name, phone, region, lang) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone, region = excluded.region, lang = excluded.lang`,
			t.ID, t.Name, t.Phone, t.Region, t.Lang); err != nil {
			return err
		}
		// The parked orders are due again: this technician may cover
		// them (few: those of regions nobody covered).
		_, err := q.exec(ctx, `UPDATE work_orders SET notice_state = 'pending', notice_due_us = 0
			WHERE status = 'open' AND notice_state = 'parked'`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put technician: %w", err)
	}
	return nil
}

// ListTechnicians lists every technician by id (a few hundred nationally).
func (s WorkOrders) ListTechnicians(ctx context.Context) ([]workorder.Technician, error) {
	rows, err := s.be.query(ctx, `SELECT id, name, phone, region, lang FROM technicians ORDER BY id`)
	return collect(rows, err, "list technicians", func(sc row) (workorder.Technician, error) {
		var t workorder.Technician
		err := sc.Scan(&t.ID, &t.Name, &t.Phone, &t.Region, &t.Lang)
		return t, err
	})
}
