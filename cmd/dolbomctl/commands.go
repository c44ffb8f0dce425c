package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type handler = func(context.Context, []string) error

func commands(c *cli) map[string]map[string]handler {
	return map[string]map[string]handler{
		"resident": {
			"add": c.residentAdd, "get": c.residentGet,
			"list": c.listCommand("resident", "residents",
				listFilter{"q", "q", "search names, phones and addresses"},
				listFilter{"social-worker", "social_worker", "residents of this social worker"}),
			"update":  c.update("resident", "residents", func(fs *flag.FlagSet) *bodyBuilder { return residentFlags(fs, false) }),
			"disable": c.setDisabled("resident", "residents", true), "enable": c.setDisabled("resident", "residents", false),
		},
		"hub": {
			"add": c.hubAdd, "get": c.hubGet,
			"list":    c.listCommand("hub", "hubs", listFilter{"resident", "resident_id", "hubs of this resident"}),
			"update":  c.update("hub", "hubs", hubFlags),
			"disable": c.setDisabled("hub", "hubs", true), "enable": c.setDisabled("hub", "hubs", false),
			"rotate-secret": c.hubRotateSecret, "health": c.hubHealth, "events": c.hubEvents,
		},
		"region":     {"route": c.regionRoute, "list": c.regionList},
		"workorder":  {"list": c.workOrderList, "close": c.workOrderClose},
		"technician": {"set": c.technicianSet, "list": c.technicianList},
		"account":    {"list": c.accountList, "regions": c.accountRegions, "token": c.accountToken, "revoke": c.accountRevoke},
		"firmware":   {"publish": c.firmwarePublish},
		"rollout": {
			"start": c.rolloutStart, "status": c.rolloutSimple("GET", "status"),
			"halt": c.rolloutSimple("POST", "halt"), "rollback": c.rolloutSimple("POST", "rollback"),
		},
		"sensor": {
			"add": c.sensorAdd, "list": c.sensorList, "get": c.sensorGet, "update": c.sensorUpdate,
			"disable": c.sensorSetDisabled(true), "enable": c.sensorSetDisabled(false),
		},
	}
}

