package gateway

import (
	"testing"
)

// 119's answer credential is its own, kept across restarts, never the admin
// token.
func TestCAPAnswerTokenIsNotTheAdminToken(t *testing.T) {
	dir := t.TempDir()
	o := Options{DataDir: dir, AdminToken: "admin-token-0123456789abcdef"}
	a, err := capAnswerToken(o)
	if err != nil || len(a) < 16 || a == o.AdminToken {
		t.Fatalf("capAnswerToken = %q, %v", a, err)
	}
	b, _ := capAnswerToken(o)
	if a != b {
		t.Errorf("the generated answer token changed across starts: %q then %q", a, b)
	}
	o.Channels.CAPAnswerToken = "short"
	if _, err := capAnswerToken(o); err == nil {
		t.Error("a 5-character answer token was accepted")
	}
}
