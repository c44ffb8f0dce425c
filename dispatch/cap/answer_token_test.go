package cap_test

import (
	"os"
	"testing"

	"github.com/dolbom/dolbom/dispatch/cap"
)

// 119's answer credential is made once and kept across restarts, in a file
// for the gateway's user alone; a configured one shorter than 16
// characters is refused. (Moved from the gateway's
// TestCAPAnswerTokenIsNotTheAdminToken, which keeps the "not the admin
// token" half.)
func TestAnswerTokenKeptAcrossStarts(t *testing.T) {
	dir := t.TempDir()
	a, err := cap.LoadOrCreateAnswerToken(dir, "")
	if err != nil || len(a) < 16 {
		t.Fatalf("LoadOrCreateAnswerToken = %q, %v", a, err)
	}
	b, _ := cap.LoadOrCreateAnswerToken(dir, "")
	if a != b {
		t.Errorf("the generated answer token changed across starts: %q then %q", a, b)
	}
	if fi, err := os.Stat(cap.AnswerTokenFile(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v; want mode 0600", fi, err)
	}
	if got, err := cap.LoadOrCreateAnswerToken(dir, "configured-token-0123"); err != nil || got != "configured-token-0123" {
		t.Errorf("configured token: %q, %v", got, err)
	}
	if _, err := cap.LoadOrCreateAnswerToken(dir, "short"); err == nil {
		t.Error("a 5-character answer token was accepted")
	}
}
