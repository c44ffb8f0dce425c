package dispatch_test

import (
	"testing"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
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
