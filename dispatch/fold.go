package dispatch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// Folding: one emergency in one home is one incident. The detectors keep an
// episode per cause (smoke, then a confirmed fire; a fall, then an SOS), each
// with its own fingerprint; dispatch, which knows which incidents are open,
// folds a new episode of a home into that home's open emergency or welfare
// incident. The incident then names the most serious cause seen, escalates
// under that cause's policy, and tells 119 once (an Alert, then Updates) and
// the guardians once (then one SMS when something new and important is
// known). The store records the folded fingerprint as an alias of the
// incident, so the episode's later detections, and a replay after a crash,
// find the same incident even after it closed.

// Episode is one detection episode folded into an incident: its own first,
// then each related episode of the home that joined it.
type Episode struct {
	Fingerprint string             `json:"fingerprint"`
	Cause       detectors.Cause    `json:"cause"`
	Class       detectors.Class    `json:"class"`
	Sensor      devices.SensorID   `json:"sensor_id,omitempty"`
	Priority    detectors.Priority `json:"priority"`
	// State is the episode's last: firing or pending while it lasts;
	// resolved, cancelled or superseded once over.
	State   detectors.State `json:"state"`
	FirstAt time.Time       `json:"first_at"`
	LastAt  time.Time       `json:"last_at"`
	// Facts are the names of the facts seen: a fact not seen before is news.
	Facts []string `json:"facts,omitempty"`
	// Events are the ids of the last events that triggered it (at most
	// maxEpisodeEvents): after the incident is closed, a trigger not among
	// them (the SOS pressed again) opens a new incident, and a replay of
	// one of them does not.
	Events []devices.EventID `json:"events,omitempty"`
}

// maxEpisodeEvents bounds Episode.Events.
const maxEpisodeEvents = 16

// noteEvents adds ids to events, keeping the newest maxEpisodeEvents.
func noteEvents(events []devices.EventID, ids []devices.EventID) []devices.EventID {
	for _, id := range ids {
		if !slices.Contains(events, id) {
			events = append(events, id)
		}
	}
	if n := len(events) - maxEpisodeEvents; n > 0 {
		events = slices.Delete(slices.Clone(events), 0, n)
	}
	return events
}

// Superseded is the state of an episode replaced by a newer episode of the
// same cause (the detectors keep one episode per cause, so the older one
// will never be ended by a detection of its own).
const Superseded detectors.State = "superseded"

// active reports whether the episode is still going on.
func (e Episode) active() bool { return e.State == detectors.Firing || e.State == detectors.Pending }

// Timeline actions of folding.
const (
	ActFolded       = "folded"        // a related episode of the home joined the incident
	ActCauseRaised  = "cause_raised"  // the incident's cause became a more serious one
	ActEpisodeEnded = "episode_ended" // one folded episode ended while another goes on
	ActRestartNote  = "restart_resent"
)

// foldWindow bounds folding: an incident that has heard no detection for a
// day is not the episode a new detection belongs to (it waits for a person
// to close it), so the new one opens an incident of its own. A day covers
// the slowest relation, a fall followed by the welfare check for
// inactivity (at most 16 h after the last activity).
const foldWindow = 24 * time.Hour

// maxEpisodes bounds the episodes an incident keeps (an SOS pressed every
// few minutes for hours), so its record stays small.
const maxEpisodes = 32

// restartFacts are the detectors' bookkeeping when they send restored open
// episodes again after a gateway restart (detectors.Sink): nothing about the
// emergency itself, so never news for 119.
var restartFacts = map[string]bool{"gateway_restart": true, "episode_age": true, "window_left": true}

// restartResend reports whether d is the detectors' re-send of a restored
// episode after a restart.
func restartResend(d detectors.Detection) bool {
	return slices.ContainsFunc(d.Evidence.Facts, func(f detectors.Fact) bool { return f.Name == "gateway_restart" })
}

// causeOrder ranks causes from the most serious. An incident of several
// causes is named by the most serious one, whose policy it follows and
// which 119 is told. Fire and gas endanger the neighbours and the rescuers
// too; a heart that stopped or no breathing outranks a button press, which
// outranks vital signs out of band; a fall is a person on the floor,
// unconfirmed smoke is most often cooking, inactivity is a welfare check.
var causeOrder = []detectors.Cause{
	detectors.CauseFireConfirmed, detectors.CauseCO, detectors.CauseGas,
	detectors.CauseAsystole, detectors.CauseApnoea, detectors.CauseSOS,
	detectors.CauseBradycardia, detectors.CauseTachycardia, detectors.CauseBreathingRate,
	detectors.CauseFall, detectors.CauseSmokeUnconfirmed, detectors.CauseInactivity,
}

