package gateway

import (
	"testing"

	"github.com/dolbom/dolbom/dispatch/cap"
)

// 119's answer credential is its own, never the admin token (its rules, kept
// across restarts and at least 16 characters, are cap's:
// TestAnswerTokenKeptAcrossStarts).
func TestCAPAnswerTokenIsNotTheAdminToken(t *testing.T) {
	dir := t.TempDir()
	o := Options{DataDir: dir, AdminToken: "admin-token-0123456789abcdef"}
	a, err := cap.LoadOrCreateAnswerToken(o.DataDir, o.Channels.CAPAnswerToken)
	if err != nil || len(a) < 16 || a == o.AdminToken {
		t.Fatalf("LoadOrCreateAnswerToken = %q, %v", a, err)
	}
}
