package main

import "testing"

// TestStagesOf: the stages add up to publish -> incident whatever order the
// moments came in; a stage that overlapped the one before counts 0.
func TestStagesOf(t *testing.T) {
	const ms = int64(1e6)
	for _, tc := range []struct {
		name                     string
		times                    sosTimes
		alert                    int64
		puback, detect, incident float64
		alert119                 float64 // -1: none
	}{
		{"in order", sosTimes{sent: 100 * ms, puback: 103 * ms, detect: 110 * ms, incident: 150 * ms}, 170 * ms, 3, 7, 40, 20},
		{"detected before the hub read its PUBACK", sosTimes{sent: 100 * ms, puback: 112 * ms, detect: 110 * ms, incident: 150 * ms}, 0, 12, 0, 38, -1},
		{"PUBACK read after the incident", sosTimes{sent: 100 * ms, puback: 160 * ms, detect: 110 * ms, incident: 150 * ms}, 149 * ms, 50, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := stagesOf(tc.times, tc.alert)
			if !ok {
				t.Fatal("not ok")
			}
			if s.PubackMS != tc.puback || s.DetectMS != tc.detect || s.IncidentMS != tc.incident {
				t.Errorf("stages %+v, want puback %v detect %v incident %v", s, tc.puback, tc.detect, tc.incident)
			}
			switch {
			case tc.alert119 < 0 && s.Alert119MS != nil:
				t.Errorf("alert_119 %v, want none", *s.Alert119MS)
			case tc.alert119 >= 0 && (s.Alert119MS == nil || *s.Alert119MS != tc.alert119):
				t.Errorf("alert_119 %v, want %v", s.Alert119MS, tc.alert119)
			}
		})
	}
	if _, ok := stagesOf(sosTimes{sent: 1, detect: 2, incident: 3}, 0); ok {
		t.Error("stages of an SOS whose PUBACK was not seen")
	}
}