// causeRank is a cause's place in causeOrder (lower is more serious). A
// cause not listed ranks by its class: an emergency just above a fall, a
// welfare cause below inactivity, device health last.
func causeRank(c detectors.Cause, class detectors.Class) int {
	if i := slices.Index(causeOrder, c); i >= 0 {
		return 2 * i
	}
	switch {
	case class == detectors.ClassEmergency:
		return 2*slices.Index(causeOrder, detectors.CauseFall) - 1
	case class == detectors.ClassWelfare:
		return 2*len(causeOrder) + 1
	}
	return 2*len(causeOrder) + 3
}

// IsDeviceHealth reports whether an incident or detection of cause and
// class is about the equipment, not the resident: it has its own
// responders, never goes to 119 and never folds with the resident's
// incidents. The consoles sort by it too, so that a new device cause is
// named once (deviceHealthCauses), here.
func IsDeviceHealth(cause detectors.Cause, class detectors.Class) bool {
	return class == detectors.ClassDeviceHealth || deviceHealthCauses[cause]
}

// foldTarget picks, among a home's open incidents, the one a detection of
// a new episode joins, or nil: the detection then opens its own incident.
// Device health never folds, nor is folded into (it has its own
// responders and never goes to 119); an ending (resolved, cancelled) of an
// episode no incident has is nothing to fold. Of several candidates (kept
// from before folding) the most urgent, then the oldest, is the emergency.
func foldTarget(open []Incident, d detectors.Detection, now time.Time) *Incident {
	if IsDeviceHealth(d.Cause, d.Class) || (d.State != detectors.Firing && d.State != detectors.Pending) {
		return nil
	}
	var best *Incident
	for i := range open {
		c := &open[i]
		if c.State.Closed() || c.Hub != d.Hub || IsDeviceHealth(c.Cause, c.Class) || now.Sub(lastDetection(c)) > foldWindow {
			continue
		}
		if best == nil || c.Priority < best.Priority || c.Priority == best.Priority && c.OpenedAt.Before(best.OpenedAt) {
			best = c
		}
	}
	return best
}

// lastDetection is when the incident last heard from the detectors.
func lastDetection(inc *Incident) time.Time {
	last := inc.OpenedAt
	for _, e := range inc.Episodes {
		last = maxTime(last, e.LastAt)
	}
	if len(inc.Episodes) == 0 {
		last = maxTime(last, inc.UpdatedAt)
	}
	return last
}

// episodesOf returns a copy of the incident's episodes; an incident from
// before episodes were kept gets its own.
func episodesOf(inc *Incident) []Episode {
	if len(inc.Episodes) > 0 {
		return slices.Clone(inc.Episodes)
	}
	st := detectors.Firing
	if inc.State == StateVerifying {
		st = detectors.Pending
	}
	return []Episode{{Fingerprint: inc.Fingerprint, Cause: inc.Cause, Class: inc.Class, Sensor: inc.Sensor, Priority: inc.Priority,
		State: st, FirstAt: inc.OpenedAt, LastAt: inc.UpdatedAt, Facts: factNames(nil, inc.Evidence.Facts)}}
}

func newEpisode(d detectors.Detection, now time.Time) Episode {
	return Episode{Fingerprint: d.Fingerprint, Cause: d.Cause, Class: d.Class, Sensor: d.Sensor, Priority: d.Priority,
		State: d.State, FirstAt: now, LastAt: now, Facts: factNames(nil, d.Evidence.Facts),
		Events: noteEvents(nil, d.Evidence.Events)}
}

