//go:build race

package store

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = true
