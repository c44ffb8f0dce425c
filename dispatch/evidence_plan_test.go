package dispatch

import (
	"testing"

	"github.com/dolbom/dolbom/detectors"
)

// Every cause of the resident's (causeOrder) has evidence to show, and no
// device cause has: a new cause is described where its category is.
func TestEvidenceOfEveryResidentCause(t *testing.T) {
	for _, c := range causeOrder {
		p, ok := EvidenceOf(c)
		if !ok || len(p.Metrics) == 0 || p.Before <= 0 || p.After <= 0 {
			t.Errorf("cause %s: plan %+v, %v; want metrics and a span on both sides", c, p, ok)
		}
	}
	for c := range deviceHealthCauses {
		if _, ok := EvidenceOf(c); ok {
			t.Errorf("device cause %s has an evidence plan", c)
		}
	}
	if _, ok := EvidenceOf(detectors.CauseHubOffline); ok {
		t.Error("hub_offline has an evidence plan")
	}
}
