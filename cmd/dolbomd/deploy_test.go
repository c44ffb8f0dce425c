package main

// Tests of the deployment files in deploy/ against what dolbomd does with
// them: the compose file ships the secure set-up (TLS only, no published
// plain ports, secrets from files) and its environment is one dolbomd
// accepts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// composeFile is the part of a compose file these tests read.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Secrets  map[string]struct {
		File        string `json:"file"`
		Environment string `json:"environment"`
	} `json:"secrets"`
}

type composeService struct {
	Image       string          `json:"image"`
	Environment json.RawMessage `json:"environment"` // a map or a list of NAME=value
	Ports       []any           `json:"ports"`       // "host_ip:published:target" or {target, published, host_ip}
	Secrets     []any           `json:"secrets"`     // "name" or {source, target}
	Entrypoint  any             `json:"entrypoint"`
	Command     any             `json:"command"`
}

// env returns the service's environment as a map.
func (s composeService) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	if len(s.Environment) == 0 {
		return env
	}
	var m map[string]any
	if err := json.Unmarshal(s.Environment, &m); err == nil {
		for k, v := range m {
			if v != nil {
				env[k] = fmt.Sprint(v)
			}
		}
		return env
	}
	var list []string
	if err := json.Unmarshal(s.Environment, &list); err != nil {
		t.Fatalf("environment is neither a map nor a list: %s", s.Environment)
	}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// secretPaths maps the paths the service sees its secrets at to their names.
func (s composeService) secretPaths(t *testing.T) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, sec := range s.Secrets {
		switch v := sec.(type) {
		case string:
			paths["/run/secrets/"+v] = v
		case map[string]any:
			source, _ := v["source"].(string)
			target, _ := v["target"].(string)
			if target == "" {
				target = source
			}
			if !strings.HasPrefix(target, "/") {
				target = "/run/secrets/" + target
			}
			paths[target] = source
		default:
			t.Fatalf("secret %v: unknown form", sec)
		}
	}
	return paths
}

type publishedPort struct{ hostIP, published, target string }

func (s composeService) published(t *testing.T) []publishedPort {
	t.Helper()
	var out []publishedPort
	for _, p := range s.Ports {
		switch v := p.(type) {
		case string:
			parts := strings.Split(strings.TrimSuffix(strings.TrimSuffix(v, "/tcp"), "/udp"), ":")
			switch len(parts) {
			case 1:
				out = append(out, publishedPort{"", "(random)", parts[0]})
			case 2:
				out = append(out, publishedPort{"", parts[0], parts[1]})
			default:
				out = append(out, publishedPort{strings.Trim(strings.Join(parts[:len(parts)-2], ":"), "[]"), parts[len(parts)-2], parts[len(parts)-1]})
			}
		case float64:
			out = append(out, publishedPort{"", "(random)", fmt.Sprint(v)})
		case map[string]any:
			out = append(out, publishedPort{fmt.Sprint(v["host_ip"]), fmt.Sprint(v["published"]), fmt.Sprint(v["target"])})
		default:
			t.Fatalf("port %v: unknown form", p)
		}
	}
	return out
}

// loadCompose parses deploy/compose.yaml with PyYAML (go.mod has no YAML
// module, and the test adds none).
func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	return loadComposeFile(t, "../../deploy/compose.yaml")
}

func loadComposeFile(t *testing.T, path string) (composeFile, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var python string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import yaml").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		if os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatal("python3 with PyYAML not found (make test installs python3-yaml)")
		}
		t.Skip("python3 with PyYAML not found: apt-get install python3-yaml (make test does)")
	}
	cmd := exec.Command(python, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v\n%s", path, err, stderr.String())
	}
	var c composeFile
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	return c, string(raw)
}

// interpolation is compose's ${NAME}, ${NAME:-default}, ${NAME:?message}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}`)

// TestComposeIsSecureByDefault reads deploy/compose.yaml as an operator
// would run it: only MQTT over TLS is published, HTTP on loopback at most,
// no plain or weak PostgreSQL, and every secret from a file.
func TestComposeIsSecureByDefault(t *testing.T) {
	c, raw := loadCompose(t)
	checkComposeSecure(t, c, raw)
	checkComposePostgres(t, c)

	gw, ok := c.Services["dolbomd"]
	if !ok {
		t.Fatal("no dolbomd service")
	}
	checkGatewaySecure(t, "dolbomd", gw)
}