// factNames adds the names of facts to names, skipping restart bookkeeping.
func factNames(names []string, facts []detectors.Fact) []string {
	for _, f := range facts {
		if !restartFacts[f.Name] && !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	return names
}

// ownEpisodeNews lists what a repeat of one of the incident's episodes adds
// that matters to a responder: a sensor the incident did not have, and,
// for an episode of the incident's own cause, a fact not seen before (a
// folded lesser cause's details are on the timeline, not news for 119).
// The detectors' restart bookkeeping is never news.
func ownEpisodeNews(inc *Incident, ep *Episode, d detectors.Detection) []string {
	var out []string
	sensors := knownSensors(inc)
	add := func(s devices.SensorID) {
		if s != "" && !sensors[s] {
			sensors[s] = true
			out = append(out, "sensor "+string(s))
		}
	}
	add(d.Sensor)
	for _, r := range d.Evidence.Readings {
		add(r.Sensor)
	}
	if ep.Cause == inc.Cause {
		for _, f := range d.Evidence.Facts {
			if !restartFacts[f.Name] && !slices.Contains(ep.Facts, f.Name) {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

func knownSensors(inc *Incident) map[devices.SensorID]bool {
	sensors := map[devices.SensorID]bool{inc.Sensor: true}
	for _, r := range inc.Evidence.Readings {
		sensors[r.Sensor] = true
	}
	for _, e := range inc.Episodes {
		sensors[e.Sensor] = true
	}
	return sensors
}

// onEpisode handles a detection of one of the incident's episodes (its own
// or a folded one). inc is the working copy, already with its episodes.
func (p planner) onEpisode(inc *Incident, i int, d detectors.Detection) (Change, error) {
	ep := &inc.Episodes[i]
	var ch Change
	switch d.State {
	case detectors.Cancelled, detectors.Resolved:
		ep.State, ep.LastAt = d.State, p.now
		if still := activeCauses(inc.Episodes); len(still) > 0 {
			// Another folded cause goes on (a fall cancelled, the SOS
			// pressed): this ending closes nothing.
			ch.Incident = inc
			ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActEpisodeEnded, "",
				fmt.Sprintf("%s %s; still going on: %s", ep.Cause, d.State, strings.Join(still, ", "))))
			return ch, nil
		}
		if d.State == detectors.Cancelled {
			return p.cancel(inc, actorResident, ChannelHub, "cancelled by the resident")
		}
		return p.cleared(inc, d)
	}
	restart := restartResend(d)
	news := ownEpisodeNews(inc, ep, d)
	if ep.State != detectors.Firing {
		ep.State = d.State // a Pending repeat never lowers a firing episode
	}
	if d.Priority > 0 && d.Priority < ep.Priority {
		ep.Priority = d.Priority
	}
	ep.LastAt = p.now
	ep.Facts = factNames(ep.Facts, d.Evidence.Facts)
	ep.Events = noteEvents(slices.Clone(ep.Events), d.Evidence.Events)
	inc.Count++
	ch.Incident = inc
	if restart {
		// The detectors re-send what was open at a restart: the incident
		// keeps its words and evidence, which the re-send would replace
		// with "re-sent after a gateway restart".
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActRestartNote, "",
			fmt.Sprintf("%s %s re-sent after a gateway restart; nothing new", ep.Cause, d.State)))
	} else {
		switch {
		case ep.Cause == inc.Cause && len(d.Evidence.Readings) == 0 && len(d.Evidence.Facts) == 0:
			// Only a new trigger (the SOS pressed again, a detector's new
			// alarm): the readings and facts so far still tell the story.
			inc.Evidence.Events = noteEvents(slices.Clone(inc.Evidence.Events), d.Evidence.Events)
		case ep.Cause == inc.Cause:
			inc.Evidence = d.Evidence
		}
		// A pending detection's words ("waiting 30 s for the resident to
		// cancel") are not true once the incident's own window ended.
		if ep.Cause == inc.Cause && (d.State != detectors.Pending || inc.State == StateVerifying) {
			if d.Explanation != (detectors.Explanation{}) {
				inc.Explanation = d.Explanation
			}
		}
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActRepeated, "",
			fmt.Sprintf("%s #%d: %s", d.State, inc.Count, evidenceSummary(d.Evidence))))
	}
	return p.afterDetection(inc, &ch, d, ep.Cause, news)
}

