package detectors

import (
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	at := time.Unix(1767225600, 0)
	if got := Fingerprint("hub-1", CauseHubOffline, "", at); got != "hub-1/hub_offline/1767225600" {
		t.Fatal(got)
	}
	if got := Fingerprint("hub-1", CauseBatteryLow, "door-1", at); got != "hub-1/battery_low/door-1/1767225600" {
		t.Fatal(got)
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		d      time.Duration
		ko, en string
	}{
		{45 * time.Second, "45초", "45 s"},
		{12 * time.Minute, "12분", "12 min"},
		{2 * time.Hour, "2시간", "2 h"},
		{65 * time.Minute, "1시간 5분", "1 h 5 min"},
	}
	for _, tt := range tests {
		if DurKo(tt.d) != tt.ko || DurEn(tt.d) != tt.en {
			t.Errorf("%s: %q %q, want %q %q", tt.d, DurKo(tt.d), DurEn(tt.d), tt.ko, tt.en)
		}
	}
}
