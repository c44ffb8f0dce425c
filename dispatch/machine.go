package dispatch

import (
	"cmp"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// The incident state machine and the escalation planner: pure functions of
// the current incident, the input and `now`, returning the Change to commit.
// The Dispatcher runs them inside the store's transaction.

var (
	// ErrClosed is returned for an action on a resolved or cancelled incident.
	ErrClosed = errors.New("dispatch: incident is closed")
	// ErrInvalid is wrapped by errors for input the dispatcher refuses.
	ErrInvalid = errors.New("dispatch: invalid")
	// errNoChange makes a mutation a no-op without being an error for the
	// caller; it never leaves the package.
	errNoChange = errors.New("dispatch: no change")
)

// actor names used on the timeline.
const (
	actorSystem   = "system"
	actorDetector = "detector"
	actorResident = "resident"
	actor119      = "119"
)

// planner holds what every decision needs besides the incident.
type planner struct {
	pol *Policies
	now time.Time
	// resident is the resident of the incident's hub, nil when unknown.
	resident *devices.Resident
}

// NewIncidentID returns a new, time-ordered incident id.
func NewIncidentID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = cryptoRead(b)
	return "inc-" + strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b)
}

var cryptoRead = crand.Read

func (p planner) entry(inc *Incident, actor, action string, channel Channel, detail string) TimelineEntry {
	return TimelineEntry{IncidentID: inc.ID, At: p.now, Actor: actor, Action: action, Channel: channel, Detail: detail}
}

// onDetection applies a detection to its incident: cur is the incident of
// its fingerprint (or of which it is an alias), else the open incident of
// the home it may join (foldTarget), else nil (none yet).
func (p planner) onDetection(cur *Incident, d detectors.Detection) (Change, error) {
	if cur == nil {
		return p.open(d)
	}
	inc := *cur
	inc.UpdatedAt = p.now
	var ch Change
	if inc.State.Closed() {
		if triggeredAgain(cur, d) {
			return p.openAfterClosed(cur, d)
		}
		ch.Incident = &inc
		ch.Timeline = append(ch.Timeline, p.entry(&inc, actorDetector, ActRepeated, "",
			fmt.Sprintf("%s after the incident was closed; no action", d.State)))
		return ch, nil
	}
	inc.Episodes = episodesOf(cur)
	if i := slices.IndexFunc(inc.Episodes, func(e Episode) bool { return e.Fingerprint == d.Fingerprint }); i >= 0 {
		return p.onEpisode(&inc, i, d)
	}
	return p.fold(&inc, d)
}

// triggeredAgain reports whether d, for an episode of the closed incident
// cur, is a new trigger rather than a repeat: a Firing or Pending
// detection carrying an event the incident never had (the SOS pressed again
// after a dispatcher closed the test call, a new smoke alarm after the
// fire was resolved), not the detectors' re-send at a restart. The
// detectors' episode may outlive the incident, which a person closed: the
// new trigger must not be swallowed by it.
func triggeredAgain(cur *Incident, d detectors.Detection) bool {
	if (d.State != detectors.Firing && d.State != detectors.Pending) || restartResend(d) || len(d.Evidence.Events) == 0 {
		return false
	}
	known := slices.Clone(cur.Evidence.Events)
	for _, e := range cur.Episodes {
		known = append(known, e.Events...)
	}
	return slices.ContainsFunc(d.Evidence.Events, func(id devices.EventID) bool { return !slices.Contains(known, id) })
}

// openAfterClosed opens a new incident for a new trigger of a closed
// incident's episode. Its own fingerprint names the closed one it follows
// (the fingerprint column is unique); the episode's fingerprint becomes its
// alias, so the episode's next detections find it.
func (p planner) openAfterClosed(cur *Incident, d detectors.Detection) (Change, error) {
	ch, err := p.open(d)
	if err != nil || ch.Incident == nil {
		return ch, err
	}
	ch.Incident.Fingerprint = d.Fingerprint + "/after/" + cur.ID
	ch.Alias = d.Fingerprint
	ch.Timeline = append(ch.Timeline, p.entry(ch.Incident, actorDetector, ActNote, "",
		fmt.Sprintf("triggered again after incident %s was closed", cur.ID)))
	return ch, nil
}

