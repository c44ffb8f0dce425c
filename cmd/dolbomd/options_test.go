package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptionsFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"DOLBOM_READINGS_RATE": "50", "DOLBOM_EVENTS_BURST": "400", "DOLBOM_CAP_URL": "http://a/cap, http://b/cap", "DOLBOM_TWILIO": "fake"}
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
	if !g.Channels.FakeTwilio {
		t.Error("DOLBOM_TWILIO=fake did not choose the fake Twilio")
	}
	for _, bad := range []map[string]string{
		{"DOLBOM_READINGS_RATE": "fast"},
		{"DOLBOM_SHUTDOWN_TIMEOUT": "20"},
		{"TWILIO_ACCOUNT_SID": "AC123"},
		{"DOLBOM_TWILIO": "fake", "DOLBOM_MAX_HUBS": "0"},
		{"DOLBOM_TWILIO": "fake", "DOLBOM_MAX_HUBS": "many"},
		{"DOLBOM_TWILIO": "fake", "DOLBOM_MEMORY_HIGH_WATER": "80%"},
	} {
		if _, err := parseOptions(nil, func(k string) string { return bad[k] }); err == nil {
			t.Errorf("environment %v accepted", bad)
		} else if !strings.Contains(err.Error(), "=") && !strings.Contains(err.Error(), "TWILIO") && !strings.Contains(err.Error(), "DOLBOM_MAX_HUBS") {
			t.Errorf("error %q does not name the variable", err)
		}
	}
}

