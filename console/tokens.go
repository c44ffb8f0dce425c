package console

// Tokens both doors and the bootstrap use: the sessions' cookie and CSRF
// tokens (console/web) and the first admin's password.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// RandomToken is 256 random bits, URL-safe.
func RandomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (Go >= 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is what the database keeps of a session token: SHA-256 is
// enough for a 256-bit random value (no guessing to slow down).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// EqualTokens compares in constant time; an empty token never matches.
func EqualTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
