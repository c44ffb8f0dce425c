package devices

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// SecretParams are argon2id parameters, for secrets people choose
// (passwords). They are stored in every hash (PHC string format), so they can
// be raised later without invalidating existing hashes.
type SecretParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// LegacyHubSecretParams are the argon2id parameters hub secrets were hashed
// with before HashHubSecret; such hashes still verify.
var LegacyHubSecretParams = SecretParams{Time: 1, Memory: 256, Threads: 1}

const secretBytes = 32

// NewSecret returns a new random hub secret, URL-safe base64 (43 characters).
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (Go >= 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hubHashPrefix marks a hub secret's SHA-256 hash.
const hubHashPrefix = "$sha256$"

// HashHubSecret returns the hash stored for a hub secret made by NewSecret:
// $sha256$<base64 of SHA-256(secret)>.
//
// Why not a slow hash: stretching (argon2id, bcrypt) protects secrets that
// people choose, whose few bits an attacker with the hashes can search. A hub
// secret is 256 random bits made by the gateway, never by a person: with its
// hash an attacker still faces 2^256 guesses, so a fast hash is exactly as
// safe, as for API tokens. It matters for the service: argon2id capped a
// fresh gateway at ~2,500 first CONNECTs/s on two cores, so 300,000 hubs
// reconnecting after a restart spent two minutes in hashing alone
// (docs/performance.md); SHA-256 takes about a microsecond.
func HashHubSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hubHashPrefix + base64.RawStdEncoding.EncodeToString(sum[:])
}

// IsFastSecretHash reports whether hash is a HashHubSecret hash, which costs
// about a microsecond to verify (no worker pool or cache is needed).
func IsFastSecretHash(hash string) bool { return strings.HasPrefix(hash, hubHashPrefix) }

// HashSecret returns the argon2id hash of secret in PHC format:
// $argon2id$v=19$m=256,t=1,p=1$<salt>$<hash>.
func HashSecret(secret string, p SecretParams) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// ErrBadSecretHash reports a stored hash that is not in the expected format.
var ErrBadSecretHash = errors.New("devices: malformed secret hash")

// VerifySecret reports whether secret matches hash (HashHubSecret's SHA-256
// or HashSecret's argon2id), in constant time.
func VerifySecret(hash, secret string) (bool, error) {
	if IsFastSecretHash(hash) {
		want, err := base64.RawStdEncoding.DecodeString(hash[len(hubHashPrefix):])
		if err != nil || len(want) != sha256.Size {
			return false, ErrBadSecretHash
		}
		got := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(got[:], want) == 1, nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadSecretHash
	}
	var version int
	var p SecretParams
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadSecretHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Time == 0 || p.Threads == 0 || p.Memory > 1<<20 {
		return false, ErrBadSecretHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, ErrBadSecretHash
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