// cleared folds a Resolved detection (the condition ended by itself) of
// the last episode still going on into an open incident (smoke superseded
// by the confirmed fire that joined its incident ends nothing: onEpisode).
// What it may stop depends on what 119 knows:
//   - device health: resolved (no_action);
//   - 119 not alerted yet (verifying smoke that cleared, welfare inactivity
//     whose resident moved again, a fall still with the guardians):
//     resolved (no_action), which cancels
//     every pending row, so no timer can alert 119 afterwards;
//   - 119 alerted: 119 is acting on it, so only a person closes it; the
//     clearing is recorded and the escalation goes on.
func (p planner) cleared(cur *Incident, d detectors.Detection) (Change, error) {
	why := d.Explanation.En
	switch {
	case cur.Class == detectors.ClassDeviceHealth:
		return p.resolve(cur, DispositionNoAction, actorDetector, "the device condition cleared")
	case !cur.Alerted119:
		note := "the condition cleared before 119 was alerted"
		switch {
		case cur.Cause == detectors.CauseInactivity || cur.Class == detectors.ClassWelfare:
			note = "activity resumed"
		case cur.State == StateVerifying:
			note = "ended within the verification window"
		}
		return p.resolve(cur, DispositionNoAction, actorDetector, joinDetail(note, why))
	}
	inc := *cur
	inc.UpdatedAt = p.now
	return Change{Incident: &inc, Timeline: []TimelineEntry{p.entry(&inc, actorDetector, ActCleared, "",
		joinDetail(why, "119 has the alert; the incident stays open until a person closes it"))}}, nil
}

// update119Gap is the least time between two CAP Updates of one incident:
// news arriving sooner rides on the next one.
const update119Gap = time.Minute

// told119 reports whether 119 has the alert: its endpoint accepted it or
// 119 answered about it.
func told119(inc *Incident) bool { return inc.Alerted119 && (inc.Sent119 || inc.Status119 != "") }

// update119 queues a CAP Update when 119 has the alert and something new
// is known. The channel builds the message when it sends it, from the
// incident as it is then, so an Update still waiting carries later news
// too; a new one is queued at most every update119Gap.
func (p planner) update119(inc *Incident, ch *Change, what string) {
	if inc.State.Closed() || !inc.Alerted119 {
		return
	}
	if !told119(inc) {
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, Channel119,
			"update to 119 ("+what+"): the alert is not sent yet and will carry it"))
		return
	}
	due := p.now
	if !inc.Update119Due.IsZero() {
		if p.now.Before(inc.Update119Due) {
			ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, Channel119,
				"update to 119 ("+what+"): carried by the update queued for "+inc.Update119Due.Format(time.RFC3339)))
			return
		}
		due = maxTime(due, inc.Update119Due.Add(update119Gap))
	}
	inc.Updates119++
	inc.Update119Due = due
	ch.Enqueue = append(ch.Enqueue, OutboxRow{Key: updateKey(inc.ID, inc.Updates119), IncidentID: inc.ID, Kind: KindNotify,
		Channel: Channel119, Recipient: Recipient{Role: Role119, ID: "119", Name: "119"}, MsgType: MsgUpdate,
		Attempt: 1, Step: -1, Priority: inc.Priority, State: OutboxPending, DueAt: due, Deadline: due.Add(p.pol.Retry119For.D())})
	ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActUpdate119, Channel119,
		fmt.Sprintf("update #%d to 119: %s", inc.Updates119, what)))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// updateKey is the key of an incident's n-th CAP Update: each Update is a
// message of its own (its own CAP identifier), stable across retries.
func updateKey(incidentID string, n int) string {
	return fmt.Sprintf("%s/update/119/%d", incidentID, n)
}

// ActUpdate119 is the timeline action of a queued CAP Update; it is listed
// in "what has been tried", which is what the Update tells 119.
const ActUpdate119 = "update_119_queued"

// onRelated folds a condition of the same home that is not the incident's
// own episode (the hub went offline or lost power during the emergency)
// into an open incident 119 has: recorded and sent to 119 as an Update. It
// is for the dispatcher to call on the home's open emergencies.
func (p planner) onRelated(cur *Incident, d detectors.Detection) (Change, error) {
	if cur.State.Closed() || d.State != detectors.Firing || cur.Fingerprint == d.Fingerprint {
		return Change{}, errNoChange
	}
	inc := *cur
	inc.UpdatedAt = p.now
	what := string(d.Cause)
	if d.Explanation.En != "" {
		what += " (" + d.Explanation.En + ")"
	}
	ch := Change{Incident: &inc}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, actorDetector, ActNote, "", "meanwhile at the home: "+what))
	p.update119(&inc, &ch, what)
	return ch, nil
}

