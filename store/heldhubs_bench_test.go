package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkSaveHeldHubs is one save of a broker node's held set on the
// embedded store: while it holds SQLite's one writer, an SOS's commit waits
// (docs/performance.md, "Where a slow SOS spends its time").
func BenchmarkSaveHeldHubs(b *testing.B) {
	for _, hubs := range []int{50_000, 300_000} {
		b.Run(fmt.Sprintf("hubs=%d", hubs), func(b *testing.B) {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			s, err := Open(context.Background(), Config{DataDir: b.TempDir(), SecretKey: key, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			set := make([]uint64, hubs)
			for i := range set {
				set[i] = uint64(i) * 0x9E3779B97F4A7C15
			}
			ctx := context.Background()
			at := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				at = at.Add(time.Minute)
				if err := s.State().SaveHeldHubs(ctx, "node-a", at, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