func topCommands(c *cli) map[string]handler {
	return map[string]handler{"import": c.importResidents, "status": c.status, "ready": c.ready}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// bodyBuilder turns the flags a user set into a JSON body: only set flags
// are sent, so the same flags serve create (POST) and partial update (PATCH).
type bodyBuilder struct {
	fs     *flag.FlagSet
	fields map[string]func() (any, error) // flag name -> JSON path value
	paths  map[string]string              // flag name -> JSON path ("address.line1")
}

func newBodyBuilder(fs *flag.FlagSet) *bodyBuilder {
	return &bodyBuilder{fs: fs, fields: map[string]func() (any, error){}, paths: map[string]string{}}
}

func (b *bodyBuilder) str(name, path, usage string) {
	v := b.fs.String(name, "", usage)
	b.add(name, path, func() (any, error) { return *v, nil })
}

func (b *bodyBuilder) float(name, path, usage string) {
	v := b.fs.String(name, "", usage)
	b.add(name, path, func() (any, error) {
		f, err := strconv.ParseFloat(*v, 64)
		if err != nil {
			return nil, usageErrorf("--%s %q: not a number", name, *v)
		}
		return f, nil
	})
}

func (b *bodyBuilder) boolean(name, path, usage string) {
	v := b.fs.Bool(name, false, usage)
	b.add(name, path, func() (any, error) { return *v, nil })
}

func (b *bodyBuilder) list(name, path, usage string) {
	var v listFlag
	b.fs.Var(&v, name, usage+" (repeatable)")
	b.add(name, path, func() (any, error) { return []string(v), nil })
}

func (b *bodyBuilder) add(name, path string, value func() (any, error)) {
	b.fields[name], b.paths[name] = value, path
}

// build returns the body of the set flags, nested by JSON path.
func (b *bodyBuilder) build() (map[string]any, error) {
	body := map[string]any{}
	var err error
	b.fs.Visit(func(f *flag.Flag) {
		value, ok := b.fields[f.Name]
		if !ok || err != nil {
			return
		}
		var v any
		if v, err = value(); err != nil {
			return
		}
		m := body
		parts := strings.Split(b.paths[f.Name], ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	})
	return body, err
}

// Residents.

func residentFlags(fs *flag.FlagSet, withID bool) *bodyBuilder {
	b := newBodyBuilder(fs)
	if withID {
		b.str("id", "id", "resident id (default: generated)")
	}
	b.str("name", "name", "full name")
	b.str("birth-date", "birth_date", "YYYY-MM-DD")
	b.str("phone", "phone", "E.164 (+8210...) or 010-1234-5678")
	b.str("language", "language", "ko or en")
	b.str("address", "address.line1", "road-name address")
	b.str("building", "address.building", "building name")
	b.str("floor", "address.floor", "floor")
	b.str("unit", "address.unit", "unit (호)")
	b.str("district", "address.district", "district (시군구) as written in the address")
	b.str("district-code", "district_code", "the 시군구's code (dolbomctl region list; default: derived from --address)")
	b.str("postcode", "address.postcode", "postcode")
	b.float("lat", "address.lat", "latitude")
	b.float("lon", "address.lon", "longitude")
	b.str("medical-notes", "medical_notes", "medical history for 119")
	b.list("medication", "medications", "a medication")
	b.list("allergy", "allergies", "an allergy")
	b.str("key-holder", "access.key_holder", "who holds a key (name and phone)")
	b.str("key-safe-code", "access.key_safe_code", "key safe code")
	b.str("door-code", "access.door_code", "door code")
	b.str("access-notes", "access.notes", "how to get in")
	b.str("social-worker", "social_worker_id", "assigned social worker's id")
	b.boolean("priority", "priority", "priority client (monthly visit)")
	b.boolean("consent-share-medical", "consent.share_medical_with_119", "consents to share medical data with 119")
	b.boolean("consent-notify-guardians", "consent.notify_guardians", "consents to guardians being notified")
	b.boolean("consent-vital-signs", "consent.vital_signs_monitoring", "consents to vital signs monitoring")
	var guardians listFlag
	fs.Var(&guardians, "guardian", `"name:phone[:relation[:language]]" (repeatable; replaces all guardians on update)`)
	b.add("guardian", "guardians", func() (any, error) {
		out := make([]map[string]any, 0, len(guardians))
		for _, g := range guardians {
			parts := strings.Split(g, ":")
			if len(parts) < 2 || len(parts) > 4 || strings.TrimSpace(parts[0]) == "" || strings.TrimSpace(parts[1]) == "" {
				return nil, usageErrorf("--guardian %q: want name:phone[:relation[:language]]", g)
			}
			m := map[string]any{"name": strings.TrimSpace(parts[0]), "phone": strings.TrimSpace(parts[1])}
			if len(parts) > 2 {
				m["relation"] = strings.TrimSpace(parts[2])
			}
			if len(parts) > 3 {
				m["language"] = strings.TrimSpace(parts[3])
			}
			out = append(out, m)
		}
		return out, nil
	})
	return b
}

// parseBody reads the arguments (see parse) and builds the JSON body of the
// flags b registered on fs.
func parseBody(fs *flag.FlagSet, b *bodyBuilder, args []string, positional ...string) ([]string, map[string]any, error) {
	pos, err := parse(fs, args, positional...)
	if err != nil {
		return nil, nil, err
	}
	body, err := b.build()
	if err != nil {
		return nil, nil, err
	}
	return pos, body, nil
}

// update serves "<noun> update ID" for residents and hubs: a PATCH of
// <collection>/ID carrying only the flags given, so the rest keep their
// values. (Sensors are named by hub and id: sensorUpdate.)
func (c *cli) update(noun, collection string, flags func(*flag.FlagSet) *bodyBuilder) handler {
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet(noun + " update")
		pos, body, err := parseBody(fs, flags(fs), args, "ID")
		if err != nil {
			return err
		}
		if len(body) == 0 {
			return usageErrorf("nothing to update: give the fields to change (see dolbomctl %s update -h)", noun)
		}
		return c.call(ctx, "PATCH", pathEscape(collection, pos[0]), nil, body)
	}
}

func (c *cli) residentAdd(ctx context.Context, args []string) error {
	fs := c.flagSet("resident add")
	_, body, err := parseBody(fs, residentFlags(fs, true), args)
	if err != nil {
		return err
	}
	if body["name"] == nil {
		return usageErrorf("--name is required")
	}
	return c.call(ctx, "POST", "residents", nil, body)
}

func (c *cli) residentGet(ctx context.Context, args []string) error {
	fs := c.flagSet("resident get")
	reveal := fs.Bool("reveal-access", false, "show the key safe and door codes (the gateway logs every reveal)")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	var q url.Values
	if *reveal {
		q = url.Values{"reveal": {"access"}}
	}
	return c.call(ctx, "GET", pathEscape("residents", pos[0]), q, nil)
}

// pager holds the flags every paged list takes.
type pager struct {
	limit           int
	after           string
	includeDisabled bool
	all             bool
}

func (p *pager) register(fs *flag.FlagSet) {
	fs.IntVar(&p.limit, "limit", 0, "records per page (server default 100, at most 1000)")
	fs.StringVar(&p.after, "after", "", "list after this id (the next_after of the previous page)")
	fs.BoolVar(&p.includeDisabled, "include-disabled", false, "include disabled records")
	fs.BoolVar(&p.all, "all", false, "follow every page and print one list")
}

// list fetches one page, or with --all every page, and prints {"items": [...]}.
func (c *cli) list(ctx context.Context, path string, q url.Values, p *pager) error {
	if p.limit != 0 {
		q.Set("limit", strconv.Itoa(p.limit))
	}
	if p.includeDisabled {
		q.Set("include_disabled", "true")
	}
	if p.after != "" {
		q.Set("after", p.after)
	}
	if !p.all {
		return c.call(ctx, "GET", path, q, nil)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	all := []json.RawMessage{}
	for {
		data, err := cl.doJSON(ctx, "GET", path, q, nil)
		if err != nil {
			return err
		}
		var page struct {
			Items     []json.RawMessage `json:"items"`
			NextAfter string            `json:"next_after"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("reading the gateway's answer: %w", err)
		}
		all = append(all, page.Items...)
		if page.NextAfter == "" {
			break
		}
		q.Set("after", page.NextAfter)
	}
	data, err := json.Marshal(map[string]any{"items": all})
	if err != nil {
		return err
	}
	return c.print(data)
}

// listFilter is a flag of a list command that, when set, becomes the query
// parameter param.
type listFilter struct{ flag, param, usage string }

// listCommand serves "<noun> list": the pager's flags and the filters, sent
// to GET <collection>.
func (c *cli) listCommand(noun, collection string, filters ...listFilter) handler {
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet(noun + " list")
		var p pager
		p.register(fs)
		values := make([]*string, len(filters))
		for i, f := range filters {
			values[i] = fs.String(f.flag, "", f.usage)
		}
		if _, err := parse(fs, args); err != nil {
			return err
		}
		q := url.Values{}
		for i, f := range filters {
			if *values[i] != "" {
				q.Set(f.param, *values[i])
			}
		}
		return c.list(ctx, collection, q, &p)
	}
}

// setDisabled serves "resident|hub disable|enable ID".
func (c *cli) setDisabled(noun, collection string, disabled bool) handler {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet(noun + " " + verb)
		pos, err := parse(fs, args, "ID")
		if err != nil {
			return err
		}
		return c.call(ctx, "POST", pathEscape(collection, pos[0], verb), nil, nil)
	}
}

// Hubs.

// timeFlag takes a date (YYYY-MM-DD, midnight in Korea) or an RFC 3339 time.
func timeFlag(name, v string) (string, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Format(time.RFC3339), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.FixedZone("KST", 9*3600)); err == nil {
		return t.Format(time.RFC3339), nil
	}
	return "", usageErrorf("--%s %q: want YYYY-MM-DD or an RFC 3339 time", name, v)
}

func hubFlags(fs *flag.FlagSet) *bodyBuilder {
	b := newBodyBuilder(fs)
	b.str("resident", "resident_id", "the resident the hub serves")
	b.str("firmware", "firmware", "firmware version")
	b.str("model", "model", "hardware model")
	for _, f := range []struct{ name, path, usage string }{
		{"installed-at", "installed_at", "installation date (default now)"},
		{"end-of-life", "end_of_life", "end of service life (default installation + 5 years)"},
	} {
		v := fs.String(f.name, "", f.usage+": YYYY-MM-DD or RFC 3339")
		b.add(f.name, f.path, func() (any, error) { return timeFlag(f.name, *v) })
	}
	return b
}

func (c *cli) hubAdd(ctx context.Context, args []string) error {
	fs := c.flagSet("hub add")
	b := hubFlags(fs)
	b.str("id", "id", "hub id: 3-64 of a-z 0-9 - _ (default: generated)")
	_, body, err := parseBody(fs, b, args)
	if err != nil {
		return err
	}
	if body["resident_id"] == nil {
		return usageErrorf("--resident is required")
	}
	return c.call(ctx, "POST", "hubs", nil, body)
}

// hubByID serves the hub commands that take only the hub id.
func (c *cli) hubByID(name, method string, path func(id string) string) handler {
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet("hub " + name)
		pos, err := parse(fs, args, "ID")
		if err != nil {
			return err
		}
		return c.call(ctx, method, path(pos[0]), nil, nil)
	}
}

func (c *cli) hubGet(ctx context.Context, args []string) error {
	return c.hubByID("get", "GET", func(id string) string { return pathEscape("hubs", id) })(ctx, args)
}

func (c *cli) hubRotateSecret(ctx context.Context, args []string) error {
	return c.hubByID("rotate-secret", "POST", func(id string) string { return pathEscape("hubs", id, "secret") })(ctx, args)
}

func (c *cli) hubHealth(ctx context.Context, args []string) error {
	return c.hubByID("health", "GET", func(id string) string { return pathEscape("hubs", id, "health") })(ctx, args)
}

func (c *cli) hubEvents(ctx context.Context, args []string) error {
	return c.hubByID("events", "GET", func(id string) string { return pathEscape("hubs", id, "events") })(ctx, args)
}

// Sensors.

func sensorFlags(fs *flag.FlagSet) *bodyBuilder {
	b := newBodyBuilder(fs)
	b.str("kind", "kind", "smoke, heat, co, gas, motion, door, radar, wearable, sos_button, hub")
	b.str("location", "location", "bedroom, living_room, kitchen, bathroom, entrance, hallway, utility, worn, other")
	interval := fs.String("interval", "", "how often the sensor reports at least once: 300s, 10m or seconds (default 300s)")
	b.add("interval", "report_interval_s", func() (any, error) {
		if n, err := strconv.Atoi(*interval); err == nil {
			return n, nil
		}
		d, err := time.ParseDuration(*interval)
		if err != nil || d%time.Second != 0 {
			return nil, usageErrorf("--interval %q: want whole seconds, like 300s or 5m", *interval)
		}
		return int(d / time.Second), nil
	})
	installed := fs.String("installed-at", "", "installation date (default now): YYYY-MM-DD or RFC 3339")
	b.add("installed-at", "installed_at", func() (any, error) { return timeFlag("installed-at", *installed) })
	return b
}

// parseSensor registers --hub and --id, reads the arguments and returns the
// sensor they name (its id positional or as --id). The command's other flags
// must be registered on fs before.
func parseSensor(fs *flag.FlagSet, args []string) (hub, id string, err error) {
	hubFlag := fs.String("hub", "", "the hub the sensor belongs to (required)")
	idFlag := fs.String("id", "", "sensor id (or give it as the argument)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", "", err
	}
	return resolveSensor(*hubFlag, *idFlag, pos)
}

// parseSensorBody is parseSensor for the commands that send the flags b
// registered as a JSON body.
func parseSensorBody(fs *flag.FlagSet, b *bodyBuilder, args []string) (hub, id string, body map[string]any, err error) {
	if hub, id, err = parseSensor(fs, args); err != nil {
		return "", "", nil, err
	}
	if body, err = b.build(); err != nil {
		return "", "", nil, err
	}
	return hub, id, body, nil
}

func resolveSensor(hub, id string, pos []string) (string, string, error) {
	if hub == "" {
		return "", "", usageErrorf("--hub is required")
	}
	switch {
	case len(pos) == 1 && id == "":
		id = pos[0]
	case len(pos) > 1 || (len(pos) == 1 && id != ""):
		return "", "", usageErrorf("give the sensor id once, as --id or as the argument")
	case id == "":
		return "", "", usageErrorf("which sensor? give its id")
	}
	return hub, id, nil
}

func (c *cli) sensorAdd(ctx context.Context, args []string) error {
	fs := c.flagSet("sensor add")
	h, s, body, err := parseSensorBody(fs, sensorFlags(fs), args)
	if err != nil {
		return err
	}
	body["id"] = s
	if body["kind"] == nil || body["location"] == nil {
		return usageErrorf("--kind and --location are required")
	}
	return c.call(ctx, "POST", pathEscape("hubs", h, "sensors"), nil, body)
}

func (c *cli) sensorList(ctx context.Context, args []string) error {
	fs := c.flagSet("sensor list")
	hub := fs.String("hub", "", "the hub (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *hub == "" && len(pos) == 1:
		*hub = pos[0]
	case *hub == "" || len(pos) > 0:
		return usageErrorf("want --hub H")
	}
	return c.call(ctx, "GET", pathEscape("hubs", *hub, "sensors"), nil, nil)
}

func (c *cli) sensorGet(ctx context.Context, args []string) error {
	fs := c.flagSet("sensor get")
	h, s, err := parseSensor(fs, args)
	if err != nil {
		return err
	}
	return c.call(ctx, "GET", pathEscape("hubs", h, "sensors", s), nil, nil)
}

func (c *cli) sensorUpdate(ctx context.Context, args []string) error {
	fs := c.flagSet("sensor update")
	h, s, body, err := parseSensorBody(fs, sensorFlags(fs), args)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return usageErrorf("nothing to update: give --kind, --location, --interval or --installed-at")
	}
	return c.call(ctx, "PATCH", pathEscape("hubs", h, "sensors", s), nil, body)
}

func (c *cli) sensorSetDisabled(disabled bool) handler {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet("sensor " + verb)
		h, s, err := parseSensor(fs, args)
		if err != nil {
			return err
		}
		return c.call(ctx, "POST", pathEscape("hubs", h, "sensors", s, verb), nil, nil)
	}
}

// Import and status.

// importResidents sends a CSV file. Rows the gateway refused are listed in
// its answer; the command then fails (exit 1) after printing it, so that a
// script notices, and the good rows stay created. With --update, rows whose
// id exists update that resident instead of being refused as conflicts.
func (c *cli) importResidents(ctx context.Context, args []string) error {
	fs := c.flagSet("import")
	dryRun := fs.Bool("dry-run", false, "check every row, change nothing")
	update := fs.Bool("update", false, "update the residents whose id exists (only the file's columns change)")
	pos, err := parse(fs, args, "FILE.csv")
	if err != nil {
		return err
	}
	q := url.Values{}
	if *dryRun {
		q.Set("dry_run", "true")
	}
	if *update {
		q.Set("update", "true")
	}
	data, err := c.upload(ctx, "POST", "import/residents", pos[0], q, "text/csv; charset=utf-8")
	if err != nil {
		return err
	}
	if err := c.print(data); err != nil {
		return err
	}
	var result struct {
		Counts struct {
			Created, Updated, Refused int
		} `json:"counts"`
		Stopped string `json:"stopped"`
	}
	if err := json.Unmarshal(data, &result); err != nil {
		return fmt.Errorf("reading the gateway's answer: %w", err)
	}
	n := result.Counts
	would := ""
	if *dryRun {
		would = "would be "
	}
	fmt.Fprintf(c.stderr, "dolbomctl: import: %d %screated, %d %supdated, %d refused\n", n.Created, would, n.Updated, would, n.Refused)
	if n.Refused > 0 || result.Stopped != "" {
		if n.Refused > 0 {
			fmt.Fprintln(c.stderr, "dolbomctl: import: see \"errors\" for the refused lines")
		}
		if result.Stopped != "" {
			fmt.Fprintln(c.stderr, "dolbomctl: import:", result.Stopped)
		}
		return errPrinted
	}
	return nil
}

// ready exits 0 when the gateway answers /readyz with 200 (no token
// needed): a health probe for containers and scripts.
func (c *cli) ready(ctx context.Context, args []string) error {
	fs := c.flagSet("ready")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.server, "/")+"/readyz", nil)
	if err != nil {
		return usageErrorf("--server %q: %v", c.server, err)
	}
	resp, err := (&http.Client{Timeout: c.timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gateway at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (%s): %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(c.stdout, strings.TrimSpace(string(body)))
	return nil
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs := c.flagSet("status")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return c.call(ctx, "GET", "status", nil, nil)
}