func (p planner) open(d detectors.Detection) (Change, error) {
	if d.State == detectors.Resolved || d.State == detectors.Cancelled {
		return Change{}, errNoChange // nothing open to end
	}
	if d.Fingerprint == "" || d.Hub == "" || d.Cause == "" {
		return Change{}, fmt.Errorf("%w: detection needs a fingerprint, a hub and a cause", ErrInvalid)
	}
	prio := d.Priority
	if prio < detectors.PriorityCritical || prio > detectors.PriorityLow {
		prio = detectors.PriorityHigh
	}
	inc := &Incident{
		ID: NewIncidentID(p.now), Fingerprint: d.Fingerprint, Hub: d.Hub, Sensor: d.Sensor,
		Class: d.Class, Cause: d.Cause, Priority: prio, State: StateOpen,
		Explanation: d.Explanation, Evidence: d.Evidence, Count: 1, Timing: d.Timing,
		Episode: d.Episode, OpenedAt: p.now, UpdatedAt: p.now,
		Episodes: []Episode{newEpisode(d, p.now)}, Causes: []detectors.Cause{d.Cause},
	}
	if p.resident != nil {
		inc.ResidentID = p.resident.ID
	}
	ch := Change{Incident: inc}
	ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActOpened, "",
		fmt.Sprintf("P%d %s (%s): %s", prio, d.Cause, d.State, evidenceSummary(d.Evidence))))
	pol := p.pol.For(d.Cause, d.Class)
	if d.State == detectors.Pending {
		window := 30 * time.Second
		if pol.Verify != nil {
			window = pol.Verify.Window.D()
		}
		inc.State = StateVerifying
		ch.Enqueue = append(ch.Enqueue,
			OutboxRow{Key: commandKey(inc.ID, 1), IncidentID: inc.ID, Kind: KindCommand, Channel: ChannelHub,
				Attempt: 1, Priority: prio, State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(window)},
			OutboxRow{Key: timerKey(inc.ID, TimerVerify, 0), IncidentID: inc.ID, Kind: KindTimer, Timer: TimerVerify,
				Priority: prio, State: OutboxPending, DueAt: p.now.Add(window), Deadline: p.now.Add(window + 24*time.Hour)})
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActCheckIn, ChannelHub,
			fmt.Sprintf("asking the resident through the hub; cancel window %s", window)))
		return ch, nil
	}
	p.runStep(inc, pol, 0, &ch)
	if u := pol.UrgentStep; u != nil && *u > 0 && pol.Steps[*u].UrgentOnly && prio <= detectors.PriorityHigh {
		// Opened already urgent (inactivity first seen past the hard limit):
		// the step no timer reaches runs now.
		ch.Enqueue = slices.DeleteFunc(ch.Enqueue, func(r OutboxRow) bool { return r.Kind == KindTimer })
		p.runStep(inc, pol, *u, &ch)
	}
	return ch, nil
}

// runStep queues step n's notifications and the timer of step n+1.
func (p planner) runStep(inc *Incident, pol Policy, n int, ch *Change) {
	p.runSteps(inc, pol, n, ch, false)
}

