package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// bufferedLimit is issue 16's bound on a buffered SOS: an incident within
// 35 s of its publish, however its hub moved meanwhile.
const bufferedLimit = 35 * time.Second

// ClusterReport is the JSON of `dolbom-sim cluster` (issue 16's contract;
// docs/cluster.md explains each field). A figure the gateways cannot give
// yet is null, never 0.
type ClusterReport struct {
	Nodes     int `json:"nodes"`
	Homes     int `json:"homes"`
	Connected int `json:"connected"` // hubs online at the end of --duration
	// FailoverS runs from the SIGKILL of n2 until every hub that lost its
	// session then was online again and, once the gateways claim
	// ownership, every hub n2 owned is owned by another node; null: some
	// never came back, or no kill.
	FailoverS   *float64 `json:"failover_s"`
	MovedAtKill int      `json:"moved_at_kill"`
	// PauseFailoverS is the same from the SIGSTOP of n3 (HAProxy marks it
	// down and shuts its sessions).
	PauseFailoverS *float64 `json:"pause_failover_s"`
	MovedAtPause   int      `json:"moved_at_pause"`
	// AdoptedS runs from the signal until every silent home (Silent: hubs
	// switched off at the kill or pause, --silent of the node's, read from
	// hub_owners) is owned by another node with adopted set; the max over
	// the kill and the pause. Null when the node owned no hub (before the
	// gateways claim ownership) or a silent home was never adopted.
	AdoptedS    *float64 `json:"adopted_s"`
	Silent      int      `json:"silent"`
	adoptMissed bool
	SOS         clusterSOS        `json:"sos"`
	Lost        int               `json:"lost"`
	Duplicates  clusterDuplicates `json:"duplicates"`
	// FalseAlarms counts incidents no injected SOS explains: hub offline,
	// welfare, or an emergency of another cause (or an SOS incident of a
	// hub that sent none); FalseAlarmsByCause splits them.
	FalseAlarms        int            `json:"false_alarms"`
	FalseAlarmsByCause map[string]int `json:"false_alarms_by_cause"`
	// StaleWritesRejected sums dolbom_cluster_stale_writes_rejected_total
	// over the live nodes; null when no node exports it (before fencing).
	StaleWritesRejected *int64 `json:"stale_writes_rejected"`
	StateBackwards      *int64 `json:"state_backwards"`
	// LatencyMS: incident (SOS served over the session they were
	// published on, publish to the incident's opening), incident_buffered
	// (the others), incident_all, incident_failover (SOS published in the
	// 60 s after the kill by hubs that kept their session at the kill).
	LatencyMS map[string]firmwaresim.LatencySummary `json:"latency_ms"`
	// SlowestBuffered are the five slowest buffered SOS, with the hub's
	// session around them: where the time went.
	SlowestBuffered []slowSOS `json:"slowest_buffered"`
	// SlowestServed are the five slowest served SOS (latency_ms.incident's
	// tail), placed against the kill and the pause by their times.
	SlowestServed []slowSOS `json:"slowest_served"`
	// StagesMS splits latency_ms.incident's SOS by stage (clusterStage:
	// receive, journal, detect, open), over all nodes ("all") and by the
	// node that served each; SOS whose incident lacks its moments are left
	// out (StagesMissing counts them).
	StagesMS      map[string]map[string]firmwaresim.LatencySummary `json:"stages_ms"`
	StagesMissing int                                              `json:"stages_missing"`

	Settings    map[string]any `json:"settings"`
	Processes   []clusterProc  `json:"processes"`
	PostgresDir string         `json:"postgres_dir,omitempty"`
	Machine     Machine        `json:"machine"`
	Command     string         `json:"command"`
	Notes       []string       `json:"notes"`
}

type clusterSOS struct {
	Sent  int `json:"sent"`
	Acked int `json:"acked"`
	// Buffered: published while the hub had no session, or into one that
	// ended before the PUBACK (the hub resent it after reconnecting).
	Buffered int `json:"buffered"`
	// BufferedLate counts buffered SOS whose incident came more than 35 s
	// after the publish (issue 16: a moved hub's buffered SOS within 35 s).
	BufferedLate int `json:"buffered_late"`
	// BeforeFirstSession: published by a hub that had not connected yet
	// since the fleet started (counted in latency_ms.incident_all only).
	BeforeFirstSession int `json:"before_first_session"`
	// Folded: the SOS landed in an incident opened before it (a hub
	// offline incident of the same home): no latency is counted for it.
	Folded int `json:"folded"`
}

