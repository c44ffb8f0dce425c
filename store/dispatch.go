package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Incidents is the sub-store of dispatch: incidents, timelines, the
// durable outbox and policies (dispatch.Store with its optional
// capabilities: GroupClaimer, ClaimReleaser, OutboxListener,
// IncidentListener, which dispatch finds on the same value), the evidence
// windows it keeps (dispatch.EvidenceStore) and the notification a bare SMS
// reply answers (twilio.Latest).
type Incidents struct{ *database }

// Incidents returns the sub-store of incidents, the outbox and evidence.
func (s *Store) Incidents() Incidents { return Incidents{s.database} }

var (
	_ dispatch.Store            = Incidents{}
	_ dispatch.GroupClaimer     = Incidents{}
	_ dispatch.ClaimReleaser    = Incidents{}
	_ dispatch.OutboxListener   = Incidents{}
	_ dispatch.IncidentListener = Incidents{}
	_ dispatch.EvidenceStore    = Incidents{}
)

// outboxChannel is the PostgreSQL NOTIFY channel that wakes the outbox
// workers of every gateway on the database.
const outboxChannel = "dolbom_outbox"

// incidentChannel is the PostgreSQL NOTIFY channel that tells every
// gateway's live feed that incidents changed (the table is the truth: the
// listener reads IncidentsChangedSince).
const incidentChannel = "dolbom_incidents"

func (s *database) isPostgres() bool { return s.be.name() == "postgres" }

// ApplyIncidents implements dispatch.Store: every mutation in one
// transaction, in order, so a group of detections costs one commit.
func (s Incidents) ApplyIncidents(ctx context.Context, muts []dispatch.Mutation) ([]dispatch.MutationResult, error) {
	results, _, err := s.applyAndClaim(ctx, muts, nil)
	if err != nil {
		return nil, fmt.Errorf("store: apply incidents: %w", err)
	}
	return results, nil
}

// SingleWriter implements dispatch.GroupClaimer: SQLite has one writer at
// a time, so a claim is best folded into the dispatch writer's group
// commit; PostgreSQL's claims run beside it (SKIP LOCKED).
func (s Incidents) SingleWriter() bool { return !s.isPostgres() }