// Twilio reaches the gateway only at its public URL: with a real account
// and no usable public URL the keypad and SMS acknowledgements never
// arrive, so dolbomd refuses to start. Without an account the fake Twilio
// stands in only when chosen (--twilio=fake, or --demo).
func TestTwilioNeedsAPublicURLOrAnExplicitFake(t *testing.T) {
	account := map[string]string{"TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", "DOLBOM_TWILIO_FROM": "+821012345678"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range account {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // "" = accepted; else a part of the error
	}{
		{"account without public URL", nil, account, "DOLBOM_PUBLIC_URL"},
		{"account, public URL is the wildcard listen address", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "http://[::]:8080"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL 0.0.0.0", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "http://0.0.0.0:8080"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL on loopback", []string{"--public-url", "https://127.0.0.1:8443"}, account, "DOLBOM_PUBLIC_URL"},
		{"account, public URL localhost", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "http://localhost:8080"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL on a private address", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "http://192.168.0.10:8080"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL not absolute", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "gw.dolbom.example.kr"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL not http", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "ftp://gw.dolbom.example.kr"}), "DOLBOM_PUBLIC_URL"},
		{"account, public URL with a query", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "https://gw.dolbom.example.kr/?a=1"}), "DOLBOM_PUBLIC_URL"},
		{"account without a from number", nil, map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t",
			"DOLBOM_PUBLIC_URL": "https://gw.dolbom.example.kr"}, "DOLBOM_TWILIO_FROM"},
		{"account and the fake at once", []string{"--twilio", "fake"}, with(map[string]string{"DOLBOM_PUBLIC_URL": "https://gw.dolbom.example.kr"}), "fake"},
		{"account with a public URL", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "https://gw.dolbom.example.kr"}), ""},
		{"account with a public IP URL", nil, with(map[string]string{"DOLBOM_PUBLIC_URL": "https://203.0.113.7:8443/"}), ""},
		// A test server standing in for Twilio (DOLBOM_TWILIO_API_URL) may
		// call back on this machine.
		{"account on a stand-in API, loopback public URL", nil, with(map[string]string{
			"DOLBOM_PUBLIC_URL": "http://127.0.0.1:8080", "DOLBOM_TWILIO_API_URL": "http://127.0.0.1:9000"}), ""},
		{"no account, no choice", nil, map[string]string{}, "DOLBOM_TWILIO=fake"},
		{"no account, --twilio real", []string{"--twilio", "real"}, map[string]string{}, "TWILIO_ACCOUNT_SID"},
		{"no account, --twilio fake", []string{"--twilio", "fake"}, map[string]string{}, ""},
		{"no account, DOLBOM_TWILIO=fake", nil, map[string]string{"DOLBOM_TWILIO": "fake"}, ""},
		{"no account, --demo", []string{"--demo"}, map[string]string{}, ""},
		{"an unknown mode", nil, map[string]string{"DOLBOM_TWILIO": "maybe"}, "DOLBOM_TWILIO"},
		{"fake, public URL not absolute", []string{"--twilio", "fake", "--public-url", "localhost:8080"}, map[string]string{}, "DOLBOM_PUBLIC_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(tc.args, func(k string) string { return tc.env[k] })
			if err == nil {
				// What was accepted is what the gateway is given.
				fake := tc.env["TWILIO_ACCOUNT_SID"] == ""
				if g := o.gateway(); g.Channels.FakeTwilio != fake || (fake && g.Channels.TwilioAccountSID != "") {
					t.Errorf("gateway options: fake Twilio %v, account %q", g.Channels.FakeTwilio, g.Channels.TwilioAccountSID)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted; want an error naming %s", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// A container's secrets are files: NAME_FILE names the file holding the
// secret NAME (its trailing line break removed).
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := strings.Repeat("0f", 32)
	env := map[string]string{
		"DOLBOM_TWILIO":                 "fake",
		"DOLBOM_SECRET_KEY_FILE":        file("key", key+"\n"),
		"DOLBOM_ADMIN_TOKEN_FILE":       file("admin", "admin-token-0123456789abcdef\n"),
		"DOLBOM_CAP_ANSWER_TOKEN_FILE":  file("cap", "cap-answer-token-0123456789\r\n"),
		"DOLBOM_DATABASE_URL":           "postgres://dolbom@db.internal:5432/dolbom?sslmode=verify-full&sslrootcert=/run/secrets/ca",
		"DOLBOM_DATABASE_PASSWORD_FILE": file("pg", "p@ss:w/rd?#\n"),
	}
	o, err := parseOptions(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.SecretKey != key || o.AdminToken != "admin-token-0123456789abcdef" || o.CAPAnswerToken != "cap-answer-token-0123456789" {
		t.Errorf("secrets from files: key %q admin %q cap %q", o.SecretKey, o.AdminToken, o.CAPAnswerToken)
	}
	u, err := url.Parse(o.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != "p@ss:w/rd?#" || u.User.Username() != "dolbom" || u.Query().Get("sslmode") != "verify-full" {
		t.Errorf("database URL %q: password %q", o.DatabaseURL, pw)
	}

	for name, bad := range map[string]map[string]string{
		"both":          {"DOLBOM_SECRET_KEY": key, "DOLBOM_SECRET_KEY_FILE": env["DOLBOM_SECRET_KEY_FILE"]},
		"missing file":  {"DOLBOM_ADMIN_TOKEN_FILE": filepath.Join(dir, "nothing")},
		"empty file":    {"DOLBOM_SECRET_KEY_FILE": file("empty", "\n")},
		"two passwords": {"DOLBOM_DATABASE_URL": "postgres://u:pw@db/x", "DOLBOM_DATABASE_PASSWORD_FILE": env["DOLBOM_DATABASE_PASSWORD_FILE"]},
		"no database":   {"DOLBOM_DATABASE_PASSWORD_FILE": env["DOLBOM_DATABASE_PASSWORD_FILE"]},
	} {
		bad["DOLBOM_TWILIO"] = "fake"
		_, err := parseOptions(nil, func(k string) string { return bad[k] })
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), key) {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

func TestTrustedProxiesOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string // the prefixes, or a part of the error
	}{
		{"none", "", nil, "[]"},
		{"environment", "10.0.0.0/8, 192.168.1.7", nil, "[10.0.0.0/8 192.168.1.7/32]"},
		{"the flag wins", "10.0.0.0/8", []string{"--trusted-proxies", "fd00::/8"}, "[fd00::/8]"},
		{"not an address", "proxy.example", nil, `DOLBOM_TRUSTED_PROXIES: console: trusted proxies: "proxy.example": want an address or a CIDR prefix`},
		{"everyone", "0.0.0.0/0", nil, `"0.0.0.0/0" trusts every address`},
	} {
		env := map[string]string{"DOLBOM_TRUSTED_PROXIES": tc.env, "DOLBOM_TWILIO": "fake"}
		o, err := parseOptions(tc.args, func(k string) string { return env[k] })
		got := fmt.Sprint(o.gateway().TrustedProxies)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMaxHubsOption(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", "auto"},
		{nil, "250000", "250000"},
		{[]string{"--max-hubs", "unlimited"}, "250000", "unlimited"},
	} {
		env := map[string]string{"DOLBOM_TWILIO": "fake", "DOLBOM_MAX_HUBS": tc.env}
		o, err := parseOptions(tc.args, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%v %q: %v", tc.args, tc.env, err)
		}
		if o.MaxHubs != tc.want {
			t.Errorf("%v DOLBOM_MAX_HUBS=%q: max hubs %q, want %q", tc.args, tc.env, o.MaxHubs, tc.want)
		}
	}
}

func TestMemoryHighWaterOption(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want float64 // in broker.Config
		bad  bool
	}{
		{nil, "", 0.8, false},
		{nil, "0.9", 0.9, false},
		{[]string{"--memory-high-water", "0"}, "", -1, false}, // no guard
		{[]string{"--memory-high-water", "1.5"}, "", 0, true},
	} {
		env := map[string]string{"DOLBOM_TWILIO": "fake", "DOLBOM_MEMORY_HIGH_WATER": tc.env}
		o, err := parseOptions(tc.args, func(k string) string { return env[k] })
		if (err != nil) != tc.bad {
			t.Fatalf("%v %q: error %v", tc.args, tc.env, err)
		}
		if tc.bad {
			continue
		}
		if got := o.gateway().Broker.MemoryHighWater; got != tc.want {
			t.Errorf("%v DOLBOM_MEMORY_HIGH_WATER=%q: broker high water %g, want %g", tc.args, tc.env, got, tc.want)
		}
	}
}

func TestBusyWaitOption(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want time.Duration // in broker.Config
		bad  bool
	}{
		{nil, "", time.Second, false}, // on by default: the hubs a node served are let in after its restart
		{nil, "1s", time.Second, false},
		{nil, "250ms", 250 * time.Millisecond, false},
		{[]string{"--busy-wait", "0"}, "", 0, false}, // no guard
		{[]string{"--busy-wait", "-1s"}, "", 0, true},
		{nil, "soon", 0, true},
	} {
		env := map[string]string{"DOLBOM_TWILIO": "fake", "DOLBOM_BUSY_WAIT": tc.env}
		o, err := parseOptions(tc.args, func(k string) string { return env[k] })
		if (err != nil) != tc.bad {
			t.Fatalf("%v %q: error %v", tc.args, tc.env, err)
		}
		if tc.bad {
			continue
		}
		if got := o.gateway().Broker.BusyWait; got != tc.want {
			t.Errorf("%v DOLBOM_BUSY_WAIT=%q: broker busy wait %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}
