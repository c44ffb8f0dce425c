package cap

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the receiver's decoder; Build's output must always parse
// back to the identifier it was given.
func FuzzParse(f *testing.F) {
	golden, _ := filepath.Glob("testdata/*.xml")
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>x</identifier></alert>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err == nil && p.Identifier == "" {
			t.Fatal("parsed without identifier")
		}
	})
}

func TestParseRoundTrip(t *testing.T) {
	id, body, err := Build(sampleMessage())
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(body)
	if err != nil || p.Identifier != id || p.IncidentID != "inc-0001" || p.MsgType != MsgAlert || p.Sent != "2026-03-14T10:02:03+09:00" {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
}
