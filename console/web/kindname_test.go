package web

import (
	"strings"
	"testing"

	"github.com/dolbom/dolbom/devices"
)

// Every sensor kind of the protocol is listed in the admin forms by a name
// in both languages, never as a bare key or value: the console's own
// description, or else the kind's name (devices).
func TestEverySensorKindHasAName(t *testing.T) {
	for k := range devices.SensorKinds {
		for _, lang := range []string{"ko", "en"} {
			got := (&pageData{Lang: lang}).KindName(k)
			if got == "" || got == string(k) || strings.Contains(got, "adm.kind") {
				t.Errorf("%s in %s: %q", k, lang, got)
			}
		}
	}
}
