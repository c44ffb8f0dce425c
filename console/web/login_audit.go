package web

// The audit rows of refused sign-ins, bounded: an attacker decides how many
// refusals there are, so they must not decide how many rows are written on
// the store's write path, which the emergencies share.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dolbom/dolbom/console"
)

// LoginAuditRowsPerMinute bounds the audit rows refused sign-ins write in
// any clock minute (one more at shutdown). The first refusal of an account
// from a client address is written at once; later ones are counted and
// written as one row per account and address each minute; those over the
// bound are summed into one "login.refused" row.
const LoginAuditRowsPerMinute = 10

// loginAuditKeys bounds the accounts and addresses tallied at once (some
// 150 bytes each); refusals beyond it are still counted, in the overflow.
const loginAuditKeys = 10_000

// Kinds of rows, the label of login_audit_rows_total.
const (
	auditFirst    = "first"
	auditSummary  = "summary"
	auditOverflow = "overflow"
)

// refusal is what refused sign-ins are tallied under.
type refusal struct {
	action  string // login.failed or login.limited
	account string
	source  string // sourceKey: an IPv4 address or an IPv6 /64
}

type tally struct {
	count       int
	first, last time.Time
}

func (t *tally) add(n int, first, last time.Time) {
	if n == 0 {
		return
	}
	if t.count == 0 || first.Before(t.first) {
		t.first = first
	}
	if t.count == 0 || last.After(t.last) {
		t.last = last
	}
	t.count += n
}

// loginAudit turns refused sign-ins into audit rows. It never writes:
// its methods take the time and return the rows to write, and the console
// writes them (outside its lock).
type loginAudit struct {
	mu sync.Mutex
	// tallies holds refusals not yet on record per key; a key with a count
	// of 0 was written in the current or the previous minute and is
	// forgotten when a minute passes without refusals.
	tallies   map[refusal]*tally
	untracked map[string]*tally // per action: refusals beyond loginAuditKeys
	minute    time.Time         // the clock minute that used counts rows of
	used      int
}

func newLoginAudit() *loginAudit {
	return &loginAudit{tallies: map[refusal]*tally{}, untracked: map[string]*tally{}}
}

// auditRow is an entry to write and the kind it counts as.
type auditRow struct {
	console.AuditEntry
	kind string
}

// refused records one refusal at now. It returns the summaries due when
// now begins a new minute, and a row for this refusal itself when it is
// the first from its account and address and the minute's bound allows.
func (a *loginAudit) refused(k refusal, now time.Time) []auditRow {
	a.mu.Lock()
	defer a.mu.Unlock()
	rows := a.rollover(now)
	t, seen := a.tallies[k]
	switch {
	case seen:
		t.add(1, now, now)
	case len(a.tallies) >= loginAuditKeys:
		u := a.untracked[k.action]
		if u == nil {
			u = &tally{}
			a.untracked[k.action] = u
		}
		u.add(1, now, now)
	case a.used < LoginAuditRowsPerMinute:
		a.tallies[k] = &tally{}
		a.used++
		rows = append(rows, auditRow{console.AuditEntry{At: now.UTC(), AccountID: k.account, Action: k.action, Remote: k.source, Detail: "count=1"}, auditFirst})
	default:
		t = &tally{}
		t.add(1, now, now)
		a.tallies[k] = t
	}
	return rows
}

// tick returns the summaries due at now: those of the minutes before,
// once per minute.
func (a *loginAudit) tick(now time.Time) []auditRow {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rollover(now)
}

// final returns every refusal not yet on record, for the console's last
// write at shutdown; it may go one row over the minute's bound.
func (a *loginAudit) final(now time.Time) []auditRow {
	a.mu.Lock()
	defer a.mu.Unlock()
	rows := a.rollover(now)
	return append(rows, a.summarise(now, max(LoginAuditRowsPerMinute, a.used+1))...)
}

func (a *loginAudit) rollover(now time.Time) []auditRow {
	minute := now.Truncate(time.Minute)
	if !minute.After(a.minute) {
		return nil
	}
	a.minute, a.used = minute, 0
	return a.summarise(now, LoginAuditRowsPerMinute)
}

// summarise writes what is pending: one row per key, the busiest first,
// while the bound allows (one kept for the overflow), the rest summed into
// one overflow row.
func (a *loginAudit) summarise(now time.Time, bound int) []auditRow {
	var pending []refusal
	for k, t := range a.tallies {
		if t.count == 0 {
			delete(a.tallies, k) // quiet for a minute: its next refusal is news again
			continue
		}
		pending = append(pending, k)
	}
	slices.SortFunc(pending, func(x, y refusal) int {
		if c := cmp.Compare(a.tallies[y].count, a.tallies[x].count); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.account, y.account), cmp.Compare(x.source, y.source), cmp.Compare(x.action, y.action))
	})
	var rows []auditRow
	var over tally
	byAction := map[string]int{}
	accounts, sources := map[string]bool{}, map[string]bool{}
	// fits tells whether pending[i] gets its own row: yes while one row
	// stays free for the overflow, or when every key left fits.
	fits := func(i int) bool {
		left := bound - a.used
		return left > 1 || (left == 1 && i == len(pending)-1 && over.count == 0 && len(a.untracked) == 0)
	}
	for i, k := range pending {
		t := a.tallies[k]
		if fits(i) {
			rows = append(rows, auditRow{console.AuditEntry{At: now.UTC(), AccountID: k.account, Action: k.action, Remote: k.source,
				Detail: fmt.Sprintf("count=%d first=%s last=%s", t.count, stamp(t.first), stamp(t.last))}, auditSummary})
			a.used++
		} else {
			over.add(t.count, t.first, t.last)
			byAction[k.action] += t.count
			accounts[k.account], sources[k.source] = true, true
		}
		*t = tally{}
	}
	untracked := 0
	for action, u := range a.untracked {
		over.add(u.count, u.first, u.last)
		byAction[action] += u.count
		untracked += u.count
		delete(a.untracked, action)
	}
	if over.count > 0 {
		detail := fmt.Sprintf("count=%d login.failed=%d login.limited=%d accounts=%d addresses=%d", over.count,
			byAction["login.failed"], byAction["login.limited"], len(accounts), len(sources))
		if untracked > 0 {
			detail += fmt.Sprintf(" untracked=%d", untracked) // their accounts and addresses not counted above
		}
		detail += fmt.Sprintf(" first=%s last=%s", stamp(over.first), stamp(over.last))
		rows = append(rows, auditRow{console.AuditEntry{At: now.UTC(), AccountID: "(many)", Action: "login.refused", Remote: "(many)", Detail: detail}, auditOverflow})
		a.used++
	}
	return rows
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// writeAuditRows appends rows to the audit log within one deadline, even
// when the client has gone; a failure is logged (the refusals happened
// anyway and their counters went up).
func (w *web) writeAuditRows(ctx context.Context, rows []auditRow) {
	if len(rows) == 0 {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, r := range rows {
		if err := w.deps.Audit.AppendAudit(actx, r.AuditEntry); err != nil {
			w.log.Error().Err(err).Str("action", r.Action).Str("account_id", r.AccountID).Msg("refused sign-in not audited")
			return
		}
		w.metrics.auditRows.WithLabelValues(r.kind).Inc()
	}
}