// fold joins a detection of a new episode to the open incident the store
// found for it (foldTarget) and records its fingerprint as an alias.
func (p planner) fold(inc *Incident, d detectors.Detection) (Change, error) {
	if d.State != detectors.Firing && d.State != detectors.Pending {
		return Change{}, errNoChange // the ending of an episode nobody has
	}
	if IsDeviceHealth(d.Cause, d.Class) != IsDeviceHealth(inc.Cause, inc.Class) || d.Hub != inc.Hub {
		return Change{}, fmt.Errorf("%w: %s of hub %s cannot join incident %s (%s of hub %s)", ErrInvalid,
			d.Cause, d.Hub, inc.ID, inc.Cause, inc.Hub)
	}
	var news []string
	for j := range inc.Episodes {
		if e := &inc.Episodes[j]; e.Cause == d.Cause && e.active() {
			e.State, e.LastAt = Superseded, p.now
		}
	}
	if !slices.Contains(inc.Causes, d.Cause) {
		if len(inc.Causes) == 0 {
			inc.Causes = []detectors.Cause{inc.Cause}
		}
		inc.Causes = append(slices.Clone(inc.Causes), d.Cause)
		news = append(news, "also "+string(d.Cause))
	} else {
		// A new episode of a cause the incident has (the SOS pressed again
		// minutes later): the resident still needs help.
		news = append(news, string(d.Cause)+" again")
	}
	sensors := knownSensors(inc)
	if d.Sensor != "" && !sensors[d.Sensor] {
		news = append(news, "sensor "+string(d.Sensor))
	}
	inc.Episodes = append(inc.Episodes, newEpisode(d, p.now))
	if len(inc.Episodes) > maxEpisodes {
		// Bounded: the oldest episode that is over goes (its alias still
		// finds the incident; the timeline keeps its record).
		if j := slices.IndexFunc(inc.Episodes[1:], func(e Episode) bool { return !e.active() }); j >= 0 {
			inc.Episodes = slices.Delete(inc.Episodes, j+1, j+2)
		}
	}
	inc.Count++
	ch := Change{Incident: inc, Alias: d.Fingerprint}
	where := ""
	if d.Sensor != "" {
		where = " from " + string(d.Sensor)
	}
	ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActFolded, "",
		joinDetail(fmt.Sprintf("%s (%s)%s at %s joined the incident", d.Cause, d.State, where, d.At.UTC().Format(time.RFC3339)),
			evidenceSummary(d.Evidence))))
	return p.afterDetection(inc, &ch, d, d.Cause, news)
}

// activeCauses lists the causes of the episodes still going on.
func activeCauses(eps []Episode) []string {
	var out []string
	for _, e := range eps {
		if e.active() && !slices.Contains(out, string(e.Cause)) {
			out = append(out, string(e.Cause))
		}
	}
	return out
}

// afterDetection raises the incident on a Firing or Pending detection of
// one of its episodes (cause is that episode's) and moves the escalation
// on: the priority, the class (emergency over welfare) and the cause (the
// most serious, causeOrder) can only rise. A cause rises only on a firing
// detection or while the incident is still being verified: a pending one
// joining an incident already escalating waits for its own window, as the
// detectors do. 119 gets an Update when it has the alert and something new
// is known; when the cause's policy changes (a fall becomes an SOS) the
// escalation is planned again under the new one (replan).
func (p planner) afterDetection(inc *Incident, ch *Change, d detectors.Detection, cause detectors.Cause, news []string) (Change, error) {
	oldPolicy := p.pol.keyFor(inc.Cause, inc.Class)
	firing := d.State == detectors.Firing
	raised := d.Priority > 0 && d.Priority < inc.Priority
	if raised {
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActPriority, "",
			fmt.Sprintf("P%d -> P%d", inc.Priority, d.Priority)))
		inc.Priority = d.Priority
		news = append(news, fmt.Sprintf("priority P%d", d.Priority))
	}
	if d.Class == detectors.ClassEmergency && inc.Class == detectors.ClassWelfare {
		inc.Class = d.Class
		news = append(news, "now an emergency")
	}
	if cause != inc.Cause && (firing || inc.State == StateVerifying) && causeRank(cause, d.Class) < causeRank(inc.Cause, inc.Class) {
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActCauseRaised, "",
			fmt.Sprintf("%s -> %s", inc.Cause, cause)))
		inc.Cause, inc.Evidence = cause, d.Evidence
		if d.Sensor != "" {
			inc.Sensor = d.Sensor // else the sensor so far still says where (a home-level fire after kitchen smoke)
		}
		if d.Explanation != (detectors.Explanation{}) && !restartResend(d) {
			inc.Explanation = d.Explanation
		}
		news = append(slices.DeleteFunc(news, func(n string) bool { return n == "also "+string(cause) }), "cause "+string(cause))
	}
	if len(inc.Causes) == 0 {
		inc.Causes = []detectors.Cause{inc.Cause}
	}
	pol := p.pol.For(inc.Cause, inc.Class)
	if len(news) > 0 {
		// Before any step runs: an alert queued by this very change carries
		// the news itself.
		p.update119(inc, ch, strings.Join(news, ", "))
	}
	switch {
	case inc.State == StateVerifying && firing && (cause == inc.Cause || d.Class == detectors.ClassEmergency):
		// Confirmed before our window ended (the detectors' own window, or
		// an SOS during a fall's): escalate now.
		ch.CancelKeys = append(ch.CancelKeys, timerKey(inc.ID, TimerVerify, 0))
		inc.State = StateOpen
		p.runStep(inc, pol, 0, ch)
	case inc.State != StateVerifying && p.pol.keyFor(inc.Cause, inc.Class) != oldPolicy:
		p.replan(inc, ch)
	case raised && inc.Priority <= detectors.PriorityHigh && inc.State == StateAcknowledged &&
		!inc.AckStandsDown() && !someoneWithResident(inc) && pol.UrgentStep != nil:
		// A welfare check was answered ("I will look in today"), and now the
		// detectors say emergency (inactivity past the hard limit): that
		// answer was never "someone is with the resident", so it does not
		// hold 119 back. The escalation resumes at the urgent step.
		inc.State = StateNotified
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorDetector, ActEscalated, "",
			"escalation resumed: now an emergency, and nobody is with the resident"))
		p.runStep(inc, pol, *pol.UrgentStep, ch)
	case raised && inc.Priority <= detectors.PriorityHigh && inc.State != StateAcknowledged &&
		inc.State != StateVerifying && pol.UrgentStep != nil && inc.NextStep <= *pol.UrgentStep &&
		inc.NextStep < pol.stepCount():
		// Urgent now (inactivity past the hard limit): jump to the urgent step.
		ch.CancelKeys = append(ch.CancelKeys, timerKey(planID(inc), TimerEscalate, inc.NextStep))
		p.runStep(inc, pol, *pol.UrgentStep, ch)
	}
	if firing {
		p.alert119Now(inc, ch, p.pol.For(cause, d.Class))
	}
	return *ch, nil
}