// ReleaseClaims implements dispatch.ClaimReleaser where one process owns the
// database (the embedded store); with PostgreSQL other gateways' claims are
// alive, and it releases nothing.
func (s Incidents) ReleaseClaims(ctx context.Context) (int64, error) {
	if !s.SingleWriter() {
		return 0, nil
	}
	var n int64
	err := s.dispatchTx(ctx, false, func(q querier) error {
		var err error
		n, err = q.exec(ctx, `UPDATE dispatch_outbox SET claimed_until_us = 0 WHERE state = 'sending'`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: release claims: %w", err)
	}
	return n, nil
}

// ApplyIncidentsAndClaim implements dispatch.GroupClaimer: the mutations,
// then the claim, in one transaction (one commit, one fsync).
func (s Incidents) ApplyIncidentsAndClaim(ctx context.Context, muts []dispatch.Mutation, c dispatch.Claim) ([]dispatch.MutationResult, []dispatch.OutboxRow, error) {
	results, claimed, err := s.applyAndClaim(ctx, muts, &c)
	if err != nil {
		return nil, nil, fmt.Errorf("store: apply incidents and claim: %w", err)
	}
	sortClaimed(claimed)
	return results, claimed, nil
}

// dispatchTx runs fn in a write transaction; on SQLite its statements are
// prepared once and kept (the dispatch statements are few and hot). A
// relaxed transaction's commit does not wait for the disk (see
// dispatch.Mutation.Relaxed); on PostgreSQL fn sets that up itself (SET
// LOCAL, sent with its first batch).
func (s *database) dispatchTx(ctx context.Context, relaxed bool, fn func(q querier) error) error {
	if sb, ok := s.be.(*sqliteBackend); ok {
		return sb.inTxCached(ctx, relaxed, fn)
	}
	return s.be.inTx(ctx, fn)
}

// relaxedGroup reports whether a group may commit without waiting for the
// disk: every mutation is relaxed and nothing is claimed (a claim precedes
// a send, so it must be durable).
// likeEscaper escapes LIKE's wildcards ("social_worker-1" has one).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func relaxedGroup(muts []dispatch.Mutation, c *dispatch.Claim) bool {
	if c != nil || len(muts) == 0 {
		return false
	}
	for _, m := range muts {
		if !m.Relaxed {
			return false
		}
	}
	return true
}

func (s *database) applyAndClaim(ctx context.Context, muts []dispatch.Mutation, c *dispatch.Claim) ([]dispatch.MutationResult, []dispatch.OutboxRow, error) {
	results := make([]dispatch.MutationResult, len(muts))
	var claimed []dispatch.OutboxRow
	relaxed := relaxedGroup(muts, c)
	err := s.dispatchTx(ctx, relaxed, func(q querier) error {
		clear(results)
		claimed = nil
		var epochs map[devices.HubID]devices.Epoch
		if s.fenced() {
			var err error
			if epochs, err = lockFences(ctx, q, muts); err != nil {
				return err
			}
		}
		w := s.newTxWriter(ctx, q)
		if relaxed && s.isPostgres() {
			w.exec(`SET LOCAL synchronous_commit = off`, nil, nil)
		}
		seq := &changeSeq{}
		for i, m := range muts {
			if epochs != nil {
				if results[i].Err = fenceRefusal(m.Fence, epochs); results[i].Err != nil {
					continue
				}
			}
			if err := s.applyOne(ctx, q, w, seq, m, &results[i]); err != nil {
				return err
			}
		}
		if s.isPostgres() {
			// Delivered at commit: wakes the workers of other gateways,
			// and their live feeds.
			if w.enqueues {
				w.exec(`SELECT pg_notify('`+outboxChannel+`', '')`, nil, nil)
			}
			if w.changes {
				w.exec(`SELECT pg_notify('`+incidentChannel+`', $1)`, []any{s.notifyOrigin()}, nil)
			}
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
		if c != nil && c.Limit > 0 {
			var err error
			claimed, err = s.claimIn(ctx, q, *c)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.countStaleMutations(results)
	return results, claimed, nil
}

// changeSeq hands out change numbers on SQLite (one writer): the current
// maximum plus one. PostgreSQL takes them from a sequence shared by all
// gateways, inside the incident's INSERT or UPDATE.
type changeSeq struct {
	next int64
}

func (c *changeSeq) take(ctx context.Context, q querier) (int64, error) {
	if c.next == 0 {
		if err := q.queryRow(ctx, `SELECT COALESCE(MAX(change_seq), 0) FROM incidents`).Scan(&c.next); err != nil {
			return 0, err
		}
	}
	c.next++
	return c.next, nil
}

// applyOne reads what m needs, calls Apply and queues its writes on w
// (sent on PostgreSQL in one round trip before the next read or at the
// end; run at once on SQLite). res is filled in as the writes complete.
func (s *database) applyOne(ctx context.Context, q querier, w *txWriter, seq *changeSeq, m dispatch.Mutation, res *dispatch.MutationResult) error {
	// A read must see the writes of the mutations before it.
	if err := w.flush(ctx); err != nil {
		return err
	}
	lock := ""
	if s.isPostgres() {
		lock = " FOR UPDATE"
	}
	var row *dispatch.OutboxRow
	incidentID := m.IncidentID
	if incidentID == "" && m.RowRef != "" {
		r, err := scanOutbox(q.queryRow(ctx, `SELECT `+outboxCols+` FROM dispatch_outbox
			WHERE row_key = $1 OR (provider_ref = $1 AND provider_ref <> '') LIMIT 1`+lock, m.RowRef))
		if isNoRows(err) {
			res.Err = fmt.Errorf("store: notification %q: %w", m.RowRef, devices.ErrNotFound)
			return nil
		}
		if err != nil {
			return fmt.Errorf("load outbox row: %w", err)
		}
		row, incidentID = &r, r.IncidentID
	}
	var cur *dispatch.Incident
	var inc dispatch.Incident
	var err error
	switch {
	case incidentID != "":
		inc, err = scanIncident(q.queryRow(ctx, `SELECT data, change_seq FROM incidents WHERE id = $1`+lock, incidentID))
	case m.Fingerprint != "":
		inc, err = s.incidentOfFingerprint(ctx, q, m, lock)
	default:
		res.Err = fmt.Errorf("store: %w: mutation names no incident", devices.ErrInvalid)
		return nil
	}
	switch {
	case err == nil:
		cur = &inc
		res.Incident = inc
	case isNoRows(err):
		if incidentID != "" {
			res.Err = fmt.Errorf("store: incident %q: %w", incidentID, devices.ErrNotFound)
			return nil
		}
	default:
		return fmt.Errorf("load incident: %w", err)
	}
	ch, err := m.Apply(cur, row)
	if err != nil {
		res.Err = err
		return nil
	}
	now := s.now()
	if ch.Incident != nil {
		out := *ch.Incident
		data, err := json.Marshal(out) // Seq is kept in its column, not here
		if err != nil {
			return err
		}
		// The change number: SQLite's from the writer's counter (passed as
		// $11), PostgreSQL's from the shared sequence.
		seqSQL := "nextval('incident_change_seq')"
		args := []any{out.ID, out.Fingerprint, string(out.Hub), string(out.ResidentID), string(out.Cause),
			int64(out.Priority), string(out.State), toUS(out.OpenedAt), toUS(out.UpdatedAt), string(data)}
		if !s.isPostgres() {
			n, err := seq.take(ctx, q)
			if err != nil {
				return fmt.Errorf("change sequence: %w", err)
			}
			seqSQL = "$11"
			args = append(args, n)
		}
		query := `INSERT INTO incidents (id, fingerprint, hub_id, resident_id, cause, priority, state,
				opened_us, updated_us, change_seq, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, ` + seqSQL + `, $10)
				RETURNING change_seq`
		if cur != nil && cur.ID == out.ID {
			query = `UPDATE incidents SET fingerprint = $2, hub_id = $3, resident_id = $4, cause = $5,
				priority = $6, state = $7, opened_us = $8, updated_us = $9, change_seq = ` + seqSQL + `, data = $10
				WHERE id = $1 RETURNING change_seq`
		}
		res.Incident, res.Changed = out, true
		w.changes = true
		w.queryRow(query, args, func(r interface{ Scan(...any) error }) error {
			if err := r.Scan(&res.Incident.Seq); err != nil {
				return fmt.Errorf("write incident: %w", err)
			}
			return nil
		})
	}
	id := res.Incident.ID
	if id == "" {
		return nil // nothing to attach rows to
	}
	if ch.CancelPending {
		query := `UPDATE dispatch_outbox SET state = 'cancelled', updated_us = $2 WHERE incident_id = $1 AND state = 'pending'`
		args := []any{id, toUS(now)}
		if len(ch.Keep) > 0 {
			ph := make([]string, len(ch.Keep))
			for i, c := range ch.Keep {
				ph[i] = fmt.Sprintf("$%d", len(args)+1)
				args = append(args, string(c))
			}
			query += ` AND channel NOT IN (` + strings.Join(ph, ", ") + `)`
		}
		w.exec(query, args, nil)
	}
	for _, key := range ch.CancelKeys {
		w.exec(`UPDATE dispatch_outbox SET state = 'cancelled', updated_us = $2
			WHERE row_key = $1 AND state = 'pending'`, []any{key, toUS(now)}, nil)
	}
	for _, rid := range ch.CancelRecipients {
		// The recipient is a path segment of every notification key
		// (dispatch.NotificationKey: <incident>/s<step>/<recipient>/<channel>/<attempt>).
		w.exec(`UPDATE dispatch_outbox SET state = 'cancelled', updated_us = $3
			WHERE incident_id = $1 AND state = 'pending' AND kind = 'notify' AND row_key LIKE $2 ESCAPE '\'`,
			[]any{id, "%/" + likeEscaper.Replace(rid) + "/%", toUS(now)}, nil)
	}
	for _, r := range ch.Reschedule {
		w.exec(`UPDATE dispatch_outbox SET due_us = $2, updated_us = $3
			WHERE row_key = $1 AND state = 'pending' AND due_us > $2`, []any{r.Key, toUS(r.DueAt), toUS(now)}, nil)
	}
	if u := ch.Row; u != nil {
		query := `UPDATE dispatch_outbox SET state = $2,
			provider_ref = CASE WHEN $3 <> '' THEN $3 ELSE provider_ref END,
			due_us = CASE WHEN CAST($4 AS BIGINT) > 0 THEN CAST($4 AS BIGINT) ELSE due_us END,
			last_error = $5, updated_us = $6, claimed_until_us = 0
			WHERE row_key = $1`
		args := []any{u.Key, string(u.State), u.Ref, toUS(u.DueAt), u.LastError, toUS(now)}
		if u.ClaimID != "" {
			query += ` AND claim_id = $7 AND state = 'sending'`
			args = append(args, u.ClaimID)
		}
		w.exec(query, args, nil)
	}
	if ch.Alias != "" {
		w.exec(`INSERT INTO incident_aliases (fingerprint, incident_id, created_us) VALUES ($1, $2, $3)
			ON CONFLICT (fingerprint) DO UPDATE SET incident_id = excluded.incident_id, created_us = excluded.created_us`,
			[]any{ch.Alias, id, toUS(now)}, nil)
	}
	w.enqueues = w.enqueues || len(ch.Enqueue) > 0
	// One multi-row INSERT per chunk: fewer statements to parse (SQLite)
	// and to send (PostgreSQL).
	for chunk := range slices.Chunk(ch.Enqueue, insertChunkRows) {
		var sb strings.Builder
		hubCol := ""
		if s.fenced() {
			hubCol = ", hub_id" // only the hub's owner claims its commands
		}
		sb.WriteString(`INSERT INTO dispatch_outbox (row_key, incident_id, kind, channel, state, priority,
			due_us, deadline_us, created_us, updated_us, data` + hubCol + `) VALUES `)
		args := make([]any, 0, len(chunk)*10)
		for i := range chunk {
			r := &chunk[i]
			data, err := json.Marshal(outboxData{Step: r.Step, Attempt: r.Attempt, Recipient: r.Recipient, MsgType: r.MsgType, Timer: r.Timer})
			if err != nil {
				return err
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d",
				n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+9, n+10)
			args = append(args, r.Key, id, string(r.Kind), string(r.Channel), string(cmp.Or(r.State, dispatch.OutboxPending)),
				int64(r.Priority), toUS(r.DueAt), toUS(r.Deadline), toUS(now), string(data))
			if hubCol != "" {
				fmt.Fprintf(&sb, ", $%d", n+11)
				args = append(args, string(commandHub(r, res.Incident.Hub)))
			}
			sb.WriteByte(')')
		}
		sb.WriteString(" ON CONFLICT (row_key) DO NOTHING")
		w.exec(sb.String(), args, func(n int64) { res.Enqueued += int(n) })
	}
	for chunk := range slices.Chunk(ch.Timeline, insertChunkRows) {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO incident_timeline (incident_id, at_us, actor, action, channel, detail) VALUES `)
		args := make([]any, 0, len(chunk)*6)
		for i, e := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			args = append(args, id, toUS(e.At), e.Actor, e.Action, string(e.Channel), e.Detail)
		}
		w.exec(sb.String(), args, nil)
	}
	return nil
}

// incidentOfFingerprint finds the incident a detection's fingerprint
// belongs to: the incident opened by it, else the one it was folded into
// (an alias), else, when the mutation may fold, the open incident of its
// home that m.Fold picks. A miss costs two indexed look-ups and the home's
// open incidents, once per new episode.
func (s *database) incidentOfFingerprint(ctx context.Context, q querier, m dispatch.Mutation, lock string) (dispatch.Incident, error) {
	own, err := scanIncident(q.queryRow(ctx, `SELECT data, change_seq FROM incidents WHERE fingerprint = $1`+lock, m.Fingerprint))
	switch {
	case err == nil && !own.State.Closed():
		return own, nil
	case err != nil && !isNoRows(err):
		return own, err
	}
	// Its own incident is closed, or it has none: an alias names the
	// incident it was folded into, or the one a new trigger opened after
	// its own was closed (the newest wins).
	lockOf := ""
	if lock != "" {
		lockOf = lock + " OF i"
	}
	inc, aerr := scanIncident(q.queryRow(ctx, `SELECT i.data, i.change_seq FROM incident_aliases a
		JOIN incidents i ON i.id = a.incident_id WHERE a.fingerprint = $1`+lockOf, m.Fingerprint))
	switch {
	case aerr == nil:
		return inc, nil
	case !isNoRows(aerr):
		return inc, aerr
	case err == nil:
		return own, nil
	case m.Fold == nil || m.FoldHub == "":
		return inc, aerr
	}
	miss := aerr
	rs, err := q.query(ctx, `SELECT data, change_seq FROM incidents
		WHERE hub_id = $1 AND state NOT IN ('resolved', 'cancelled') ORDER BY opened_us, id`+lock, string(m.FoldHub))
	if err != nil {
		return inc, err
	}
	open, err := scanIncidents(rs)
	if err != nil {
		return inc, err
	}
	if picked := m.Fold(open); picked != nil {
		return *picked, nil
	}
	return dispatch.Incident{}, miss
}

// outboxData is the part of a row that no query filters on.
type outboxData struct {
	Step      int                  `json:"step"`
	Attempt   int                  `json:"attempt"`
	Recipient dispatch.Recipient   `json:"recipient"`
	MsgType   dispatch.MessageType `json:"msg_type,omitempty"`
	Timer     string               `json:"timer,omitempty"`
}

const outboxCols = `row_key, incident_id, kind, channel, state, priority, due_us, deadline_us, tries, provider_ref,
	claim_id, recovered, last_error, created_us, updated_us, data`

func scanOutbox(sc row) (dispatch.OutboxRow, error) {
	var r dispatch.OutboxRow
	var kind, state, data string
	var prio, tries, recovered int64
	var due, deadline, created, updated int64
	if err := sc.Scan(&r.Key, &r.IncidentID, &kind, &r.Channel, &state, &prio, &due, &deadline, &tries, &r.ProviderRef,
		&r.ClaimID, &recovered, &r.LastError, &created, &updated, &data); err != nil {
		return r, err
	}
	var d outboxData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return r, fmt.Errorf("store: outbox row %s: %w", r.Key, err)
	}
	r.Kind, r.State, r.Priority, r.Tries, r.Recovered = dispatch.OutboxKind(kind), dispatch.OutboxState(state),
		detectors.Priority(prio), int(tries), recovered != 0
	r.DueAt, r.Deadline, r.CreatedAt, r.UpdatedAt = fromUS(due), fromUS(deadline), fromUS(created), fromUS(updated)
	r.Step, r.Attempt, r.Recipient, r.MsgType, r.Timer = d.Step, d.Attempt, d.Recipient, d.MsgType, d.Timer
	return r, nil
}

func scanIncident(sc interface{ Scan(...any) error }) (dispatch.Incident, error) {
	var inc dispatch.Incident
	var data string
	var seq int64
	if err := sc.Scan(&data, &seq); err != nil {
		return inc, err
	}
	if err := json.Unmarshal([]byte(data), &inc); err != nil {
		return inc, fmt.Errorf("store: incident data: %w", err)
	}
	inc.Seq = seq
	return inc, nil
}

// ClaimOutbox implements dispatch.Store. Abandoned rows (lease over) are
// taken first, then due pending rows, most urgent first. On PostgreSQL
// FOR UPDATE SKIP LOCKED lets concurrent claimers, in any number of
// gateways, pass over each other's rows instead of waiting or taking them
// twice; on SQLite the single writer makes the UPDATE atomic by itself.
func (s Incidents) ClaimOutbox(ctx context.Context, c dispatch.Claim) ([]dispatch.OutboxRow, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	var out []dispatch.OutboxRow
	err := s.dispatchTx(ctx, false, func(q querier) error {
		var err error
		out, err = s.claimIn(ctx, q, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	sortClaimed(out)
	return out, nil
}

// claimIn claims within the transaction q.
func (s *database) claimIn(ctx context.Context, q querier, c dispatch.Claim) ([]dispatch.OutboxRow, error) {
	now, until := toUS(c.Now), toUS(c.Now.Add(c.Lease))
	skip := ""
	if s.isPostgres() {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	cl := outboxClaim{
		sels:  []string{`state = 'sending' AND claimed_until_us <= $1`, `state = 'pending' AND due_us <= $1`},
		until: "$3", untilArg: until,
	}
	if s.fenced() {
		cl = clusterOutboxClaim(c, s.member.Load())
	}
	var out []dispatch.OutboxRow
	for _, sel := range cl.sels {
		limit := c.Limit - len(out)
		if limit <= 0 {
			break
		}
		rows, err := q.query(ctx, `UPDATE dispatch_outbox SET state = 'sending', claim_id = $2, claimed_until_us = `+cl.until+`,
			tries = tries + 1, updated_us = $1, recovered = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
			WHERE row_key IN (SELECT row_key FROM dispatch_outbox WHERE `+sel+`
				ORDER BY priority, due_us LIMIT $4`+skip+`)
			RETURNING `+outboxCols, append([]any{now, c.ID, cl.untilArg, limit}, cl.more...)...)
		if err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		for rows.Next() {
			r, err := scanOutbox(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	return out, nil
}

func sortClaimed(rows []dispatch.OutboxRow) {
	slices.SortStableFunc(rows, func(a, b dispatch.OutboxRow) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.DueAt.Compare(b.DueAt))
	})
}

// NextOutboxDue implements dispatch.Store.
func (s Incidents) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var pending, lease *int64
	err := s.be.queryRow(ctx, `SELECT
		(SELECT MIN(due_us) FROM dispatch_outbox WHERE state = 'pending'),
		(SELECT MIN(claimed_until_us) FROM dispatch_outbox WHERE state = 'sending')`).Scan(&pending, &lease)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next outbox due: %w", err)
	}
	switch {
	case pending == nil && lease == nil:
		return time.Time{}, false, nil
	case pending == nil:
		return fromUS(*lease), true, nil
	case lease == nil:
		return fromUS(*pending), true, nil
	}
	return fromUS(min(*pending, *lease)), true, nil
}

// Incident implements dispatch.Store.
func (s Incidents) Incident(ctx context.Context, id string) (dispatch.Incident, error) {
	inc, err := scanIncident(s.be.queryRow(ctx, `SELECT data, change_seq FROM incidents WHERE id = $1`, id))
	if isNoRows(err) {
		return inc, fmt.Errorf("store: incident %q: %w", id, devices.ErrNotFound)
	}
	if err != nil {
		return inc, fmt.Errorf("store: incident: %w", err)
	}
	return inc, nil
}

// Timeline implements dispatch.Store.
func (s Incidents) Timeline(ctx context.Context, id string) ([]dispatch.TimelineEntry, error) {
	rows, err := s.be.query(ctx, `SELECT at_us, actor, action, channel, detail FROM incident_timeline
		WHERE incident_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []dispatch.TimelineEntry
	for rows.Next() {
		e := dispatch.TimelineEntry{IncidentID: id}
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Channel, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		e.At = fromUS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Outbox implements dispatch.Store.
func (s Incidents) Outbox(ctx context.Context, incidentID string) ([]dispatch.OutboxRow, error) {
	rows, err := s.be.query(ctx, `SELECT `+outboxCols+` FROM dispatch_outbox WHERE incident_id = $1
		ORDER BY created_us, row_key`, incidentID)
	return collect(rows, err, "outbox", scanOutbox)
}

// ListIncidents implements dispatch.Store.
func (s Incidents) ListIncidents(ctx context.Context, iq dispatch.IncidentQuery) ([]dispatch.Incident, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(iq.States) > 0 {
		ph := make([]string, len(iq.States))
		for i, st := range iq.States {
			ph[i] = arg(string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if iq.Priority > 0 {
		where = append(where, "priority = "+arg(int64(iq.Priority)))
	}
	if iq.Cause != "" {
		where = append(where, "cause = "+arg(string(iq.Cause)))
	}
	if iq.Hub != "" {
		where = append(where, "hub_id = "+arg(string(iq.Hub)))
	}
	if iq.ResidentID != "" {
		where = append(where, "resident_id = "+arg(string(iq.ResidentID)))
	}
	if !iq.Since.IsZero() {
		where = append(where, "opened_us >= "+arg(toUS(iq.Since)))
	}
	if len(iq.Regions) > 0 {
		// The 시도 its Alert was routed to, or its resident's district
		// (store/incident_routes.go).
		var anyOf []string
		for _, r := range iq.Regions {
			if len(r) >= 2 {
				anyOf = append(anyOf, "EXISTS (SELECT 1 FROM incident_routes ir WHERE ir.incident_id = incidents.id AND ir.sido = "+arg(r[:2])+")")
			}
			anyOf = append(anyOf, "resident_id IN (SELECT id FROM residents WHERE district_code LIKE "+arg(r+"%")+")")
		}
		where = append(where, "("+strings.Join(anyOf, " OR ")+")")
	}
	query := `SELECT data, change_seq FROM incidents`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY priority, opened_us, id LIMIT " + arg(int64(cmp.Or(iq.Limit, 100)))
	return s.queryIncidents(ctx, query, args...)
}

// IncidentsChangedSince implements dispatch.Store.
func (s Incidents) IncidentsChangedSince(ctx context.Context, seq int64, limit int) ([]dispatch.Incident, error) {
	return s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents WHERE change_seq > $1
		ORDER BY change_seq LIMIT $2`, seq, int64(cmp.Or(limit, 500)))
}

// IncidentsChangedAt implements dispatch.IncidentListener: incidents whose
// change number is one of seqs or greater than after, in change order.
func (s Incidents) IncidentsChangedAt(ctx context.Context, seqs []int64, after int64, limit int) ([]dispatch.Incident, error) {
	if len(seqs) == 0 {
		return s.IncidentsChangedSince(ctx, after, limit)
	}
	if s.isPostgres() {
		return s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents WHERE change_seq = ANY($1) OR change_seq > $2
			ORDER BY change_seq LIMIT $3`, seqs, after, int64(cmp.Or(limit, 500)))
	}
	args := []any{after, int64(cmp.Or(limit, 500))}
	ph := make([]string, len(seqs))
	for i, seq := range seqs {
		args = append(args, seq)
		ph[i] = fmt.Sprintf("$%d", i+3)
	}
	return s.queryIncidents(ctx, `SELECT data, change_seq FROM incidents WHERE change_seq IN (`+strings.Join(ph, ", ")+`)
		OR change_seq > $1 ORDER BY change_seq LIMIT $2`, args...)
}

// LastIncidentSeq implements dispatch.IncidentListener.
func (s Incidents) LastIncidentSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.be.queryRow(ctx, `SELECT COALESCE(MAX(change_seq), 0) FROM incidents`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last incident seq: %w", err)
	}
	return seq, nil
}

func (s *database) queryIncidents(ctx context.Context, query string, args ...any) ([]dispatch.Incident, error) {
	rs, err := s.be.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	return scanIncidents(rs)
}

// scanIncidents reads and closes rows of (data, change_seq).
func scanIncidents(rs rows) ([]dispatch.Incident, error) {
	defer rs.Close()
	var out []dispatch.Incident
	for rs.Next() {
		inc, err := scanIncident(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rs.Err()
}

// Policies implements dispatch.Store.
func (s Incidents) Policies(ctx context.Context) (map[detectors.Cause]dispatch.Policy, error) {
	rows, err := s.be.query(ctx, `SELECT cause, data FROM dispatch_policies`)
	if err != nil {
		return nil, fmt.Errorf("store: policies: %w", err)
	}
	defer rows.Close()
	out := map[detectors.Cause]dispatch.Policy{}
	for rows.Next() {
		var cause, data string
		if err := rows.Scan(&cause, &data); err != nil {
			return nil, fmt.Errorf("store: policies: %w", err)
		}
		var p dispatch.Policy
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return nil, fmt.Errorf("store: policy %s: %w", cause, err)
		}
		out[detectors.Cause(cause)] = p
	}
	return out, rows.Err()
}

// SavePolicy implements dispatch.Store.
func (s Incidents) SavePolicy(ctx context.Context, cause detectors.Cause, p dispatch.Policy, at time.Time) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := s.be.exec(ctx, `INSERT INTO dispatch_policies (cause, data, updated_us) VALUES ($1, $2, $3)
		ON CONFLICT (cause) DO UPDATE SET data = excluded.data, updated_us = excluded.updated_us`,
		string(cause), string(data), toUS(at)); err != nil {
		return fmt.Errorf("store: save policy: %w", err)
	}
	return nil
}

// LatestNotificationTo implements twilio.Latest: the newest notification
// row on one of channels to phone, of an incident in one of states (an SMS
// reply names only the number it came from). One query over the open
// incidents' rows: the phone sits in the row's JSON, so the database
// narrows by a substring and the exact match is checked here.
func (s Incidents) LatestNotificationTo(ctx context.Context, phone string, channels []dispatch.Channel, states []dispatch.State) (dispatch.OutboxRow, bool, error) {
	if phone == "" || len(channels) == 0 || len(states) == 0 {
		return dispatch.OutboxRow{}, false, nil
	}
	args := []any{string(dispatch.KindNotify), "%" + likeEscaper.Replace(phone) + "%"}
	ph := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	chs := make([]string, len(channels))
	for i, c := range channels {
		chs[i] = ph(string(c))
	}
	sts := make([]string, len(states))
	for i, st := range states {
		sts[i] = ph(string(st))
	}
	rows, err := s.be.query(ctx, `SELECT `+outboxCols+` FROM dispatch_outbox WHERE kind = $1 AND data LIKE $2 ESCAPE '\'
		AND channel IN (`+strings.Join(chs, ", ")+`)
		AND incident_id IN (SELECT id FROM incidents WHERE state IN (`+strings.Join(sts, ", ")+`))
		ORDER BY created_us DESC, row_key DESC`, args...)
	if err != nil {
		return dispatch.OutboxRow{}, false, fmt.Errorf("store: latest notification: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return dispatch.OutboxRow{}, false, err
		}
		if r.Recipient.Phone == phone {
			return r, true, nil
		}
	}
	return dispatch.OutboxRow{}, false, rows.Err()
}
