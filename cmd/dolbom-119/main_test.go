package main

import (
	"testing"
	"time"
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
