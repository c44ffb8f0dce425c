package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateAdminToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var")

	fromEnv, created, err := LoadOrCreateAdminToken(dir, "  env-token-0123456789  ")
	if err != nil || created || fromEnv != "env-token-0123456789" {
		t.Fatalf("from env: %q %v %v", fromEnv, created, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a token from the environment created the data folder")
	}
	if _, _, err := LoadOrCreateAdminToken(dir, "short"); err == nil {
		t.Fatal("a 5-character token was accepted")
	}

	first, created, err := LoadOrCreateAdminToken(dir, "")
	if err != nil || !created || len(first) < 40 {
		t.Fatalf("first start: %q %v %v", first, created, err)
	}
	info, err := os.Stat(AdminTokenFile(dir))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v", err, info.Mode())
	}
	second, created, err := LoadOrCreateAdminToken(dir, "")
	if err != nil || created || second != first {
		t.Fatalf("second start: %q %v %v, want the first token", second, created, err)
	}
	if got, err := ReadAdminToken(dir); err != nil || got != first {
		t.Fatalf("ReadAdminToken = %q, %v", got, err)
	}

	if err := os.Chmod(AdminTokenFile(dir), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateAdminToken(dir, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable token file was accepted: %v", err)
	}
}
