package devices

import (
	"slices"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"010-1234-5678", "+821012345678"},
		{"01012345678", "+821012345678"},
		{"010 1234 5678", "+821012345678"},
		{"+821012345678", "+821012345678"},
		{"+82 10-1234-5678", "+821012345678"},
		{"+82 010-1234-5678", "+821012345678"}, // domestic 0 kept by mistake
		{"02-123-4567", "+8221234567"},         // Seoul landline
		{"031-123-4567", "+82311234567"},
		{"+1 (415) 555-0100", "+14155550100"},
		{"+44 20 7946 0958", "+442079460958"},
		{"", ""},
		{"12345", ""},
		{"010-1234", ""},
		{"0010-1234-5678", ""},
		{"+0123456789", ""},
		{"+1234", ""},
		{"+1234567890123456", ""},
		{"010-CALL-ME", ""},
		{"1+1234567890", ""},
	}
	for _, tc := range tests {
		got, err := NormalizePhone(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizePhone(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestResidentSearch(t *testing.T) {
	r := Resident{ID: "r-1", Name: "김영희", Phone: "+821033334444",
		Address: Address{Line1: "서울특별시 종로구 세종대로 175", Building: "103동", Floor: "15", Unit: "1502호", District: "종로구"}}
	for _, q := range []string{"010-3333-4444", "01033334444", "+821033334444", "010 3333 4444", "+82 10 3333 4444",
		"103동", "세종대로", "103동 1502호", "영희", "r-1", "3333", "종로구 세종"} {
		if !ParseResidentSearch(q).Matches(r) {
			t.Errorf("%q does not find %+v", q, r)
		}
	}
	for _, q := range []string{"010-3333-4445", "104동", "103동 1503호", "박"} {
		if ParseResidentSearch(q).Matches(r) {
			t.Errorf("%q finds %s", q, r.ID)
		}
	}
	s := ParseResidentSearch("  Seoul  103동 ")
	if s.Phone != "" || !slices.Equal(s.Terms, []string{"seoul", "103동"}) {
		t.Errorf("parsed %+v", s)
	}
}
