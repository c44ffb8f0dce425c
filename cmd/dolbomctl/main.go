// Command dolbomctl administers a Dolbom gateway through its admin API
// (docs/api.md): residents, hubs, sensors and CSV imports. It prints the
// gateway's JSON answers, indented, and exits non-zero with the gateway's
// error message when a request is refused.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dolbom/dolbom/console/api"
)

const usageText = `usage: dolbomctl [global flags] <command> [flags]

Commands:
  resident add --name N [--phone P] [--address A] [--floor F] [--unit U]
               [--lat X --lon Y] [--birth-date YYYY-MM-DD]
               [--guardian "name:phone[:relation[:language]]"]... [more: -h]
  resident list [--q TEXT] [--social-worker ID] [--include-disabled] [--limit N] [--after ID] [--all]
  resident get ID [--reveal-access]
  resident update ID [the flags of add]
  resident disable|enable ID
  hub add --resident ID [--id HUB] [--firmware V] [--model M] [--installed-at DATE]
  hub list [--resident ID] [--include-disabled] [--limit N] [--after ID] [--all]
  hub events ID
  hub get|disable|enable|rotate-secret|health ID
  hub update ID [--resident ID] [--firmware V] [--model M] [--installed-at T] [--end-of-life T]
  sensor add --hub H --id S --kind K --location L [--interval 300s]
  sensor list --hub H
  sensor get|disable|enable --hub H S
  sensor update --hub H S [--kind K] [--location L] [--interval D]
  region list                            the 시도 and 시군구 with their codes
  region route list                      each 시도's 119 route and where it comes from
  region route set SIDO --endpoint URL [--endpoint URL2] [--token-file F]
  region route delete SIDO               (SIDO: code or name, e.g. 11 or 서울); refused while residents or open incidents depend on it
  account list                           the console's accounts and their regions
  account regions ID --region R [--region R2] | --national   (R: 시도 or 시군구, code or name)
  account token ID                       a new API token of the account (shown once; sees its regions)
  account revoke ID                      ends every API token of the account
  workorder list [--status open|closed] [--resident ID] [--hub ID]
  workorder close ID --by WHO --replaced WHAT
  technician set ID --phone P --region R [--name N] [--lang en]
  technician list
  firmware publish IMAGE --model M --version V --signature-file SIG   (SIG: the vendor's ed25519 signature, raw or base64)
  rollout start --model M --version V [--canary 1%] [--halt-on-failures 2%] [--stage-timeout 30m]
  rollout status|rollback                the newest rollout, per stage; rollback re-sends the previous version
  rollout halt [--reason TEXT]
  import FILE.csv [--dry-run] [--update]
  status
  ready                                  exit 0 when the gateway is ready (/readyz)

Global flags (also accepted after the command):
  --server URL     gateway (DOLBOM_SERVER, default http://127.0.0.1:8080)
  --token T        admin token (from DOLBOM_ADMIN_TOKEN, or the file named by
                   DOLBOM_ADMIN_TOKEN_FILE); for a local gateway it is read
                   from <data-dir>/admin-token when not given
  --data-dir DIR   the gateway's data folder (DOLBOM_DATA_DIR, default ./var)
  --timeout D      per request (DOLBOM_TIMEOUT, default 5m: imports are long)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the gateway refused, or could not be reached
	exitUsage   = 2
)

// usageError is a mistake on the command line, found before any request.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errPrinted reports a failure whose details were already printed.
var errPrinted = errors.New("failed")

// cli is one invocation: its settings, streams and (once the flags are
// read) its client.
type cli struct {
	server  string
	token   string // from --token only: the environment is read at use time
	dataDir string
	timeout time.Duration
	getenv  func(string) string
	stdout  io.Writer
	stderr  io.Writer
}

// run is main without the process: tests call it with their own arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	if err := c.setDefaults(); err != nil {
		fmt.Fprintln(stderr, "dolbomctl:", err)
		return exitUsage
	}
	fs := c.flagSet("dolbomctl")
	if err := fs.Parse(args); err != nil {
		return c.report(err)
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stdout, usageText)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := rest[0], rest[1:]
	var handler func(context.Context, []string) error
	if group, ok := commands(c)[cmd]; ok {
		if len(args) == 0 {
			return c.report(usageErrorf("%s: which? one of %s", cmd, strings.Join(sortedKeys(group), ", ")))
		}
		if handler, ok = group[args[0]]; !ok {
			return c.report(usageErrorf("%s %s: unknown; one of %s", cmd, args[0], strings.Join(sortedKeys(group), ", ")))
		}
		cmd, args = cmd+" "+args[0], args[1:]
	} else if handler, ok = topCommands(c)[cmd]; !ok {
		return c.report(usageErrorf("unknown command %q (dolbomctl help lists them)", cmd))
	}
	if err := handler(ctx, args); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errPrinted) {
			err = fmt.Errorf("%s: %w", cmd, err)
		}
		return c.report(err)
	}
	return exitOK
}

func (c *cli) report(err error) int {
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errPrinted):
		return exitFailure
	case errors.As(err, &ue):
		fmt.Fprintln(c.stderr, "dolbomctl:", err)
		return exitUsage
	}
	fmt.Fprintln(c.stderr, "dolbomctl:", err)
	return exitFailure
}

func (c *cli) setDefaults() error {
	c.server = envOr(c.getenv, "DOLBOM_SERVER", "http://127.0.0.1:8080")
	c.dataDir = envOr(c.getenv, "DOLBOM_DATA_DIR", "./var")
	c.timeout = 5 * time.Minute
	if s := c.getenv("DOLBOM_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("DOLBOM_TIMEOUT %q: want a duration like 30s", s)
		}
		c.timeout = d
	}
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// flagSet returns a flag set holding the global flags, so that they work
// before and after the command.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.server, "server", c.server, "gateway URL (DOLBOM_SERVER)")
	// Never a default: flag help would print the token.
	fs.Var(secretFlag{&c.token}, "token", "the admin `token` (from DOLBOM_ADMIN_TOKEN)")
	fs.StringVar(&c.dataDir, "data-dir", c.dataDir, "the gateway's data folder, for a local gateway's token (DOLBOM_DATA_DIR)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "per request (DOLBOM_TIMEOUT)")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage of dolbomctl %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parse reads flags and positional arguments in any order ("hub get ID
// --server X" and "hub get --server X ID" both work) and checks the count
// of positional arguments against their names.
func parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(positional) {
		if len(positional) == 0 {
			return nil, usageErrorf("unexpected argument %q", pos[0])
		}
		return nil, usageErrorf("want %s, got %d argument(s)", strings.Join(positional, " "), len(pos))
	}
	return pos, nil
}

// parseArgs reads flags wherever they are and returns the other arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// secretFlag is a string flag that never shows its value: flag help
// prints a flag's value as its default.
type secretFlag struct{ p *string }

func (f secretFlag) String() string { return "" }
func (f secretFlag) Set(v string) error {
	*f.p = v
	return nil
}

// adminToken is the token given by --token, else DOLBOM_ADMIN_TOKEN, else
// the file DOLBOM_ADMIN_TOKEN_FILE names (a container's secret); "" when
// none is given.
func (c *cli) adminToken() (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	if t := c.getenv("DOLBOM_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	if file := c.getenv("DOLBOM_ADMIN_TOKEN_FILE"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("DOLBOM_ADMIN_TOKEN_FILE: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("DOLBOM_ADMIN_TOKEN_FILE: %s is empty", file)
	}
	return "", nil
}

// client returns the API client, finding the token: the flag or the
// environment, else the token file of a gateway on this machine.
func (c *cli) client() (*client, error) {
	token, err := c.adminToken()
	if err != nil {
		return nil, err
	}
	cl, err := newClient(c.server, token, c.timeout)
	if err != nil {
		return nil, err
	}
	if cl.token != "" {
		return cl, nil
	}
	if !isLoopback(cl.base.Hostname()) {
		return nil, usageErrorf("no admin token for %s: pass --token or set DOLBOM_ADMIN_TOKEN", c.server)
	}
	token, err = api.ReadAdminToken(c.dataDir)
	if err != nil {
		return nil, usageErrorf("no admin token: pass --token, set DOLBOM_ADMIN_TOKEN, or point --data-dir / DOLBOM_DATA_DIR at the gateway's data folder (%v)", err)
	}
	cl.token = token
	return cl, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// call sends a request and prints the answer.
func (c *cli) call(ctx context.Context, method, path string, query url.Values, body any) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	data, err := cl.doJSON(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	return c.print(data)
}

// upload sends the file at path as the request's body and returns the
// answer (firmware images, resident CSV files).
func (c *cli) upload(ctx context.Context, method, apiPath, path string, query url.Values, contentType string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	return cl.do(ctx, method, apiPath, query, contentType, f)
}

// print writes a JSON answer indented, whatever indentation the server used.
func (c *cli) print(data []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(data), "", "  "); err != nil {
		_, err = c.stdout.Write(data)
		return err
	}
	out.WriteByte('\n')
	_, err := c.stdout.Write(out.Bytes())
	return err
}

func pathEscape(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
