package store

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/rs/zerolog"
)

// openEmbedded opens an embedded store in a fresh folder, closed when the
// test ends; cfg's DataDir, SecretKey and Logger are filled in when empty.
func openEmbedded(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.SecretKey == nil {
		cfg.SecretKey = make([]byte, 32)
		_, _ = rand.Read(cfg.SecretKey)
	}
	cfg.Logger = zerolog.Nop()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