// runSteps is runStep; with retold, a recipient already told about the
// incident (Told) gets one SMS with the news instead of the step's
// notifications (a replan after the cause rose).
func (p planner) runSteps(inc *Incident, pol Policy, n int, ch *Change, retold bool) {
	if n >= pol.stepCount() {
		return
	}
	step, _ := pol.step(n)
	toldBefore := inc.Told // told by earlier steps; this one's are told in full
	var targets []string
	seen := map[string]bool{}
	for _, t := range step.Notify {
		role := p.pol.route(t.To, p.now)
		if role == Role119 && (inc.Class == detectors.ClassDeviceHealth || deviceHealthCauses[inc.Cause]) {
			ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, t.Via, "device health never goes to 119"))
			continue
		}
		if role == Role119 && inc.Alerted119 {
			continue // 119 has it; a repeat round does not alert twice
		}
		recipients, why := p.recipients(role)
		if len(recipients) == 0 {
			ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, t.Via, fmt.Sprintf("%s: %s", role, why)))
			continue
		}
		attempts := 1
		if t.Via == ChannelSMS || t.Via == ChannelVoice {
			attempts = p.pol.Attempts
		}
		for _, r := range recipients {
			if retold && role != Role119 && slices.Contains(toldBefore, toldKey(r)) {
				// Told already: one SMS with the news (a console desk sees
				// it on its console), never a second round of calls.
				via := ChannelSMS
				if t.Via == ChannelConsole {
					via = ChannelConsole
				}
				if seen[r.ID+"/news/"+string(via)] || via == ChannelSMS && r.Phone == "" {
					continue
				}
				seen[r.ID+"/news/"+string(via)] = true
				ch.Enqueue = append(ch.Enqueue, OutboxRow{
					Key: NotificationKey(planID(inc), n, r.ID, via, 1), IncidentID: inc.ID, Kind: KindNotify,
					Channel: via, Step: n, Attempt: 1, Recipient: r, MsgType: MsgUpdate, Priority: inc.Priority,
					State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.retryFor(pol, via)),
				})
				targets = append(targets, string(r.Role)+" "+cmp.Or(r.Name, r.ID)+" via "+string(via))
				continue
			}
			if seen[r.ID+"/"+string(t.Via)] {
				continue
			}
			seen[r.ID+"/"+string(t.Via)] = true
			if prev, ok := inc.Responder(r.ID); ok && prev.State.answered() {
				// They answered already (on the way, say): not contacted again.
				ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, t.Via,
					fmt.Sprintf("%s: %s answered already (%s)", role, prev.Label(), prev.State)))
				continue
			}
			p.contacted(inc, r, t.Via)
			for a := 1; a <= attempts; a++ {
				due := p.now.Add(time.Duration(a-1) * p.pol.SecondAttemptAfter.D())
				ch.Enqueue = append(ch.Enqueue, OutboxRow{
					Key: NotificationKey(planID(inc), n, r.ID, t.Via, a), IncidentID: inc.ID, Kind: KindNotify,
					Channel: t.Via, Step: n, Attempt: a, Recipient: r, MsgType: MsgAlert, Priority: inc.Priority,
					State: OutboxPending, DueAt: due, Deadline: due.Add(p.pol.retryFor(pol, t.Via)),
				})
			}
			targets = append(targets, string(r.Role)+" "+cmp.Or(r.Name, r.ID)+" via "+string(t.Via))
			if role == Role119 {
				inc.Alerted119 = true
			} else if k := toldKey(r); !slices.Contains(inc.Told, k) {
				inc.Told = append(slices.Clone(inc.Told), k)
			}
		}
	}
	ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActEscalated, "",
		fmt.Sprintf("step %d: %s", n, cmp.Or(strings.Join(targets, "; "), "nobody to notify"))))
	inc.NextStep = n + 1
	if inc.NextStep < pol.stepCount() && !pol.urgentOnly(inc.NextStep) {
		// An urgent-only step (and so the rest of the chain) is reached by
		// the urgent jump alone, never by a timer.
		_, delay := pol.step(inc.NextStep)
		due := p.now.Add(delay)
		ch.Enqueue = append(ch.Enqueue, OutboxRow{Key: timerKey(planID(inc), TimerEscalate, inc.NextStep), IncidentID: inc.ID,
			Kind: KindTimer, Timer: TimerEscalate, Step: inc.NextStep, Priority: inc.Priority, State: OutboxPending,
			DueAt: due, Deadline: due.Add(24 * time.Hour)})
	}
}

// notifyRecovered queues the policy's "recovered" notices (one attempt
// each) of an incident the resident closed in its verification window. The
// rows go in with the cancel; they are not alerts, so the closed incident
// does not stop them.
func (p planner) notifyRecovered(inc *Incident, pol Policy, ch *Change) {
	var told []string
	for _, t := range pol.Recovered {
		// Not rerouted after hours: news that waits for its reader (the
		// social worker's console in the morning) needs nobody on duty.
		role := t.To
		recipients, why := p.recipients(role)
		if len(recipients) == 0 {
			ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, t.Via, fmt.Sprintf("%s: %s", role, why)))
			continue
		}
		for _, r := range recipients {
			ch.Enqueue = append(ch.Enqueue, OutboxRow{
				Key: recoveredKey(inc.ID, r.ID, t.Via), IncidentID: inc.ID, Kind: KindNotify, Channel: t.Via,
				Attempt: 1, Recipient: r, MsgType: MsgRecovered, Priority: detectors.PriorityMedium,
				State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.retryFor(pol, t.Via)),
			})
			told = append(told, string(r.Role)+" "+cmp.Or(r.Name, r.ID)+" via "+string(t.Via))
		}
	}
	if len(told) > 0 {
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActQueued, "", "the resident is all right: "+strings.Join(told, "; ")))
	}
}

// took119 reports whether 119's answer status says it has the incident in
// hand (accepted it, sent a unit, is there, or closed it).
func took119(status string) bool {
	switch Answer119Status(status) {
	case Answer119Accepted, Answer119Dispatched, Answer119OnScene, Answer119Closed:
		return true
	}
	return false
}

