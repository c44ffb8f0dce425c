// Package fall detects falls in a wearable's accelerometer stream (samples in
// g from a sensor worn at the waist) and tells when the wearer is up again.
//
// A Tracker holds one wearable's streaming state. It is fed chunks in order
// and answers with the falls it decided on, each with the features that
// decided it, so the rule engine can explain the detection and run its cancel
// window, and with GotUp reports when the wearer is up again after a fall.
// An impact episode is judged on:
//
//  1. impact: a peak of the lightly smoothed magnitude of at least
//     Config.ImpactG (the smoothing makes a peak read the same from 20 Hz to
//     400 Hz);
//  2. violence: the horizontal-plane standard deviation sqrt(var(x)+var(z))
//     of the 5 Hz low-passed signal over 1 s around the impact, SisFall's best
//     single feature (Sucerquia et al., Sensors 2017), at least
//     Config.HorizontalStdG;
//  3. down, PostWindow after the last impact: the trunk lies at least
//     Config.LyingTiltDeg from vertical and has turned at least
//     Config.OrientationChangeDeg from before the fall;
//  4. start: upright (a moment within Config.UprightTiltDeg of vertical in
//     the Config.UprightLookback before the impact), or lying (a fall out of
//     bed: an impact of at least Config.BedImpactG, or one that took away at
//     least Config.BedImpactMS of speed, and a turn of at least
//     Config.BedTurnDeg, which turning over on a mattress does not reach);
//     from upright, a controlled descent (no free-fall phase, a soft landing
//     and a low peak: lying down, sitting down heavily, failing to stand) is
//     not a fall (Config.ControlledMinG);
//  5. outcome: still (a fall, reported now), or moving on the floor: then a
//     fall once the wearer lies still, or GotUp without a fall once they are
//     up ("fell and got up", a welfare concern, not a 119 emergency).
//
// Peak-only rules fire on jogging, stumbles and sitting down hard; the later
// stages reject those. The evaluation harness (package falleval) replays the
// SisFall and FallAllD trials through the same Tracker.
package fall