// checkComposeSecure: only MQTT over TLS is published beyond this machine,
// and every secret comes from a file.
func checkComposeSecure(t *testing.T, c composeFile, raw string) {
	t.Helper()
	if strings.Contains(raw, "sslmode=disable") {
		t.Error("sslmode=disable in the compose file")
	}
	for name, s := range c.Services {
		for _, p := range s.published(t) {
			loopback := p.hostIP == "localhost" || net.ParseIP(p.hostIP) != nil && net.ParseIP(p.hostIP).IsLoopback()
			if p.target != "8883" && !loopback {
				t.Errorf("service %s publishes port %s (to %s) on %q: only MQTT over TLS (8883) may be published beyond this machine",
					name, p.target, p.published, p.hostIP)
			}
		}
		secrets := s.secretPaths(t)
		for k, v := range s.env(t) {
			if strings.HasSuffix(k, "_FILE") {
				if secret, ok := secrets[v]; !ok || c.Secrets[secret].File == "" {
					t.Errorf("service %s: %s=%s is not one of its secrets from a file", name, k, v)
				}
			}
			for _, m := range interpolation.FindAllStringSubmatch(v, -1) {
				if secretName(m[1]) {
					t.Errorf("service %s: %s takes the secret %s from the environment: use a secret file", name, k, m[1])
				}
			}
		}
	}
}

// checkComposePostgres: PostgreSQL with a password from a file and TLS on.
func checkComposePostgres(t *testing.T, c composeFile) {
	t.Helper()
	pg, ok := c.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	pgEnv := pg.env(t)
	if v, ok := pgEnv["POSTGRES_PASSWORD"]; ok {
		t.Errorf("POSTGRES_PASSWORD=%q: the password must come from a secret file (POSTGRES_PASSWORD_FILE)", v)
	}
	if pgEnv["POSTGRES_PASSWORD_FILE"] == "" {
		t.Error("no POSTGRES_PASSWORD_FILE")
	}
	if m := pgEnv["POSTGRES_HOST_AUTH_METHOD"]; m == "trust" || m == "password" || m == "md5" {
		t.Errorf("POSTGRES_HOST_AUTH_METHOD=%s", m)
	}
	if start := fmt.Sprint(pg.Entrypoint, pg.Command); !strings.Contains(start, "ssl=on") {
		t.Errorf("PostgreSQL is not started with ssl=on: %s", start)
	}
}

// checkGatewaySecure: a gateway reaches PostgreSQL over checked TLS with
// its password and key from files, and speaks MQTT over TLS only.
func checkGatewaySecure(t *testing.T, name string, gw composeService) {
	t.Helper()
	env := gw.env(t)
	u, err := url.Parse(env["DOLBOM_DATABASE_URL"])
	if err != nil || u.Host == "" {
		t.Fatalf("DOLBOM_DATABASE_URL %q: %v", env["DOLBOM_DATABASE_URL"], err)
	}
	if _, has := u.User.Password(); has {
		t.Errorf("DOLBOM_DATABASE_URL carries a password: it must come from a secret file")
	}
	switch mode := u.Query().Get("sslmode"); mode {
	case "verify-full":
		if u.Query().Get("sslrootcert") == "" {
			t.Error("sslmode=verify-full without sslrootcert")
		}
	case "require":
	default:
		t.Errorf("DOLBOM_DATABASE_URL sslmode=%q: want verify-full (or require)", mode)
	}
	for _, v := range []string{"DOLBOM_SECRET_KEY_FILE", "DOLBOM_DATABASE_PASSWORD_FILE", "DOLBOM_TLS_CERT", "DOLBOM_TLS_KEY"} {
		if env[v] == "" {
			t.Errorf("%s: no %s", name, v)
		}
	}
	if env["DOLBOM_MQTT_ADDR"] != "off" {
		t.Errorf("%s: DOLBOM_MQTT_ADDR=%q: plain MQTT must be off (TLS only)", name, env["DOLBOM_MQTT_ADDR"])
	}
}

