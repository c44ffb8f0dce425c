// Package fall detects falls in a wearable's accelerometer stream (samples in
// g from a sensor worn at the waist) and tells when the wearer is up again.
//
// A Tracker holds one wearable's streaming state. It is fed chunks in order
// and answers with the falls it decided on, each with the features that
// decided it, so the rule engine can explain the detection and run its cancel
// window. The detector has three stages, chosen from what the SisFall data
// (Sucerquia et al., Sensors 2017) supports:
//
//  1. impact: a sample-vector magnitude peak of at least Config.ImpactG, after
//     a moment within Config.UprightTiltDeg of vertical in the
//     Config.UprightLookback before it (a fall starts standing or sitting;
//     turning over in bed starts and ends lying);
//  2. violence: the horizontal-plane standard deviation sqrt(var(x)+var(z))
//     of the 5 Hz low-passed signal over 1 s around the impact, SisFall's best
//     single feature, at least Config.HorizontalStdG;
//  3. aftermath, PostWindow after the last impact: the trunk lies at least
//     Config.LyingTiltDeg from vertical, has turned at least
//     Config.OrientationChangeDeg from before the fall, and the wearer is still
//     (activity at most Config.StillG).
//
// Peak-only rules fire on jogging, stumbles and sitting down hard; the second
// and third stages reject those. The evaluation harness (ReadSisFallTrial,
// EvaluateDir) replays SisFall trials through the same Tracker.
package fall
