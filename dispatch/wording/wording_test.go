package wording

import (
	"testing"
	"time"
)

// A reader never sees a raw error: the known ones by name, the rest as
// "전송 오류".
func TestErrorKey(t *testing.T) {
	for in, want := range map[string]string{
		"no-answer": "provider.no-answer",
		"broker: hub hub-1 is not subscribed to its commands":            "err.hub.notsubscribed",
		"Post \"https://119.example/cap\": dial tcp: connection refused": "err.unreachable",
		"twilio: 400 21211 invalid 'To' phone number SM0123":             "err.other",
	} {
		if got := ErrorKey(in); got != want || !Has(got) {
			t.Errorf("ErrorKey(%q) = %q (has words: %v), want %q", in, got, Has(got), want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		ko, en string
	}{
		{30 * time.Second, "30초", "30s"},
		{90 * time.Second, "1분 30초", "1m 30s"},
		{2*time.Hour + 5*time.Minute, "2시간 5분", "2h 05m"},
	} {
		if ko, en := Duration("ko", tc.d), Duration("en", tc.d); ko != tc.ko || en != tc.en {
			t.Errorf("Duration(%s) = %q / %q, want %q / %q", tc.d, ko, en, tc.ko, tc.en)
		}
	}
}

// Every key has both languages.
func TestEveryKeyHasBothLanguages(t *testing.T) {
	Each(func(key string, w [2]string) {
		if w[0] == "" || w[1] == "" {
			t.Errorf("%s: %q", key, w)
		}
	})
}
