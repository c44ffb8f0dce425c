package console

import (
	"slices"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/devices"
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
		got, err := normalizePhone(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("normalizePhone(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIDsAreValidTokens(t *testing.T) {
	for id, want := range map[string]bool{
		"r-1": true, "kitchen-smoke": true, "A.b_c:d": true, strings.Repeat("a", 64): true,
		"": false, "a b": false, "a/b": false, "김": false, strings.Repeat("a", 65): false, "a?b": false,
	} {
		if got := devices.ValidToken(id); got != want {
			t.Errorf("devices.ValidToken(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestImportColumnsMapValidatorFields(t *testing.T) {
	// Every path validateResident may name must map to a CSV column, or a
	// row's error would name a JSON path the agency never saw.
	columns := ImportColumns()
	for _, field := range []string{"name", "phone", "birth_date", "language", "address.line1", "address.lat", "address.lon",
		"address.postcode", "guardians[0].phone", "guardians[2].language", "access.door_code", "access.notes",
		"medications[3]", "allergies[0]", "social_worker_id", "consent.notify_guardians"} {
		if col := columnOf(field); !slices.Contains(columns, col) {
			t.Errorf("validator field %q maps to %q, not a CSV column", field, col)
		}
	}
}
