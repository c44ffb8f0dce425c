package detectors

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/devices"
)

func TestStaleErrorIsNotOwnerAndNamesHubs(t *testing.T) {
	err := fmt.Errorf("store: save home state: %w", &StaleError{Hubs: []devices.HubID{"hub-1", "hub-2"}})
	if !errors.Is(err, devices.ErrNotOwner) {
		t.Errorf("errors.Is(%v, devices.ErrNotOwner) = false", err)
	}
	var st *StaleError
	if !errors.As(err, &st) || len(st.Hubs) != 2 {
		t.Fatalf("errors.As = %v, %+v", err, st)
	}
	if !strings.Contains(err.Error(), "hub-1, hub-2") {
		t.Errorf("message %q does not name the hubs", err)
	}
	many := &StaleError{Hubs: make([]devices.HubID, 12)}
	if !strings.Contains(many.Error(), "and 7 more") {
		t.Errorf("message of 12 hubs = %q, want the first five and a count", many)
	}
}