// secretName reports whether an environment variable holds a secret.
func secretName(name string) bool {
	for _, s := range []string{"PASSWORD", "SECRET", "TOKEN", "KEY"} {
		if strings.Contains(name, s) && !strings.HasSuffix(name, "_FILE") {
			return true
		}
	}
	return false
}

// TestComposeEnvironmentIsAccepted gives dolbomd's option parsing the
// compose file's environment, with every secret file in place, and checks
// that the options are the secure ones.
func TestComposeEnvironmentIsAccepted(t *testing.T) {
	c, _ := loadCompose(t)
	o := composeGatewayOptions(t, c.Services["dolbomd"])
	if o.SecretKey != strings.Repeat("ab", 32) {
		t.Errorf("secret key %q: not the secret file's", o.SecretKey)
	}
	u, err := url.Parse(o.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); !strings.HasPrefix(pw, "secret-of-") {
		t.Errorf("database password %q: not the secret file's", pw)
	}
	if o.MQTTAddr != "off" || o.CertFile == "" || o.KeyFile == "" {
		t.Errorf("MQTT: plain %q, TLS cert %q key %q: want TLS only", o.MQTTAddr, o.CertFile, o.KeyFile)
	}
	if o.AdminToken == "" {
		t.Error("no admin token from its secret file")
	}
}

// composeGatewayOptions parses a gateway service's environment as dolbomd
// does, with each of its secret files in place (the secret key 64 hex
// digits "ab...", the others "secret-of-NAME-..."; no Twilio account).
func composeGatewayOptions(t *testing.T, gw composeService) Options {
	t.Helper()
	dir := t.TempDir()
	content := map[string]string{}
	for path, name := range gw.secretPaths(t) {
		v := "secret-of-" + name + "-0123456789abcdef"
		switch {
		case strings.Contains(name, "secret_key"):
			v = strings.Repeat("ab", 32)
		case strings.Contains(name, "twilio"):
			v = "" // no Twilio account: DOLBOM_TWILIO=fake below
		}
		local := filepath.Join(dir, name)
		if err := os.WriteFile(local, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		content[path] = local
	}
	env := map[string]string{}
	for k, v := range gw.env(t) {
		if local, ok := content[v]; ok {
			v = local
		}
		// Interpolated from the operator's environment: empty here.
		env[k] = interpolation.ReplaceAllString(v, "")
		env[k] = strings.ReplaceAll(env[k], "/run/secrets/", dir+"/")
	}
	env["DOLBOM_TWILIO"] = "fake"
	o, err := parseOptions(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("dolbomd refuses the compose environment: %v", err)
	}
	return o
}

// TestContainerDataFolderIsPrivate reads deploy/Containerfile: the image's
// data folder (residents' records, keys, tokens) is made 0700 for the
// unprivileged user, and copied as a child so that its mode travels (COPY
// copies a folder's contents, not the folder).
func TestContainerDataFolderIsPrivate(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	made := regexp.MustCompile(`(?m)^RUN .*install -d -m 0?700 -o 65532 -g 65532 (\S*)/var/lib/dolbom\b`).FindStringSubmatch(text)
	if made == nil {
		t.Fatalf("the Containerfile does not make the data folder 0700 for uid 65532:\n%s", raw)
	}
	copied := regexp.MustCompile(`(?m)^COPY --from=build .*` + regexp.QuoteMeta(made[1]) + `/var/lib/? /var/lib/?$`).MatchString(text)
	if !copied {
		t.Errorf("the data folder made in %s is not copied as a child of /var/lib/ (its mode would be lost)", made[1])
	}
	if regexp.MustCompile(`(?m)^COPY .* /var/lib/dolbom/?$`).MatchString(text) {
		t.Error("a COPY into /var/lib/dolbom itself: COPY makes the destination folder 0755")
	}
	if !strings.Contains(text, "ENV DOLBOM_DATA_DIR=/var/lib/dolbom") {
		t.Error("the image's data folder is not DOLBOM_DATA_DIR")
	}
}
