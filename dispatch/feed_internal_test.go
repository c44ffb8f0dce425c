package dispatch

import (
	"slices"
	"testing"
	"time"
)

func TestSeqFollower(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	type step struct {
		at        time.Duration
		observe   []int64
		wantHoles []int64
		wantMax   int64
	}
	for _, tc := range []struct {
		name  string
		start int64
		steps []step
	}{
		{"contiguous", 10, []step{{0, []int64{11, 12, 13}, nil, 13}}},
		{"a skipped number is asked for until it commits", 10, []step{
			{0, []int64{11, 13}, []int64{12}, 13},
			{time.Second, nil, []int64{12}, 13},
			{time.Second, []int64{12}, nil, 13}, // committed late: hole closed
		}},
		{"a hole that never fills is given up", 10, []step{
			{0, []int64{12}, []int64{11}, 12},
			{holeTTL + time.Second, nil, nil, 12},
		}},
		{"several holes", 0, []step{
			{0, []int64{2, 5}, []int64{1, 3, 4}, 5},
			{0, []int64{4, 1}, []int64{3}, 5},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := seqFollower{max: tc.start}
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				for _, seq := range s.observe {
					f.observe(seq, now)
				}
				if got := f.pending(now); !slices.Equal(got, s.wantHoles) || f.max != s.wantMax {
					t.Fatalf("step %d: holes %v, max %d; want %v, %d", i, got, f.max, s.wantHoles, s.wantMax)
				}
			}
		})
	}
}

func TestFeedPassesEachChangeOnce(t *testing.T) {
	f := newFeed()
	ch := f.add()
	for _, inc := range []Incident{{ID: "a", Seq: 1}, {ID: "a", Seq: 1}, {ID: "b", Seq: 2}, {ID: "a", Seq: 3}, {ID: "b", Seq: 2}} {
		f.publish(inc)
	}
	f.remove(ch)
	var got []int64
	for inc := range ch {
		got = append(got, inc.Seq)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("published %v, want [1 2 3]", got)
	}
	// The window is bounded: a change older than it counts as new again.
	var r recentChanges
	for i := range recentWindow + 1 {
		r.add(changeKey{"x", int64(i + 1)})
	}
	if !r.add(changeKey{"x", 1}) {
		t.Error("the oldest change is still remembered past the window")
	}
	if r.add(changeKey{"x", recentWindow + 1}) {
		t.Error("the newest change was forgotten")
	}
}
