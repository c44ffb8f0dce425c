package main

import (
	"math"
	"time"

	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"

	dto "github.com/prometheus/client_model/go"
)

// Where a slow SOS spends its time (issue 14): the load run takes the
// moments one SOS passes on its way, all on this process's wall clock (the
// in-process gateway shares it), and splits publish -> incident into
// stages. Nothing is added to the gateway for it: the moments come from the
// hub (its PUBACK), the gateway's detection tap (Options.OnDetection),
// dispatch's incident feed and the mock 119's received alerts, which the
// run reads anyway.

// sosTimes is one injected SOS's moments, unix ns; 0 when not seen.
type sosTimes struct {
	sent     int64 // the hub's publish call
	puback   int64 // the hub read its PUBACK (the event is in the journal)
	detect   int64 // the detectors handed the detection on
	incident int64 // the incident showed on dispatch's feed
}

// SOSStages splits one SOS's publish -> incident (SlowIncident.MS) into
// consecutive stages, and adds the incident -> 119 leg.
//
// The stages run on different goroutines, so a later moment can come
// before an earlier one (the detection before the hub's shard read its
// PUBACK): each boundary is held at least at the one before it and at most
// at the incident, so a stage that overlapped the one before counts 0, its
// time staying in the earlier stage, and PubackMS + DetectMS + IncidentMS is
// publish -> incident.
type SOSStages struct {
	PubackMS   float64 `json:"puback_ms"`   // publish -> PUBACK read by the hub (journal commit, acknowledgement write)
	DetectMS   float64 `json:"detect_ms"`   // PUBACK -> the detectors handed the detection on
	IncidentMS float64 `json:"incident_ms"` // detection -> the incident on dispatch's feed (committed)
	// Alert119MS is the incident on the feed -> the mock 119 received its
	// CAP alert (0 when the alert came first); nil when no alert came.
	Alert119MS *float64 `json:"alert_119_ms,omitempty"`
}

// stagesOf splits t into stages; ok is false when a moment is missing (the
// paho client reports no PUBACK per event). alert is the mock 119's
// receipt, 0 if none.
func stagesOf(t sosTimes, alert int64) (s SOSStages, ok bool) {
	if t.sent == 0 || t.puback == 0 || t.detect == 0 || t.incident == 0 || t.incident < t.sent {
		return SOSStages{}, false
	}
	bound := func(prev, at int64) int64 { return min(max(prev, at), t.incident) }
	puback := bound(t.sent, t.puback)
	detect := bound(puback, t.detect)
	ms := func(from, to int64) float64 { return float64(to-from) / 1e6 }
	s = SOSStages{PubackMS: ms(t.sent, puback), DetectMS: ms(puback, detect), IncidentMS: ms(detect, t.incident)}
	if alert != 0 {
		a := ms(t.incident, max(alert, t.incident))
		s.Alert119MS = &a
	}
	return s, true
}

// stageSummaries is the p50/p99 of each stage over every SOS with all its
// moments (LoadReport.StagesMS).
func stageSummaries(all []SOSStages) map[string]*firmwaresim.LatencySummary {
	var puback, detect, incident, alert firmwaresim.Histogram
	for _, s := range all {
		puback.Record(msDuration(s.PubackMS))
		detect.Record(msDuration(s.DetectMS))
		incident.Record(msDuration(s.IncidentMS))
		if s.Alert119MS != nil {
			alert.Record(msDuration(*s.Alert119MS))
		}
	}
	out := map[string]*firmwaresim.LatencySummary{}
	for name, h := range map[string]*firmwaresim.Histogram{"puback": &puback, "detect": &detect, "incident": &incident, "alert_119": &alert} {
		sum := h.Summary()
		out[name] = &sum
	}
	return out
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// GatewayHistogram is one of the in-process gateway's latency histograms
// (Prometheus, read at the end of the run), in milliseconds; quantiles are
// the upper bounds of their buckets.
type GatewayHistogram struct {
	N      uint64  `json:"n"`
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
	Over50 uint64  `json:"over_50ms"` // observations above 50 ms (to the bucket)
}

// gatewayStageMetrics are the gateway's own stage timings that place a
// stall of the PUBACK stage: each event's wait in the journal (queue, lock:
// SQLite's one writer or a PostgreSQL connection, commit) and how long each
// WAL checkpoint held the writers back.
var gatewayStageMetrics = map[string]string{
	"dolbom_store_event_stage_seconds":            "journal_",
	"dolbom_store_wal_checkpoint_held_seconds":    "wal_checkpoint_held",
	"dolbom_store_wal_checkpoint_presync_seconds": "wal_checkpoint_presync",
	"dolbom_store_commit_seconds":                 "store_commit_",
	"dolbom_broker_publish_journal_seconds":       "broker_journal_",
}

// gatewayHistograms reads gatewayStageMetrics from the gateway's registry,
// by report name (prefix and label values).
func gatewayHistograms(g *gateway.Gateway) map[string]*dto.Histogram {
	out := map[string]*dto.Histogram{}
	gatewayMetrics(g, func(mf *dto.MetricFamily) {
		prefix, ok := gatewayStageMetrics[mf.GetName()]
		if !ok {
			return
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				name := prefix
				for _, l := range m.GetLabel() {
					name += l.GetValue()
				}
				out[name] = h
			}
		}
	})
	return out
}

// gatewayStages summarises gatewayStageMetrics from the gateway's registry,
// less what base (gatewayHistograms of the same gateway, earlier; nil for
// none) had counted.
func gatewayStages(g *gateway.Gateway, base map[string]*dto.Histogram) map[string]GatewayHistogram {
	if g == nil {
		return nil
	}
	out := map[string]GatewayHistogram{}
	for name, h := range gatewayHistograms(g) {
		bounds := make([]float64, len(h.GetBucket()))
		counts := make([]uint64, len(h.GetBucket())) // cumulative
		for i, b := range h.GetBucket() {
			bounds[i], counts[i] = b.GetUpperBound(), b.GetCumulativeCount()
		}
		gh := GatewayHistogram{N: h.GetSampleCount()}
		if was := base[name]; was != nil && len(was.GetBucket()) == len(counts) {
			gh.N -= was.GetSampleCount()
			for i, b := range was.GetBucket() {
				counts[i] -= b.GetCumulativeCount()
			}
		}
		if gh.N == 0 {
			continue
		}
		quantile := func(q float64) float64 {
			want := uint64(math.Ceil(q * float64(gh.N)))
			for i, c := range counts {
				if c >= want {
					return bounds[i] * 1e3
				}
			}
			return math.Inf(1)
		}
		gh.P50, gh.P99, gh.P999 = quantile(0.5), quantile(0.99), quantile(0.999)
		var under uint64
		for i, c := range counts {
			if bounds[i] <= 0.05 {
				under = c
			}
		}
		gh.Over50 = gh.N - under
		for _, v := range []*float64{&gh.P50, &gh.P99, &gh.P999} {
			if math.IsInf(*v, 1) {
				*v = -1 // past the last bucket
			}
		}
		out[name] = gh
	}
	return out
}
