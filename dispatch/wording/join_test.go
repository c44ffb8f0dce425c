package wording

import "testing"

// Join leaves out the missing parts without doubling the separator.
func TestJoin(t *testing.T) {
	for _, tt := range []struct {
		parts []string
		want  string
	}{
		{[]string{"302호", "", "3층"}, "302호 · 3층"},
		{[]string{"", ""}, ""},
		{[]string{"보호자"}, "보호자"},
	} {
		if got := Join(" · ", tt.parts...); got != tt.want {
			t.Errorf("Join(%q) = %q, want %q", tt.parts, got, tt.want)
		}
	}
}
