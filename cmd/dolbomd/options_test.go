package main

import (
	"strings"
	"testing"
)

func TestOptionsFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"DOLBOM_READINGS_RATE": "50", "DOLBOM_EVENTS_BURST": "400", "DOLBOM_CAP_URL": "http://a/cap, http://b/cap"}
	o, err := parseOptions([]string{"--readings-burst", "1000"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway()
	if g.Broker.ReadingsRate != 50 || g.Broker.ReadingsBurst != 1000 || g.Broker.EventsBurst != 400 {
		t.Errorf("broker limits %+v", g.Broker)
	}
	if len(g.Channels.CAPURLs) != 2 || g.Channels.CAPURLs[1] != "http://b/cap" {
		t.Errorf("CAP URLs %q", g.Channels.CAPURLs)
	}
	for _, bad := range []map[string]string{
		{"DOLBOM_READINGS_RATE": "fast"},
		{"DOLBOM_SHUTDOWN_TIMEOUT": "20"},
		{"TWILIO_ACCOUNT_SID": "AC123"},
	} {
		if _, err := parseOptions(nil, func(k string) string { return bad[k] }); err == nil {
			t.Errorf("environment %v accepted", bad)
		} else if !strings.Contains(err.Error(), "=") && !strings.Contains(err.Error(), "TWILIO") {
			t.Errorf("error %q does not name the variable", err)
		}
	}
}