// alert119Now queues 119's alert when a firing episode's own policy alerts
// 119 at its first step and 119 has not been alerted: a lesser cause
// folded into an incident whose policy waits (unconfirmed smoke nobody
// cancelled, during a fall's escalation) must not wait for it.
func (p planner) alert119Now(inc *Incident, ch *Change, pol Policy) {
	if inc.Alerted119 || IsDeviceHealth(inc.Cause, inc.Class) || inc.State.Closed() {
		return
	}
	step, _ := pol.step(0)
	for _, t := range step.Notify {
		if p.pol.route(t.To, p.now) != Role119 {
			continue
		}
		inc.Alerted119 = true
		ch.Enqueue = append(ch.Enqueue, OutboxRow{Key: NotificationKey(planID(inc)+"/now", 0, "119", t.Via, 1), IncidentID: inc.ID,
			Kind: KindNotify, Channel: t.Via, Attempt: 1, Recipient: Recipient{Role: Role119, ID: "119", Name: "119"}, MsgType: MsgAlert,
			Priority: inc.Priority, State: OutboxPending, DueAt: p.now, Deadline: p.now.Add(p.pol.Retry119For.D())})
		ch.Timeline = append(ch.Timeline, p.entry(inc, actorSystem, ActEscalated, "", "step 0: 119 119 via "+string(t.Via)))
		return
	}
}

// replan hands an escalating incident to the policy of its new cause (or
// class): the old chain's next timer is cancelled and the new policy runs
// from its first step, as for a new incident, with two exceptions: 119 is
// never alerted twice (it gets the Update above instead), and whoever was
// already told (Told) gets one SMS with the news instead of a second round
// of calls. The new plan's rows have keys of their own (planID).
func (p planner) replan(inc *Incident, ch *Change) {
	ch.CancelKeys = append(ch.CancelKeys, timerKey(planID(inc), TimerEscalate, inc.NextStep))
	inc.Plan++
	p.runSteps(inc, p.pol.For(inc.Cause, inc.Class), 0, ch, true)
}

// planID prefixes the keys of an escalation plan's rows: the incident id for
// the first plan, "<id>/p<n>" after the cause rose n times, so that a new
// plan's step 0 is not taken for the old one's (a row whose key exists is
// never queued again).
func planID(inc *Incident) string {
	if inc.Plan == 0 {
		return inc.ID
	}
	return inc.ID + "/p" + strconv.Itoa(inc.Plan)
}

// Had reports whether cause was seen in the incident: its own cause or one
// folded into it (a fall the SOS then outranked is still a fall for the
// social worker's count).
func (inc *Incident) Had(cause detectors.Cause) bool {
	return inc.Cause == cause || slices.Contains(inc.Causes, cause)
}

// toldKey names a recipient in Incident.Told.
func toldKey(r Recipient) string { return string(r.Role) + "/" + r.ID }

// keyFor is the policy a cause and class follow (For's choice), by name.
func (p *Policies) keyFor(cause detectors.Cause, class detectors.Class) detectors.Cause {
	if _, ok := p.Causes[cause]; ok {
		return cause
	}
	if _, ok := p.Causes[classKey(class)]; ok {
		return classKey(class)
	}
	return classKey(detectors.ClassEmergency)
}
