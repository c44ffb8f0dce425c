package devices

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// HubID names one home's hub. It is also the hub's MQTT client id and user
// name, and a segment of every topic the hub uses.
type HubID string

// SensorID names a sensor within its hub ("kitchen-smoke", "wearable-1").
// It is unique per hub, not globally.
type SensorID string

// EventID is assigned by the hub to every event it sends. The pair
// (HubID, EventID) identifies an event for ever: a redelivered or
// store-and-forwarded copy carries the same id and is stored once.
type EventID string

// ResidentID names a resident in the registry.
type ResidentID string

// CommandID names a command sent by the gateway to a hub; the hub echoes it in
// its acknowledgement.
type CommandID string

// MaxIDLen bounds every identifier on the wire.
const MaxIDLen = 64

// ValidateHubID reports whether id can be a hub id: 3 to 64 characters of
// lower-case letters, digits, '-' and '_', starting with a letter or digit.
// The narrow alphabet keeps hub ids safe as MQTT topic segments (no '/', '+',
// '#') and as client ids for every broker.
func ValidateHubID(id string) error {
	if len(id) < 3 || len(id) > MaxIDLen {
		return fmt.Errorf("hub id %q: length %d outside 3-%d", truncate(id), len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return fmt.Errorf("hub id %q: character %q at %d not allowed (a-z, 0-9, '-', '_')", truncate(id), c, i)
		}
	}
	return nil
}

// ValidToken reports whether s can be a sensor, event or command id: 1 to 64
// printable ASCII characters from [A-Za-z0-9._:-].
func ValidToken(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// truncate keeps error messages short when an attacker sends a huge value,
// and bounds the short strings the gateway keeps (firmware, model, ack detail).
func truncate(s string) string { return truncateTo(s, 40) }

// cleanText makes a hub's free text (firmware version, model, an ack's
// detail) safe to store and show: control characters, NUL among them (which
// PostgreSQL text refuses), are dropped, and the length is bounded.
func cleanText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, s)
	}
	return truncate(s)
}

// truncateTo cuts s to at most max bytes, "..." included, on a character
// boundary: the result stays valid UTF-8 (PostgreSQL refuses anything else)
// and cutting it again changes nothing, so a re-encoded message decodes the same.
func truncateTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
