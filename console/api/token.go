package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// adminTokenName is the generated admin token's file in the data folder.
// dolbomctl reads it when it talks to a local gateway.
const adminTokenName = "admin-token"

// minTokenLen refuses tokens short enough to guess.
const minTokenLen = 16

// AdminTokenFile returns where the generated admin token is kept.
func AdminTokenFile(dataDir string) string { return filepath.Join(dataDir, adminTokenName) }

// LoadOrCreateAdminToken returns the admin API's bearer token: fromEnv
// (DOLBOM_ADMIN_TOKEN) when set; otherwise the token in the data folder;
// otherwise a new random token, written there with mode 0600 (created is
// then true, and the caller tells the operator where to find it).
func LoadOrCreateAdminToken(dataDir, fromEnv string) (token string, created bool, err error) {
	if fromEnv = strings.TrimSpace(fromEnv); fromEnv != "" {
		if len(fromEnv) < minTokenLen {
			return "", false, fmt.Errorf("console: admin token from the environment is %d characters; use at least %d", len(fromEnv), minTokenLen)
		}
		return fromEnv, false, nil
	}
	path := AdminTokenFile(dataDir)
	token, err = ReadAdminToken(dataDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return token, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("console: admin token: %w", err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on Linux (Go >= 1.24)
	token = base64.RawURLEncoding.EncodeToString(b)
	// O_EXCL: if another process created the file meanwhile, use its token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		token, err = ReadAdminToken(dataDir)
		return token, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("console: admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("console: write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("console: write admin token: %w", err)
	}
	return token, true, nil
}

// ReadAdminToken reads the token file in dataDir. Like ssh with its keys,
// it refuses a file that others can read: the token opens every resident's
// door code.
func ReadAdminToken(dataDir string) (string, error) {
	path := AdminTokenFile(dataDir)
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("console: admin token: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("console: admin token file %s has mode %o, readable by others: chmod 600 it", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("console: admin token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < minTokenLen {
		return "", fmt.Errorf("console: admin token file %s holds %d characters; at least %d needed (delete it to generate a new one)", path, len(token), minTokenLen)
	}
	return token, nil
}
