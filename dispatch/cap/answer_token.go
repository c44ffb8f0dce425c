package cap

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// 119's answers (Answers) carry a credential of their own, never the admin
// token, which also unlocks residents' records and door codes. Without a
// configured one it is made at the first start and kept in the data folder.

// minAnswerToken is the shortest answer token accepted.
const minAnswerToken = 16

// AnswerTokenFile returns where the generated answer token is kept.
func AnswerTokenFile(dataDir string) string { return filepath.Join(dataDir, "cap-answer-token") }

// LoadOrCreateAnswerToken returns the bearer token of 119's answers:
// configured (DOLBOM_CAP_ANSWER_TOKEN) when set; otherwise the one kept in
// dataDir; otherwise a new random one, written there with mode 0600.
func LoadOrCreateAnswerToken(dataDir, configured string) (string, error) {
	if configured != "" {
		if len(configured) < minAnswerToken {
			return "", fmt.Errorf("cap: the 119 answer token must be at least %d characters", minAnswerToken)
		}
		return configured, nil
	}
	path := AnswerTokenFile(dataDir)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= minAnswerToken {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails on Linux (Go >= 1.24)
	t := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cap: 119 answer token: %w", err)
	}
	return t, nil
}