// tellWith119 queues one SMS to each guardian, and to the social worker
// when the cause's escalation names one, saying that 119 has the incident:
// 119's first such answer stands the escalation down, and with it the
// attempts of those nobody reached yet, who would otherwise hear nothing
// more. A responder who answered already is not told (they know, or are
// there); each recipient's row key is one per incident, so a later answer
// (dispatched after accepted), a replay or a crash sends nothing twice.
// Not rerouted after hours: it is news, not a call to act.
func (p planner) tellWith119(inc *Incident, ch *Change) {
	pol := p.pol.For(inc.Cause, inc.Class)
	roles := []Role{RoleGuardian}
	if pol.names(RoleSocialWorker) {
		roles = append(roles, RoleSocialWorker)
	}
	var told []string
	for _, role := range roles {
		recipients, _ := p.recipients(role)
		for _, r := range recipients {
			if r.Phone == "" {
				continue
			}
			if prev, ok := inc.Responder(r.ID); ok && prev.State.answered() {
				continue
			}
			ch.Enqueue = append(ch.Enqueue, OutboxRow{
				Key: with119Key(inc.ID, r.ID, ChannelSMS), IncidentID: inc.ID, Kind: KindNotify, Channel: ChannelSMS,
				Attempt: 1, Recipient: r, MsgType: MsgWith119, Priority: inc.Priority,
				State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.retryFor(pol, ChannelSMS)),
			})
			told = append(told, string(r.Role)+" "+cmp.Or(r.Name, r.ID)+" via sms")
		}
	}
	if len(told) > 0 {
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActQueued, "", "119 has it: "+strings.Join(told, "; ")))
	}
}

// recipients lists who a role is for this incident, or why nobody.
func (p planner) recipients(role Role) ([]Recipient, string) {
	switch role {
	case Role119:
		return []Recipient{{Role: Role119, ID: "119", Name: "119"}}, ""
	case RoleGuardian:
		if p.resident == nil {
			return nil, "no resident registered for the hub"
		}
		if !p.resident.Consent.NotifyGuardians {
			return nil, "the resident did not consent to notifying guardians"
		}
		gs := slices.Clone(p.resident.Guardians)
		slices.SortStableFunc(gs, func(a, b devices.Guardian) int { return cmp.Compare(a.Order, b.Order) })
		var out []Recipient
		for i, g := range gs {
			if g.Phone == "" {
				continue
			}
			out = append(out, Recipient{Role: RoleGuardian, ID: "guardian-" + strconv.Itoa(i+1), Name: g.Name,
				Phone: g.Phone, Language: cmp.Or(g.Language, "ko")})
		}
		if len(out) == 0 {
			return nil, "no guardian with a phone number"
		}
		return out, ""
	}
	var out []Recipient
	for i, c := range p.pol.Contacts[role] {
		out = append(out, Recipient{Role: role, ID: string(role) + "-" + strconv.Itoa(i+1), Name: c.Name,
			Phone: c.Phone, Language: cmp.Or(c.Language, "ko")})
	}
	if len(out) == 0 {
		return nil, "no contact configured"
	}
	return out, ""
}

// onTimer runs a due escalation timer.
func (p planner) onTimer(cur *Incident, row *OutboxRow) (Change, error) {
	done := &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxDone}
	inc := *cur
	ch := Change{Row: done}
	if inc.State.Closed() || inc.State == StateAcknowledged {
		return ch, nil
	}
	pol := p.pol.For(inc.Cause, inc.Class)
	switch row.Timer {
	case TimerVerify:
		if inc.State != StateVerifying {
			return ch, nil
		}
		inc.State = StateOpen
		inc.UpdatedAt = p.now
		ch.Incident = &inc
		ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActVerifyTimeout, ChannelHub,
			"the resident did not cancel within the window"))
		window := 30 * time.Second
		if pol.Verify != nil {
			window = pol.Verify.Window.D()
		}
		inc.Explanation.Ko, inc.Explanation.En = windowEnded(&inc, window, "why.window.ended")
		p.runStep(&inc, pol, 0, &ch)
	case TimerEscalate:
		if row.Step != inc.NextStep || row.Key != timerKey(planID(&inc), TimerEscalate, row.Step) || pol.urgentOnly(row.Step) {
			// Superseded (an urgent jump ran it already, or the cause rose
			// and a new plan took over), or a step only the urgent jump
			// runs (a timer queued under an older policy).
			return ch, nil
		}
		inc.UpdatedAt = p.now
		ch.Incident = &inc
		p.runStep(&inc, pol, row.Step, &ch)
	}
	return ch, nil
}

// onSent records a notification or command the provider accepted.
func (p planner) onSent(cur *Incident, row *OutboxRow, ref string) Change {
	inc := *cur
	ch := Change{Row: &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxSent, Ref: ref}}
	detail := rowLabel(row)
	if ref != "" {
		detail += " (ref " + ref + ")"
	}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActSent, row.Channel, detail))
	if row.Kind == KindNotify && row.MsgType == MsgAlert && inc.State == StateOpen {
		inc.State = StateNotified
	}
	if row.Kind == KindNotify && row.MsgType == MsgAlert && row.Channel == Channel119 {
		inc.Sent119 = true
		if inc.Cancel119Owed {
			// Closed while this alert was in flight: 119 has it now, so it
			// gets the Cancel that was held back.
			inc.Cancel119Owed = false
			p.queueCancel119(&inc, &ch)
		}
	}
	inc.UpdatedAt = p.now
	ch.Incident = &inc
	return ch
}

