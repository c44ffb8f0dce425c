package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cleanEnv is this process's environment without any DOLBOM_* or TWILIO_*
// variable, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOLBOM_") && !strings.HasPrefix(kv, "TWILIO_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestRefusesToStartWithoutAUsableTwilioSetup runs the dolbomd binary as an
// operator would: a real Twilio account without a public URL Twilio can
// reach, or no account and no explicit choice of the fake, stops it at
// once with a message saying what to set.
func TestRefusesToStartWithoutAUsableTwilioSetup(t *testing.T) {
	account := []string{"TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef", "DOLBOM_TWILIO_FROM=+821012345678"}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"account without public URL", account, "DOLBOM_PUBLIC_URL"},
		{"account calling back on the listen address", append(account, "DOLBOM_PUBLIC_URL=http://[::]:8080"), "DOLBOM_PUBLIC_URL"},
		{"no account, no choice", nil, "DOLBOM_TWILIO=fake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "dolbomd"), "--data-dir", t.TempDir(),
				"--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--mqtt-tls-addr", "off",
				"--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--log-format", "json")
			cmd.Env = cleanEnv(tc.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Errorf("exit %v, want status 2 (a configuration error)\n%s", err, out.String())
				}
				if !strings.Contains(out.String(), tc.want) {
					t.Errorf("the message does not name %s:\n%s", tc.want, out.String())
				}
			case <-time.After(2 * time.Minute): // it refuses at once; a busy machine only delays that
				cmd.Process.Kill()
				<-done
				t.Fatalf("dolbomd started (still running after 2 min):\n%s", out.String())
			}
		})
	}
}