type clusterDuplicates struct {
	Incidents  int `json:"incidents"`   // SOS incidents of a home beyond its first
	CAP        int `json:"cap"`         // CAP Alert identifiers of an incident beyond one
	CAPRepeats int `json:"cap_repeats"` // the same identifier sent again (119 knows it)
}

type clusterProc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
}

// fleetTracker gathers the simulator children's lines.
type fleetTracker struct {
	mu     sync.Mutex
	on     []bool
	trans  [][]fleetLine // per hub: its on and off lines in order
	sos    map[string]*sosRecord
	sosIDs []string
	// silent are the hubs the harness switched off (homes to adopt):
	// their disconnection is the point, not a failover or a false alarm.
	silent map[int]bool
}

type sosRecord struct {
	hub      int
	at, ack  int64
	buffered bool
}

func newFleetTracker(homes int) *fleetTracker {
	return &fleetTracker{on: make([]bool, homes), trans: make([][]fleetLine, homes), sos: map[string]*sosRecord{}, silent: map[int]bool{}}
}

func (t *fleetTracker) add(l fleetLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.Hub < 0 || l.Hub >= len(t.on) {
		return
	}
	switch l.Kind {
	case "on", "off":
		t.on[l.Hub] = l.Kind == "on"
		t.trans[l.Hub] = append(t.trans[l.Hub], l)
	case "sos":
		t.sos[l.ID] = &sosRecord{hub: l.Hub, at: l.At, buffered: !l.Online}
		t.sosIDs = append(t.sosIDs, l.ID)
	case "ack":
		if s := t.sos[l.ID]; s != nil && s.ack == 0 {
			s.ack = l.At
		}
	}
}

func (t *fleetTracker) silence(hub int) {
	t.mu.Lock()
	t.silent[hub] = true
	t.mu.Unlock()
}

func (t *fleetTracker) silentCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.silent)
}

func (t *fleetTracker) online() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, on := range t.on {
		if on {
			n++
		}
	}
	return n
}

func (t *fleetTracker) sosCounts() (sent, acked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.sos {
		sent++
		if s.ack != 0 {
			acked++
		}
	}
	return sent, acked
}

// onlineAt says whether hub held a session at moment at.
func (t *fleetTracker) onlineAt(hub int, at int64) bool {
	on := false
	for _, l := range t.trans[hub] {
		if l.At > at {
			break
		}
		on = l.Kind == "on"
	}
	return on
}

// moved returns the hubs online just before at that lost their session
// within window after it (the node they were on died or was marked down),
// and the seconds from at until the last of them was online again (nil if
// one never was).
func (t *fleetTracker) moved(at time.Time, window time.Duration) (int, *float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	from, to := at.UnixNano(), at.Add(window).UnixNano()
	count := 0
	var worst int64
	for hub := range t.trans {
		if t.silent[hub] || !t.onlineAt(hub, from) {
			continue
		}
		var off, back int64
		for _, l := range t.trans[hub] {
			if off == 0 && l.Kind == "off" && l.At >= from && l.At <= to {
				off = l.At
			} else if off != 0 && l.Kind == "on" && l.At > off {
				back = l.At
				break
			}
		}
		if off == 0 {
			continue
		}
		count++
		if back == 0 {
			return count, nil
		}
		worst = max(worst, back-from)
	}
	if count == 0 {
		return 0, nil
	}
	s := float64(worst) / 1e9
	return count, &s
}