// backoff is the wait before retry number tries (1-based): exponential with
// full jitter on its upper half, capped.
func (p planner) backoff(tries int, jitter func(time.Duration) time.Duration) time.Duration {
	d := p.pol.BackoffInitial.D()
	for i := 1; i < tries && d < p.pol.BackoffMax.D(); i++ {
		d *= 2
	}
	d = min(d, p.pol.BackoffMax.D())
	return d/2 + jitter(d/2+1)
}

func randJitter(n time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(n))) }

// onSendError records a failed attempt: retried after a backoff while the
// channel says it may help and the deadline allows, else given up (and the
// recipient's next attempt brought forward).
func (p planner) onSendError(cur *Incident, row *OutboxRow, sendErr error, retry bool, jitter func(time.Duration) time.Duration) Change {
	inc := *cur
	inc.UpdatedAt = p.now
	ch := Change{Incident: &inc}
	wait := p.backoff(max(row.Tries, 1), jitter)
	if retry && !inc.State.Closed() || retry && row.MsgType == MsgCancel {
		if next := p.now.Add(wait); next.Before(row.Deadline) {
			ch.Row = &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxPending, DueAt: next, LastError: sendErr.Error()}
			if row.Tries <= 1 {
				ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActRetrying, row.Channel,
					fmt.Sprintf("%s: %v; retrying until %s", rowLabel(row), sendErr, row.Deadline.Format(time.RFC3339))))
			}
			return ch
		}
	}
	ch.Row = &RowUpdate{Key: row.Key, ClaimID: row.ClaimID, State: OutboxFailed, LastError: sendErr.Error()}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActFailed, row.Channel,
		fmt.Sprintf("%s: %v (after %d tries)", rowLabel(row), sendErr, row.Tries)))
	ch.Reschedule = p.nextAttemptNow(row)
	return ch
}

// nextAttemptNow brings the recipient's next attempt forward after a
// failure (busy, no answer): no point waiting the full gap.
func (p planner) nextAttemptNow(row *OutboxRow) []Reschedule {
	if row.Kind != KindNotify || row.Attempt >= p.pol.Attempts {
		return nil
	}
	// The next attempt belongs to the same plan as this one (planID).
	plan := row.IncidentID
	if prefix, ok := strings.CutSuffix(row.Key, NotificationKey("", row.Step, row.Recipient.ID, row.Channel, row.Attempt)); ok && prefix != "" {
		plan = prefix
	}
	return []Reschedule{{Key: NotificationKey(plan, row.Step, row.Recipient.ID, row.Channel, row.Attempt+1), DueAt: p.now}}
}

// onStatus records a provider's status callback for a sent row. Voicemail
// and a delivered message are not acknowledgements: the escalation goes on.
func (p planner) onStatus(cur *Incident, row *OutboxRow, delivered bool, detail string) Change {
	inc := *cur
	inc.UpdatedAt = p.now
	ch := Change{Incident: &inc}
	if delivered {
		if row.State != OutboxAcknowledged {
			ch.Row = &RowUpdate{Key: row.Key, State: OutboxDelivered}
		}
		ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActDelivered, row.Channel, joinDetail(rowLabel(row), detail)))
		return ch
	}
	ch.Row = &RowUpdate{Key: row.Key, State: OutboxFailed, LastError: detail}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, actorSystem, ActFailed, row.Channel, joinDetail(rowLabel(row), detail)))
	if !inc.State.Closed() && inc.State != StateAcknowledged {
		ch.Reschedule = p.nextAttemptNow(row)
	}
	return ch
}

// acknowledge stops the escalation: pending timers and notifications are
// cancelled, except 119 rows (119 still gets what it was sent).
func (p planner) acknowledge(cur *Incident, by string, via Channel) (Change, error) {
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	if strings.TrimSpace(by) == "" {
		return Change{}, fmt.Errorf("%w: acknowledged by whom?", ErrInvalid)
	}
	if cur.State == StateAcknowledged {
		return Change{}, errNoChange
	}
	inc := *cur
	inc.State, inc.AcknowledgedBy, inc.AcknowledgedVia, inc.AcknowledgedAt, inc.UpdatedAt = StateAcknowledged, by, via, p.now, p.now
	ch := Change{Incident: &inc, CancelPending: true, Keep: []Channel{Channel119}}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, by, ActAcknowledged, via, "escalation stopped"))
	return ch, nil
}

