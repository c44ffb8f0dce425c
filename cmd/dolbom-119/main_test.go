package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestParse(t *testing.T) {
	env := map[string]string{"DOLBOM_119_ANSWER_URL": "http://gw/119/answers"}
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(options) bool
	}{
		{"defaults", nil, false, func(o options) bool {
			return o.listen == "127.0.0.1:8119" && o.autoAccept == 500*time.Millisecond && o.answerURL == "http://gw/119/answers"
		}},
		{"outage", []string{"--down-for", "10m"}, false, func(o options) bool { return o.downFor == 10*time.Minute }},
		{"no listener", []string{"--listen", ""}, true, nil},
		{"bad flag", []string{"--nope"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, func(k string) string { return env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil && !tt.check(o) {
				t.Fatalf("options = %+v", o)
			}
		})
	}
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestWithoutSchemaChecksStructure is `make run` in a clone alone: no
// ../shared/spec/CAP-v1.2.xsd. The mock says so at start, and still
// refuses a CAP message that lacks what CAP requires.
func TestWithoutSchemaChecksStructure(t *testing.T) {
	o, err := parse([]string{"--listen", "127.0.0.1:0", "--xsd", filepath.Join(t.TempDir(), "CAP-v1.2.xsd"), "--auto-accept", "0"},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, zerolog.New(&logs)) }()
	defer func() { cancel(); <-done }()

	var base string
	for base == "" {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		if m := regexp.MustCompile(`"url":"(http://[^"]+)/cap"`).FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "CAP schema not found: checking structure only") {
		t.Errorf("no statement at start that the schema is missing:\n%s", logs.String())
	}
	good, err := os.ReadFile("../../dispatch/cap/testdata/alert_fall.xml")
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) int {
		resp, err := http.Post(base+"/cap", "application/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	noSender := regexp.MustCompile(`<sender>[^<]*</sender>`).ReplaceAllString(string(good), "")
	if status := post(noSender); status != http.StatusBadRequest {
		t.Errorf("CAP without <sender>: %d, want 400", status)
	}
	if !strings.Contains(logs.String(), "alert/sender is missing") {
		t.Errorf("the refusal does not say what is missing:\n%s", logs.String())
	}
	if status := post(string(good)); status != http.StatusCreated {
		t.Fatalf("valid CAP: %d, want 201", status)
	}
	resp, err := http.Get(base + "/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct{ Checked string }
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil || len(alerts) != 1 || alerts[0].Checked != "structure" {
		t.Errorf("alerts %+v (%v): want one, checked by structure", alerts, err)
	}
}

func TestSchemaCheckSaysWhy(t *testing.T) {
	xsd := filepath.Join(t.TempDir(), "cap.xsd")
	os.WriteFile(xsd, []byte("<schema/>"), 0o600)
	noLint := func(string) (string, error) { return "", errors.New("not found") }
	lint := func(string) (string, error) { return "/usr/bin/xmllint", nil }
	for _, tc := range []struct {
		xsd  string
		look func(string) (string, error)
		want string
		say  string
	}{
		{"", lint, "", "CAP schema not given: checking structure only"},
		{xsd + ".missing", lint, "", "CAP schema not found: checking structure only"},
		{xsd, noLint, "", "xmllint not found"},
		{xsd, lint, xsd, "validating CAP against the schema"},
	} {
		var logs bytes.Buffer
		if got := schemaCheck(tc.xsd, tc.look, zerolog.New(&logs)); got != tc.want || !strings.Contains(logs.String(), tc.say) {
			t.Errorf("schemaCheck(%q) = %q, log %s; want %q saying %q", tc.xsd, got, logs.String(), tc.want, tc.say)
		}
	}
}
