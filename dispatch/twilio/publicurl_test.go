package twilio_test

import (
	"testing"

	"github.com/dolbom/dolbom/dispatch/twilio"
)

func TestCheckPublicURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		fromInternet bool
		ok           bool
	}{
		{"https://gw.dolbom.example.kr", true, true},
		{"https://gw.dolbom.example.kr:8443/dolbom/", true, true},
		{"http://203.0.113.7:8080", true, true},
		{"https://[2001:db8::1]/", true, true},
		{"http://[::]:8080", true, false},
		{"http://0.0.0.0:8080", true, false},
		{"http://127.0.0.1:8080", true, false},
		{"http://[::1]:8080", true, false},
		{"http://localhost:8080", true, false},
		{"http://api.localhost", true, false},
		{"http://192.168.0.10:8080", true, false},
		{"http://10.1.2.3", true, false},
		{"http://[fe80::1]:8080", true, false},
		// A stand-in for Twilio on this machine may call back here.
		{"http://127.0.0.1:8080", false, true},
		{"http://[::]:8080", false, true},
		// Never a usable base, whoever calls.
		{"", false, false},
		{"gw.dolbom.example.kr", false, false},
		{"//gw.dolbom.example.kr", false, false},
		{"ftp://gw.dolbom.example.kr", false, false},
		{"https://", false, false},
		{"https://user:pw@gw.dolbom.example.kr", false, false},
		{"https://gw.dolbom.example.kr/?a=1", false, false},
		{"https://gw.dolbom.example.kr/#x", false, false},
	} {
		err := twilio.CheckPublicURL(tc.url, tc.fromInternet)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPublicURL(%q, fromInternet %v) = %v, want ok %v", tc.url, tc.fromInternet, err, tc.ok)
		}
	}
	// The real API (no APIURL) refuses a public URL Twilio cannot reach.
	if _, err := twilio.New(twilio.Config{AccountSID: "AC1", AuthToken: "t", From: "+821000000000",
		PublicBaseURL: "http://[::]:8080/twilio"}); err == nil {
		t.Error("twilio.New accepted the wildcard listen address as the public URL of the real API")
	}
}