// cancel closes the incident as cancelled (by the resident, or a
// dispatcher's false alarm) and tells 119 if it was alerted.
func (p planner) cancel(cur *Incident, by string, via Channel, reason string) (Change, error) {
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	inc := *cur
	inc.State, inc.ClosedAt, inc.UpdatedAt = StateCancelled, p.now, p.now
	ch := Change{Incident: &inc, CancelPending: true}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, by, ActCancelled, via, reason))
	p.cancel119(&inc, &ch)
	if by == actorResident && cur.State == StateVerifying {
		// The resident ended the window themselves: a fall they got up from.
		p.notifyRecovered(&inc, p.pol.For(cur.Cause, cur.Class), &ch)
	}
	return ch, nil
}

// cancel119 tells 119 the incident is off. Only an alert 119 received is
// cancelled: one still queued (119 unreachable) is withdrawn with the
// incident's other pending rows and never sent, so nothing is queued for it;
// one in flight may still arrive, and onSent then queues the Cancel.
func (p planner) cancel119(inc *Incident, ch *Change) {
	if !inc.Alerted119 {
		return
	}
	if !told119(inc) {
		inc.Cancel119Owed = true
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActSkipped, Channel119,
			"cancel to 119: the alert was not sent yet and is withdrawn"))
		return
	}
	p.queueCancel119(inc, ch)
}

func (p planner) queueCancel119(inc *Incident, ch *Change) {
	ch.Enqueue = append(ch.Enqueue, OutboxRow{Key: cancelKey(inc.ID, Channel119), IncidentID: inc.ID, Kind: KindNotify,
		Channel: Channel119, Recipient: Recipient{Role: Role119, ID: "119", Name: "119"}, MsgType: MsgCancel,
		Attempt: 1, Step: -1, Priority: inc.Priority, State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.Retry119For.D())})
	ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActQueued, Channel119, "cancel to 119"))
}

// resolve closes the incident with a disposition. A false alarm or a test
// that 119 was alerted to is cancelled at 119.
func (p planner) resolve(cur *Incident, disp Disposition, by, note string) (Change, error) {
	if !disp.Valid() {
		return Change{}, fmt.Errorf("%w: disposition %q (real_emergency, false_alarm, test, duplicate, no_action)", ErrInvalid, disp)
	}
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	inc := *cur
	inc.State, inc.Disposition, inc.ClosedAt, inc.UpdatedAt = StateResolved, disp, p.now, p.now
	ch := Change{Incident: &inc, CancelPending: true}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, by, ActResolved, "", joinDetail(string(disp), note)))
	if disp == DispositionFalseAlarm || disp == DispositionTest || disp == DispositionDuplicate {
		p.cancel119(&inc, &ch)
	}
	return ch, nil
}

func (p planner) assign(cur *Incident, to, by string) (Change, error) {
	if cur.State.Closed() {
		return Change{}, ErrClosed
	}
	inc := *cur
	inc.AssignedTo, inc.UpdatedAt = strings.TrimSpace(to), p.now
	ch := Change{Incident: &inc}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, by, ActAssigned, "", cmp.Or(inc.AssignedTo, "unassigned")))
	return ch, nil
}

func (p planner) note(cur *Incident, by, text string) (Change, error) {
	if strings.TrimSpace(text) == "" {
		return Change{}, fmt.Errorf("%w: empty note", ErrInvalid)
	}
	inc := *cur
	inc.UpdatedAt = p.now
	ch := Change{Incident: &inc}
	ch.Timeline = append(ch.Timeline, p.entry(&inc, by, ActNote, "", text))
	return ch, nil
}

// Answer119Status is 119's answer to an alert (APCO/TMA ASAP's round trip).
type Answer119Status string

const (
	Answer119Accepted   Answer119Status = "accepted"
	Answer119Rejected   Answer119Status = "rejected"
	Answer119Dispatched Answer119Status = "dispatched"
	Answer119OnScene    Answer119Status = "on_scene"
	Answer119Closed     Answer119Status = "closed"
	// Answer119CancelAcknowledged is 119 confirming our Cancel.
	Answer119CancelAcknowledged Answer119Status = "cancel_acknowledged"
)

// Answer119 is one answer from 119.
type Answer119 struct {
	IncidentID  string          `json:"incident_id"`
	Status      Answer119Status `json:"status"`
	Reason      string          `json:"reason,omitempty"`      // rejected: why
	Disposition Disposition     `json:"disposition,omitempty"` // closed: how (default real_emergency)
	By          string          `json:"by,omitempty"`          // the call-taker or centre
}

