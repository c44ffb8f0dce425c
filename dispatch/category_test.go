package dispatch_test

import (
	"testing"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
)

func TestCategoryOfEveryCause(t *testing.T) {
	for cause, want := range map[detectors.Cause]dispatch.Category{
		detectors.CauseFall: dispatch.CategoryFall, detectors.CauseSmokeUnconfirmed: dispatch.CategoryFire,
		detectors.CauseFireConfirmed: dispatch.CategoryFire, detectors.CauseSOS: dispatch.CategorySOS,
		detectors.CauseAsystole: dispatch.CategoryHeart, detectors.CauseApnoea: dispatch.CategoryBreathing,
		detectors.CauseInactivity: dispatch.CategoryInactivity, detectors.CauseCO: dispatch.CategoryGas,
		detectors.CauseHubOffline: dispatch.CategoryDevice, detectors.CauseFallRecovered: dispatch.CategoryFallRecovered,
	} {
		if got := dispatch.CategoryOf(cause); got != want {
			t.Errorf("CategoryOf(%s) = %s, want %s", cause, got, want)
		}
	}
	if !dispatch.Observed(detectors.CauseSOS) || dispatch.Observed(detectors.CauseSmokeUnconfirmed) {
		t.Error("only a pressed button or a corroborated fire is observed")
	}
}

// Every category has the words the channels to people say (what happened,
// what it is), and only welfare checks and device faults are notices
// rather than alerts.
func TestEveryCategoryIsWorded(t *testing.T) {
	for _, c := range []dispatch.Category{dispatch.CategoryFall, dispatch.CategoryFire, dispatch.CategorySOS, dispatch.CategoryHeart,
		dispatch.CategoryBreathing, dispatch.CategoryInactivity, dispatch.CategoryFallRecovered, dispatch.CategoryGas, dispatch.CategoryDevice} {
		for _, key := range []string{"happened." + string(c), "what." + string(c)} {
			if !wording.Has(key) {
				t.Errorf("category %s: no words %q", c, key)
			}
		}
		notice := c == dispatch.CategoryInactivity || c == dispatch.CategoryDevice || c == dispatch.CategoryFallRecovered
		if c.Urgent() == notice {
			t.Errorf("category %s: urgent %v", c, c.Urgent())
		}
	}
}