// lineWriter calls fn for each JSON line written to it (a child's stdout).
type lineWriter struct {
	buf []byte
	fn  func(fleetLine)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		var l fleetLine
		if json.Unmarshal(w.buf[:i], &l) == nil {
			w.fn(l)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// clusterIncident is an incidents row of this run.
// slowSOS is one buffered SOS's way to its incident, in seconds from the
// fleet's start: published, its session ended (0: it had none), the next
// session began, the PUBACK, the incident.
// slowest returns the n slowest of list, slowest first.
func slowest(list []slowSOS, n int) []slowSOS {
	slices.SortFunc(list, func(a, b slowSOS) int { return cmp.Compare(b.Incident-b.Published, a.Incident-a.Published) })
	return list[:min(len(list), n)]
}

type slowSOS struct {
	Hub        int     `json:"hub"`
	Published  float64 `json:"published_s"`
	Online     bool    `json:"online"`
	SessionEnd float64 `json:"session_end_s,omitempty"`
	Reconnect  float64 `json:"reconnect_s,omitempty"`
	Ack        float64 `json:"ack_s,omitempty"`
	Incident   float64 `json:"incident_s"`
	// Node served the event that opened the incident, and StagesMS splits
	// publish -> incident by its moments (clusterStages); both empty for
	// an incident without them.
	Node     string        `json:"node,omitempty"`
	StagesMS *clusterStage `json:"stages_ms,omitempty"`
}

type clusterIncident struct {
	id, hub, cause string
	opened         int64 // Unix µs
	timing         *detectors.Timing
}

// clusterStage splits one SOS's publish -> incident opened by the moments
// its gateway kept in the incident (detectors.Timing). The hubs and the
// gateways share this machine's clock. As in the load run (stagesOf), a
// boundary is held between the one before it and the incident, so the
// four add up to the incident latency.
type clusterStage struct {
	Receive float64 `json:"receive"` // publish -> the broker decoded it (the hub's write, TCP, the broker's read)
	Journal float64 `json:"journal"` // -> committed to the journal and handed to the rules
	Detect  float64 `json:"detect"`  // -> the rules handed the detection on (the engine shard's queue, the rules)
	Open    float64 `json:"open"`    // -> dispatch opened the incident (its queue, the ownership fence)
}

// clusterStageNames are clusterStage's fields, in order, as the report's
// stages_ms keys.
var clusterStageNames = [4]string{"receive", "journal", "detect", "open"}

// stagesOfIncident splits publish (unix ns) -> opened (unix ns) by t; ok is
// false when t lacks a moment.
func stagesOfIncident(publish, opened int64, t *detectors.Timing) (clusterStage, bool) {
	if t == nil || t.Received.IsZero() || t.Journaled.IsZero() || t.Detected.IsZero() || opened < publish {
		return clusterStage{}, false
	}
	bound := func(prev int64, at time.Time) int64 { return min(max(prev, at.UnixNano()), opened) }
	recv := bound(publish, t.Received)
	journal := bound(recv, t.Journaled)
	detect := bound(journal, t.Detected)
	ms := func(from, to int64) float64 { return float64(to-from) / 1e6 }
	return clusterStage{Receive: ms(publish, recv), Journal: ms(recv, journal), Detect: ms(journal, detect), Open: ms(detect, opened)}, true
}

func (c clusterStage) values() [4]float64 { return [4]float64{c.Receive, c.Journal, c.Detect, c.Open} }

// stageHistograms gathers the served SOS's stages, over all nodes and by
// node (ClusterReport.StagesMS).
type stageHistograms struct {
	all    [4]firmwaresim.Histogram
	byNode map[string]*[4]firmwaresim.Histogram
}

func (h *stageHistograms) record(node string, c clusterStage) {
	if h.byNode == nil {
		h.byNode = map[string]*[4]firmwaresim.Histogram{}
	}
	n := h.byNode[node]
	if n == nil {
		n = &[4]firmwaresim.Histogram{}
		h.byNode[node] = n
	}
	for i, v := range c.values() {
		h.all[i].Record(msDuration(v))
		n[i].Record(msDuration(v))
	}
}

// summaries is stages_ms: each stage's summary over all nodes ("all") and
// per node.
func (h *stageHistograms) summaries() map[string]map[string]firmwaresim.LatencySummary {
	one := func(hs *[4]firmwaresim.Histogram) map[string]firmwaresim.LatencySummary {
		out := map[string]firmwaresim.LatencySummary{}
		for i, name := range clusterStageNames {
			out[name] = hs[i].Summary()
		}
		return out
	}
	out := map[string]map[string]firmwaresim.LatencySummary{"all": one(&h.all)}
	for node, hs := range h.byNode {
		out[node] = one(hs)
	}
	return out
}

// measure reads the incidents, 119's alerts and the nodes' metrics, and
// builds the report.
func (r *clusterRun) measure(ctx context.Context, start time.Time, ev runEvents) (*ClusterReport, error) {
	incs, err := r.incidents(ctx, start)
	if err != nil {
		return nil, err
	}
	alerts, err := r.alerts119(ctx)
	if err != nil {
		return nil, err
	}
	rep := &ClusterReport{
		Nodes: r.o.nodes, Homes: r.o.homes, Connected: ev.connectedAtEnd,
		FalseAlarmsByCause: map[string]int{}, LatencyMS: map[string]firmwaresim.LatencySummary{},
		Command: "dolbom-sim cluster " + strings.Join(r.o.args, " "),
		Settings: map[string]any{
			"nodes": r.o.nodes, "homes": r.o.homes, "duration": r.o.duration.String(), "kill_at": r.o.killAt.String(), "stop_at": r.o.stopAt.String(),
			"pause_at": r.o.pauseAt.String(), "pause_for": r.o.pauseFor.String(), "drain": r.o.drain.String(),
			"sos_rate": r.o.sosRate, "haproxies": len(r.haproxies), "max_hubs": r.o.maxHubs,
			"heartbeat_timeout": r.o.heartbeatTimeout.String(), "own_postgres": r.o.databaseURL == "",
			"restart_killed": r.o.restartKilled.String(), "dolbomd_args": r.o.dolbomdArgs,
			"silent": r.o.silent, "silent_for": r.o.silentFor.String(),
		},
		Machine: thisMachine(r.o.maxHubs, "--max-hubs of each node"),
	}
	if !ev.kill.IsZero() {
		rep.MovedAtKill, rep.FailoverS = r.track.moved(ev.kill, 5*time.Second)
	}
	if !ev.pause.IsZero() {
		rep.MovedAtPause, rep.PauseFailoverS = r.track.moved(ev.pause, 10*time.Second)
	}

	// Incidents by home, and which homes sent an SOS.
	byHub := map[int][]clusterIncident{}
	for _, in := range incs {
		i, ok := hubIndex(in.hub)
		if !ok || i >= r.o.homes {
			continue
		}
		byHub[i] = append(byHub[i], in)
	}
	r.track.mu.Lock()
	silent := maps.Clone(r.track.silent)
	sosOf := map[int]*sosRecord{}
	for _, id := range r.track.sosIDs {
		sosOf[r.track.sos[id].hub] = r.track.sos[id]
	}
	var all, served, failover, buffered firmwaresim.Histogram
	var slow, slowServed []slowSOS
	var stages stageHistograms
	for _, id := range r.track.sosIDs {
		s := r.track.sos[id]
		rep.SOS.Sent++
		if s.ack != 0 {
			rep.SOS.Acked++
		}
		// An SOS published into a session that ended before its PUBACK
		// (its node died or was marked down) is resent by the hub after
		// it reconnects elsewhere, as one published offline is: both wait
		// for the move, and the issue gives them 35 s, not 100 ms.
		carried := s.buffered || r.track.lostSessionBefore(s.hub, s.at, s.ack)
		// A hub that never had a session yet (the fleet comes up over a
		// minute) buffers its SOS until its first CONNECT: that is not a
		// moved hub, which the 35 s target is for.
		first := s.buffered && !r.track.hadSessionBefore(s.hub, s.at)
		switch {
		case first:
			rep.SOS.BeforeFirstSession++
		case carried:
			rep.SOS.Buffered++
		}
		var inc *clusterIncident
		n := 0
		for k, in := range byHub[s.hub] {
			if in.cause == string(detectors.CauseSOS) {
				n++
				if inc == nil || in.opened < inc.opened {
					inc = &byHub[s.hub][k]
				}
			}
		}
		if n == 0 {
			rep.Lost++
			continue
		}
		rep.Duplicates.Incidents += n - 1
		lat := time.Duration(inc.opened*1000 - s.at)
		if lat < 0 {
			rep.SOS.Folded++
			continue
		}
		all.Record(lat)
		switch {
		case first:
		case !carried:
			served.Record(lat)
			sl := r.track.slowSOS(s, inc.opened*1000, start)
			if c, ok := stagesOfIncident(s.at, inc.opened*1000, inc.timing); ok {
				sl.Node, sl.StagesMS = inc.timing.Node, &c
				stages.record(inc.timing.Node, c)
			} else {
				rep.StagesMissing++
			}
			slowServed = append(slowServed, sl)
		default:
			slow = append(slow, r.track.slowSOS(s, inc.opened*1000, start))
			buffered.Record(lat)
			if lat > bufferedLimit {
				rep.SOS.BufferedLate++
			}
		}
		if !ev.kill.IsZero() && s.at >= ev.kill.UnixNano() && s.at < ev.kill.Add(time.Minute).UnixNano() &&
			r.track.onlineAt(s.hub, ev.kill.UnixNano()) && !r.track.lostSessionNear(s.hub, ev.kill, 5*time.Second) {
			failover.Record(lat)
		}
	}
	r.track.mu.Unlock()
	rep.SlowestBuffered = slowest(slow, 5)
	rep.SlowestServed = slowest(slowServed, 5)
	rep.StagesMS = stages.summaries()
	for hub, list := range byHub {
		for _, in := range list {
			if in.cause == string(detectors.CauseSOS) && sosOf[hub] != nil || silent[hub] {
				continue
			}
			rep.FalseAlarms++
			rep.FalseAlarmsByCause[in.cause]++
		}
	}
	rep.Silent = len(silent)
	// Ownership: the hubs of a signalled node owned elsewhere, and its
	// silent homes adopted (null before the gateways claim ownership).
	for _, w := range r.watches {
		moved, adopted := w.figures()
		if moved != nil && w.node == "n2" && rep.FailoverS != nil {
			rep.FailoverS = ptr(max(*rep.FailoverS, *moved))
		} else if w.node == "n2" && len(w.hubs) > 0 {
			rep.FailoverS = nil // some hub never owned elsewhere
		}
		if adopted != nil && (rep.AdoptedS == nil || *adopted > *rep.AdoptedS) {
			rep.AdoptedS = adopted
		} else if adopted == nil && len(w.silent) > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("adopted_s: %d silent homes of %s were not all adopted by the end", len(w.silent), w.node))
			rep.adoptMissed = true
		}
		if len(w.hubs) == 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("hub_owners had no hub of %s at its signal: ownership is not claimed yet, so no silent homes and no ownership figures", w.node))
		}
	}
	rep.LatencyMS["incident"] = served.Summary()
	rep.LatencyMS["incident_all"] = all.Summary()
	rep.LatencyMS["incident_failover"] = failover.Summary()
	rep.LatencyMS["incident_buffered"] = buffered.Summary()

	// 119: distinct Alert identifiers per incident, and repeats.
	idsOf := map[string]map[string]bool{}
	for _, a := range alerts {
		rep.Duplicates.CAPRepeats += a.Duplicates
		if a.IncidentID == "" || a.MsgType != "Alert" {
			continue
		}
		if idsOf[a.IncidentID] == nil {
			idsOf[a.IncidentID] = map[string]bool{}
		}
		idsOf[a.IncidentID][a.Identifier] = true
	}
	for _, ids := range idsOf {
		rep.Duplicates.CAP += len(ids) - 1
	}

	rep.StaleWritesRejected = r.staleWrites(ctx)
	rep.StateBackwards = r.stateBackwards
	rep.Notes = append(rep.Notes,
		"every process ran on this machine (shared with other work: timings are noisy); times are its clock",
		"failover_s and pause_failover_s: hubs that had a session at the signal and lost it within 5 s (kill) or 10 s (pause: HAProxy's health check marks the node down first) are the moved hubs; the figure is when the last of them was online again through HAProxy",
		"lost: SOS sent (acknowledged or buffered by a hub) with no sos incident for its home by the end of --drain; each SOS goes to a home not used before",
		"latency_ms.incident: the SOS publish to its incident's opened time (opened_us, the gateway's clock); an SOS folded into an incident opened earlier counts in sos.folded, not in the latency",
		"stages_ms: latency_ms.incident split by the moments the serving gateway keeps in the incident (received, journaled, detected; opened_us ends it): receive, journal, detect, open; a moment read before the one ahead of it counts 0 in its stage, so they add up to the latency",
		"failover_s also waits, once hub_owners has rows, for every hub the killed node owned to be owned by another node; adopted_s: --silent of the node's owned hubs are switched off at the signal and must be adopted",
		"state_backwards: home_state read every second from the fleet's start to the end of the drain; a home's epoch lower than read before, or the same epoch with an older updated_us, counts one (null without the epoch column)",
	)
	if rep.StaleWritesRejected == nil {
		rep.Notes = append(rep.Notes, "stale_writes_rejected: no node exports dolbom_cluster_stale_writes_rejected_total (no fencing yet)")
	}
	if r.o.stopAt > 0 {
		rep.Notes = append(rep.Notes, "--stop-at: n2 was stopped with SIGTERM (it leaves the cluster), not killed: failover_s, moved_at_kill, adopted_s and latency_ms.incident_failover measure that stop as they would a kill")
	}
	for _, n := range r.nodes {
		if n.p.exited() && !n.killed {
			rep.Notes = append(rep.Notes, fmt.Sprintf("node %s exited by itself during the run: %v (see %s.log)", n.name, n.p.err, n.name))
		}
	}
	return rep, nil
}

