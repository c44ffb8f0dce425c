package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dolbom/dolbom/devices"
)

// KeyFile is the name of the secret key file LoadOrCreateKey keeps in the
// data directory.
const KeyFile = "secret.key"

// LoadOrCreateKey returns the 32-byte key kept hex-encoded in
// dataDir/secret.key, creating the directory and a new random key (mode
// 0600) on first use. Losing the file makes the door codes unreadable: back
// it up with the database, but not in the same place.
func LoadOrCreateKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, KeyFile)
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("store: %s: want 64 hex digits (32 bytes)", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: read key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails on Linux (Go >= 1.24)
	// O_EXCL: two processes starting at once must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: create key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store: write key: %w", err)
	}
	return key, nil
}

// sealer encrypts small secrets with AES-256-GCM. A sealed value is
// version byte 1 | 12-byte random nonce | ciphertext and tag. The record's
// id is authenticated as associated data, so a sealed value copied onto
// another record does not open.
type sealer struct{ aead cipher.AEAD }

const sealVersion = 1

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: %w: SecretKey must be 32 bytes, got %d", devices.ErrInvalid, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain []byte, recordID string) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plain, []byte(recordID))
}

func (s *sealer) open(sealed []byte, recordID string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errors.New("store: sealed value malformed")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(recordID))
	if err != nil {
		return nil, errors.New("store: sealed value does not open: wrong SecretKey or tampered record")
	}
	return plain, nil
}
