package dispatch

import (
	"context"

	"github.com/rs/zerolog"
)

// EvidenceStart is where the evidence keeper starts on st.
func EvidenceStart(ctx context.Context, st EvidenceStore) int64 {
	return evidenceStart(ctx, st, &Dispatcher{log: zerolog.Nop()})
}