// lostSessionNear says whether hub lost its session within window after at.
// Called with t.mu held.
// hadSessionBefore says whether hub held a session at any moment before at.
// The caller holds t.mu.
func (t *fleetTracker) hadSessionBefore(hub int, at int64) bool {
	for _, l := range t.trans[hub] {
		if l.At >= at {
			break
		}
		if l.Kind == "on" {
			return true
		}
	}
	return false
}

// slowSOS describes s, whose incident opened at incident (Unix ns), in
// seconds from start. The caller holds t.mu.
func (t *fleetTracker) slowSOS(s *sosRecord, incident int64, start time.Time) slowSOS {
	sec := func(ns int64) float64 {
		if ns == 0 {
			return 0
		}
		return time.Duration(ns - start.UnixNano()).Seconds()
	}
	out := slowSOS{Hub: s.hub, Published: sec(s.at), Online: !s.buffered, Ack: sec(s.ack), Incident: sec(incident)}
	for _, l := range t.trans[s.hub] {
		switch {
		case l.At < s.at:
		case l.Kind == "off" && out.SessionEnd == 0 && out.Reconnect == 0:
			out.SessionEnd = sec(l.At)
		case l.Kind == "on" && out.Reconnect == 0:
			out.Reconnect = sec(l.At)
		}
	}
	return out
}

