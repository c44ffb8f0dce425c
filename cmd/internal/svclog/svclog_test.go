package svclog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestServiceTellsTheLinesApart(t *testing.T) {
	var console, plain bytes.Buffer
	l119 := With(zerolog.New(Console(&console)), "dolbom-119")
	l119.Info().Str("cap_id", "x").Msg("CAP received")
	ld := With(zerolog.New(&plain), "dolbomd")
	ld.Info().Msg("ready")
	if got := console.String(); !strings.Contains(got, "[dolbom-119] ") || strings.Contains(got, "service=") || !strings.Contains(got, "cap_id=") {
		t.Errorf("console line %q", got)
	}
	if got := plain.String(); !strings.Contains(got, `"service":"dolbomd"`) {
		t.Errorf("JSON line %q", got)
	}
}
