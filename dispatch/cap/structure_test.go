package cap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStructure: what the builder sends and the golden files pass;
// each broken copy is refused with the element named. The same messages
// pass or fail the official schema (TestBuildGoldenAndSchema).
func TestCheckStructure(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) == 0 {
		t.Fatal("no golden CAP files")
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckStructure(body); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	_, built, err := Build(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckStructure(built); err != nil {
		t.Fatalf("built message: %v", err)
	}
	good := string(built)
	tests := []struct {
		name, old, new, want string
	}{
		{"no sender", "<sender>", "<senderX>", "alert/sender is missing"},
		{"zulu sent", "+09:00</sent>", "Z</sent>", "numeric offset"},
		{"bad status", "<status>Actual</status>", "<status>Real</status>", `alert/status "Real"`},
		{"bad msgType", "<msgType>Alert</msgType>", "<msgType>Notice</msgType>", "alert/msgType"},
		{"no scope", "<scope>", "<scopeX>", "alert/scope is missing"},
		{"bad category", "<category>Rescue</category>", "<category>Medical</category>", "category"},
		{"no event", "<event>", "<eventX>", "event is missing"},
		{"bad urgency", "<urgency>Immediate</urgency>", "<urgency>Now</urgency>", "urgency"},
		{"no certainty", "<certainty>", "<certaintyX>", "certainty is missing"},
		{"parameter without value", "<value>inc-0001</value>", "", "value (pair 1) is missing"},
		{"area without areaDesc", "<areaDesc>", "<areaDescX>", "areaDesc is missing"},
		{"CAP 1.1", "cap:1.2", "cap:1.1", "root element"},
		{"not XML", "</alert>", "", "not XML"},
	}
	for _, tc := range tests {
		bad := strings.Replace(good, tc.old, tc.new, 1)
		if strings.HasSuffix(tc.old, ">") && strings.HasPrefix(tc.old, "<") && !strings.HasPrefix(tc.old, "</") && tc.new != "" && strings.HasSuffix(tc.new, "X>") {
			closing := "</" + tc.old[1:]
			bad = strings.Replace(bad, closing, "</"+tc.new[1:], 1)
		}
		if bad == good {
			t.Fatalf("%s: the replacement changed nothing", tc.name)
		}
		err := CheckStructure([]byte(bad))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