// apply119 moves the incident on 119's answer: accepted, dispatched or on
// scene acknowledge it (119 has it: the escalation stops); rejected leaves
// the escalation going; closed resolves it; cancel_acknowledged is only
// recorded. A well-formed answer is never refused (an error makes 119
// repeat it for ever): an answer about an incident 119 was never alerted
// to is recorded and ignored (it must not stop a fall's escalation still in
// its cancel window), and a disposition outside ours counts as a real
// emergency, its raw value kept on the timeline.
func (p planner) apply119(cur *Incident, a Answer119) (Change, error) {
	by := cmp.Or(a.By, actor119)
	detail := joinDetail(string(a.Status), a.Reason)
	switch a.Status {
	case Answer119Accepted, Answer119Dispatched, Answer119OnScene, Answer119Rejected, Answer119Closed, Answer119CancelAcknowledged:
	default:
		return Change{}, fmt.Errorf("%w: 119 status %q (accepted, rejected, dispatched, on_scene, closed, cancel_acknowledged)", ErrInvalid, a.Status)
	}
	if !cur.Alerted119 {
		inc := *cur
		inc.UpdatedAt = p.now
		return Change{Incident: &inc, Timeline: []TimelineEntry{p.entry(&inc, by, Act119, Channel119,
			joinDetail(detail, "ignored: 119 was never alerted to this incident"))}}, nil
	}
	switch a.Status {
	case Answer119CancelAcknowledged:
		inc := *cur
		inc.Status119, inc.UpdatedAt = string(a.Status), p.now
		return Change{Incident: &inc, Timeline: []TimelineEntry{p.entry(&inc, by, Act119, Channel119, detail)}}, nil
	case Answer119Accepted, Answer119Dispatched, Answer119OnScene:
		inc := *cur
		inc.Status119, inc.UpdatedAt = string(a.Status), p.now
		ch := Change{Incident: &inc}
		ch.Timeline = append(ch.Timeline, p.entry(&inc, by, Act119, Channel119, detail))
		if !inc.State.Closed() && inc.State != StateAcknowledged {
			ack, _ := p.acknowledge(&inc, by, Channel119)
			ch.Incident, ch.CancelPending, ch.Keep = ack.Incident, true, ack.Keep
			ch.Timeline = append(ch.Timeline, ack.Timeline...)
		}
		if !cur.State.Closed() && !took119(cur.Status119) {
			// After the cancel above: these rows are new, not pending ones.
			p.tellWith119(ch.Incident, &ch)
		}
		return ch, nil
	case Answer119Rejected:
		inc := *cur
		inc.Status119, inc.UpdatedAt = string(a.Status), p.now
		ch := Change{Incident: &inc}
		ch.Timeline = append(ch.Timeline, p.entry(&inc, by, Act119, Channel119, detail))
		return ch, nil
	case Answer119Closed:
		disp := cmp.Or(a.Disposition, DispositionRealEmergency)
		if !disp.Valid() {
			detail = joinDetail(detail, fmt.Sprintf("disposition %q recorded as %s", a.Disposition, DispositionRealEmergency))
			disp = DispositionRealEmergency
		}
		if cur.State.Closed() {
			inc := *cur
			inc.Status119, inc.UpdatedAt = string(a.Status), p.now
			return Change{Incident: &inc, Timeline: []TimelineEntry{p.entry(&inc, by, Act119, Channel119, detail)}}, nil
		}
		inc := *cur
		inc.Status119 = string(a.Status)
		ch, err := p.resolve(&inc, disp, by, "closed by 119 "+a.Reason)
		if err != nil {
			return Change{}, err
		}
		// 119 closed it: no cancel goes back to 119.
		ch.Enqueue = nil
		ch.Timeline = append([]TimelineEntry{p.entry(&inc, by, Act119, Channel119, detail)}, ch.Timeline[:1]...)
		return ch, nil
	}
	return Change{}, errNoChange // unreachable: the status was checked above
}

func rowLabel(row *OutboxRow) string {
	if row.Kind == KindCommand {
		return "check-in command to the hub"
	}
	who := cmp.Or(row.Recipient.Name, row.Recipient.ID)
	return fmt.Sprintf("%s %s to %s %s (step %d, attempt %d)", row.Channel, row.MsgType, row.Recipient.Role, who, row.Step, row.Attempt)
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	if a == "" {
		return b
	}
	return a + ": " + b
}

// evidenceSummary is the facts of a detection on one line.
func evidenceSummary(e detectors.Evidence) string {
	var parts []string
	for _, f := range e.Facts {
		s := f.Name + "=" + strconv.FormatFloat(f.Value, 'g', 4, 64)
		if f.Unit != "" {
			s += " " + f.Unit
		}
		parts = append(parts, s)
	}
	if len(e.Events) > 0 {
		parts = append(parts, fmt.Sprintf("%d events", len(e.Events)))
	}
	if len(e.Readings) > 0 {
		parts = append(parts, fmt.Sprintf("%d readings", len(e.Readings)))
	}
	return strings.Join(parts, ", ")
}
