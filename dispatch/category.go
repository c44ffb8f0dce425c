package dispatch

import "github.com/dolbom/dolbom/detectors"

// Category is the coarse kind of an incident that the channels speak of:
// 119 picks its CAP category and event by it, a guardian's SMS and call say
// it in words. The detectors' causes are finer (smoke unconfirmed, CO,
// bradycardia ...); every channel uses this one vocabulary, so that a new
// cause is mapped here once and not in each channel.
type Category string

const (
	CategoryFall       Category = "fall"
	CategoryFire       Category = "fire"
	CategorySOS        Category = "sos"
	CategoryHeart      Category = "heart"
	CategoryBreathing  Category = "breathing"
	CategoryInactivity Category = "inactivity"
	// CategoryFallRecovered is a fall the resident got up from: a welfare
	// concern, told as such (never "an emergency").
	CategoryFallRecovered Category = "fall_recovered"
	CategoryGas           Category = "gas"
	CategoryDevice        Category = "device"
)

// CategoryOf maps a detector's cause onto its category; a cause not named
// here is about the devices (offline, power, battery ...).
func CategoryOf(c detectors.Cause) Category {
	switch c {
	case detectors.CauseFall:
		return CategoryFall
	case detectors.CauseFireConfirmed, detectors.CauseSmokeUnconfirmed:
		return CategoryFire
	case detectors.CauseSOS:
		return CategorySOS
	case detectors.CauseBradycardia, detectors.CauseTachycardia, detectors.CauseAsystole:
		return CategoryHeart
	case detectors.CauseApnoea, detectors.CauseBreathingRate:
		return CategoryBreathing
	case detectors.CauseInactivity:
		return CategoryInactivity
	case detectors.CauseFallRecovered:
		return CategoryFallRecovered
	case detectors.CauseCO, detectors.CauseGas:
		return CategoryGas
	}
	return CategoryDevice
}

// Urgent tells whether the category is an alert to the people who know the
// resident ("[돌봄 긴급]"), rather than a notice (a welfare check, a device):
// the channels to people tag their messages by it.
func (c Category) Urgent() bool {
	return c != CategoryInactivity && c != CategoryDevice && c != CategoryFallRecovered
}

// Observed tells whether the cause is seen for certain (a button pressed, a
// fire corroborated) rather than inferred by a detector: 119 is told so.
func Observed(c detectors.Cause) bool {
	return c == detectors.CauseSOS || c == detectors.CauseFireConfirmed
}
