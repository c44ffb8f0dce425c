package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Setting is one value every gateway of a database must share, as a
// digest (SecretDigest for secrets, the value itself otherwise).
type Setting struct {
	Name   string
	Digest string
}

// settingsCheckLabel is the message whose HMAC under the secret key is the
// key's check value: it shows that two nodes have the same key without
// revealing it.
const settingsCheckLabel = "dolbom/settings-check/v1"

// KeyCheckValue is the digest of the secret key itself.
func KeyCheckValue(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(settingsCheckLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// SecretDigest is the digest of a secret setting (a token), keyed by the
// secret key so that the table never holds something a token can be
// guessed from offline. The name is part of the message: two settings
// with the same value have different digests.
func SecretDigest(key []byte, name, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(settingsCheckLabel))
	m.Write([]byte{0})
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// SettingMismatchError is a setting whose digest differs from the one the
// gateways of the database recorded: the node must not start.
type SettingMismatchError struct {
	Name  string
	SetBy string    // the node that recorded it first
	SetAt time.Time // database clock
}

func (e *SettingMismatchError) Error() string {
	return fmt.Sprintf("cluster: setting %s differs from the gateways of this database (set by %s at %s): "+
		"give every gateway the same value, or reset it after changing all of them",
		e.Name, e.SetBy, e.SetAt.UTC().Format(time.RFC3339))
}
