package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/devices"
)

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
		"medications[3]", "allergies[0]", "social_worker_id", "consent.notify_guardians", "district_code"} {
		if col := columnOf(field); !slices.Contains(columns, col) {
			t.Errorf("validator field %q maps to %q, not a CSV column", field, col)
		}
	}
}