// lostSessionBefore says whether hub's session ended after at and before
// the PUBACK at ack (0: never acknowledged): what it published then was
// carried over to its next session. The caller holds t.mu.
func (t *fleetTracker) lostSessionBefore(hub int, at, ack int64) bool {
	for _, l := range t.trans[hub] {
		if l.Kind == "off" && l.At >= at && (ack == 0 || l.At < ack) {
			return true
		}
	}
	return false
}

func (t *fleetTracker) lostSessionNear(hub int, at time.Time, window time.Duration) bool {
	from, to := at.UnixNano(), at.Add(window).UnixNano()
	for _, l := range t.trans[hub] {
		if l.Kind == "off" && l.At >= from && l.At <= to {
			return true
		}
	}
	return false
}

// hubIndex parses the index out of a provisioned hub id ("sim-0000042").
func hubIndex(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "sim-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

func (r *clusterRun) incidents(ctx context.Context, start time.Time) ([]clusterIncident, error) {
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	defer conn.Close(context.Background())
	// Incidents opened since provisioning: a --database-url used before
	// keeps older ones.
	rows, err := conn.Query(ctx, `SELECT id, hub_id, cause, opened_us, COALESCE((data::jsonb)->'timing', 'null') FROM incidents WHERE opened_us >= $1`,
		start.Add(-10*time.Minute).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	var out []clusterIncident
	for rows.Next() {
		var in clusterIncident
		var timing []byte
		if err := rows.Scan(&in.id, &in.hub, &in.cause, &in.opened, &timing); err != nil {
			return nil, fmt.Errorf("read incidents: %w", err)
		}
		if err := json.Unmarshal(timing, &in.timing); err != nil {
			return nil, fmt.Errorf("read incidents: incident %s: timing: %w", in.id, err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

func (r *clusterRun) alerts119(ctx context.Context) ([]receiver.Alert, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", r.mock119+"/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mock 119 alerts: %w", err)
	}
	defer resp.Body.Close()
	var alerts []receiver.Alert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return nil, fmt.Errorf("mock 119 alerts: %w", err)
	}
	return alerts, nil
}

// staleWrites sums the fencing refusals the live nodes counted.
func (r *clusterRun) staleWrites(ctx context.Context) *int64 {
	const metric = "dolbom_cluster_stale_writes_rejected_total"
	var sum float64
	found := false
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, n := range r.nodes {
		if n.p.exited() {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.http+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, metric) {
				continue
			}
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				sum += v
				found = true
			}
		}
		resp.Body.Close()
	}
	if !found {
		return nil
	}
	v := int64(math.Round(sum))
	return &v
}

// misses lists the targets of issue 16 this run missed.
func (rep *ClusterReport) misses(o *clusterOptions) []string {
	var m []string
	if o.n2Ends() > 0 {
		switch {
		case rep.FailoverS == nil:
			m = append(m, "failover_s: the hubs of the killed node did not all come back")
		case *rep.FailoverS > 30:
			m = append(m, fmt.Sprintf("failover_s %.1f > 30", *rep.FailoverS))
		}
		if p := rep.LatencyMS["incident_failover"]; p.N > 0 && p.P99 > 1000 {
			m = append(m, fmt.Sprintf("latency_ms.incident_failover.p99 %.0f > 1000", p.P99))
		}
	}
	if rep.SOS.BufferedLate > 0 {
		m = append(m, fmt.Sprintf("sos.buffered_late %d: buffered SOS whose incident came more than %s after the publish", rep.SOS.BufferedLate, bufferedLimit))
	}
	if rep.Lost > 0 {
		m = append(m, fmt.Sprintf("lost %d > 0", rep.Lost))
	}
	if rep.Duplicates.Incidents > 0 || rep.Duplicates.CAP > 0 {
		m = append(m, fmt.Sprintf("duplicates: %d incidents, %d CAP identifiers > 0", rep.Duplicates.Incidents, rep.Duplicates.CAP))
	}
	if rep.FalseAlarms > 0 {
		m = append(m, fmt.Sprintf("false_alarms %d > 0 (%v)", rep.FalseAlarms, rep.FalseAlarmsByCause))
	}
	if o.pauseAt > 0 && (rep.StaleWritesRejected == nil || *rep.StaleWritesRejected == 0) {
		m = append(m, "stale_writes_rejected: none after the pause (no fencing)")
	}
	if rep.StateBackwards != nil && *rep.StateBackwards > 0 {
		m = append(m, fmt.Sprintf("state_backwards %d > 0", *rep.StateBackwards))
	}
	if p := rep.LatencyMS["incident"]; p.N > 0 && p.P99 > 100 {
		m = append(m, fmt.Sprintf("latency_ms.incident.p99 %.0f > 100", p.P99))
	}
	if rep.Connected < rep.Homes-rep.Silent {
		m = append(m, fmt.Sprintf("connected %d < homes %d less %d silent", rep.Connected, rep.Homes, rep.Silent))
	}
	if rep.adoptMissed || o.n2Ends() > 0 && o.silent > 0 && rep.AdoptedS == nil {
		m = append(m, "adopted_s: the silent homes were not adopted (or no ownership to adopt)")
	} else if rep.AdoptedS != nil && *rep.AdoptedS > 60 {
		m = append(m, fmt.Sprintf("adopted_s %.1f > 60", *rep.AdoptedS))
	}
	sort.Strings(m)
	return m
}

func (rep *ClusterReport) print(w io.Writer) {
	f := func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f s", *p)
	}
	fmt.Fprintf(w, "nodes %d, homes %d, connected %d\n", rep.Nodes, rep.Homes, rep.Connected)
	fmt.Fprintf(w, "failover %s (%d hubs moved at the kill), after the pause %s (%d moved)\n", f(rep.FailoverS), rep.MovedAtKill, f(rep.PauseFailoverS), rep.MovedAtPause)
	fmt.Fprintf(w, "SOS sent %d, acked %d, buffered %d, lost %d; duplicates: %d incidents, %d CAP (%d repeats)\n",
		rep.SOS.Sent, rep.SOS.Acked, rep.SOS.Buffered, rep.Lost, rep.Duplicates.Incidents, rep.Duplicates.CAP, rep.Duplicates.CAPRepeats)
	fmt.Fprintf(w, "false alarms %d %v\n", rep.FalseAlarms, rep.FalseAlarmsByCause)
	for _, k := range []string{"incident", "incident_failover", "incident_buffered", "incident_all"} {
		s := rep.LatencyMS[k]
		fmt.Fprintf(w, "latency %s: n=%d p50 %.1f ms p99 %.1f ms\n", k, s.N, s.P50, s.P99)
	}
	if all := rep.StagesMS["all"]; all != nil {
		fmt.Fprint(w, "incident stages p99:")
		for _, name := range clusterStageNames {
			fmt.Fprintf(w, " %s %.1f ms", name, all[name].P99)
		}
		fmt.Fprintf(w, " (%d SOS without them)\n", rep.StagesMissing)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}
