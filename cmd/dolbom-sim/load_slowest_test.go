package main

import "testing"

func TestKeepSlowest(t *testing.T) {
	var list []SlowIncident
	for i, ms := range []float64{5, 50, 1, 500, 7, 9, 3, 80, 60, 2, 40} {
		list = keepSlowest(list, SlowIncident{AtS: float64(i), MS: ms})
	}
	want := []float64{500, 80, 60, 50, 40, 9, 7, 5}
	if len(list) != len(want) {
		t.Fatalf("kept %d, want %d: %+v", len(list), len(want), list)
	}
	for i, w := range want {
		if list[i].MS != w {
			t.Errorf("slowest[%d] = %v ms, want %v: %+v", i, list[i].MS, w, list)
		}
	}
	if list[0].AtS != 3 {
		t.Errorf("the slowest was published at %v s, want 3", list[0].AtS)
	}
}
