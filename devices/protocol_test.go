package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The golden files under testdata/golden/<channel>/ are valid payloads of
// every channel (the directory is the channel: cmd/ack/ holds command
// acknowledgements, cmd/ holds commands); the files under testdata/invalid/
// are refusals, named <channel>-<what>.json, with their expected codes in
// invalidCases. Hub vendors may run both sets against their own firmware.

var update = flag.Bool("update", false, "rewrite the generated snapshots under testdata/decoded")

// testNow is the gateway clock every golden and invalid file is written
// against: 2025-06-02T00:00:00Z.
var testNow = time.UnixMilli(1748822400000)

const testHub HubID = "hub-0001"

// knownCodes is every ErrorCode the protocol defines.
var knownCodes = []ErrorCode{
	CodeTopic, CodeTooLarge, CodeSyntax, CodeVersion, CodeMissing, CodeUnknownKind, CodeOutOfRange,
	CodeBadID, CodeFuture, CodeTooOld, CodeTooMany, CodeQoS, CodeNotPermitted, CodeRateLimited, CodeUnavailable,
}

// invalidCase is what an invalid file must provoke. schema says whether the
// JSON Schema refuses it too; when false the refusal needs the gateway's
// clock, byte counts or cross-field checks, and the schema must accept it
// (so that this table stays honest).
type invalidCase struct {
	code   ErrorCode
	schema bool
}

var invalidCases = map[string]invalidCase{
	"readings-malformed-json.json":             {CodeSyntax, true},
	"readings-not-an-object.json":              {CodeSyntax, true},
	"readings-wrong-version.json":              {CodeVersion, true},
	"readings-missing-v.json":                  {CodeMissing, true},
	"readings-v-string.json":                   {CodeSyntax, true},
	"readings-missing-sent.json":               {CodeMissing, true},
	"readings-missing-ts.json":                 {CodeMissing, true},
	"readings-missing-value.json":              {CodeMissing, true},
	"readings-empty.json":                      {CodeMissing, true},
	"readings-heart-rate-900.json":             {CodeOutOfRange, true},
	"readings-temperature-minus-300.json":      {CodeOutOfRange, true},
	"readings-heart-rate-without-quality.json": {CodeMissing, true},
	"readings-quality-over-one.json":           {CodeOutOfRange, true},
	"readings-door-half-open.json":             {CodeOutOfRange, true},
	"readings-negative-co.json":                {CodeOutOfRange, true},
	"readings-unknown-metric.json":             {CodeUnknownKind, true},
	"readings-metric-upper-case.json":          {CodeUnknownKind, true},
	"readings-too-many.json":                   {CodeTooMany, true},
	"readings-bad-sensor-id.json":              {CodeBadID, true},
	"readings-sensor-id-too-long.json":         {CodeBadID, true},
	"readings-value-as-string.json":            {CodeSyntax, true},
	"readings-ts-in-seconds.json":              {CodeTooOld, false},
	"readings-ts-in-future.json":               {CodeFuture, false},
	"readings-sent-in-future.json":             {CodeFuture, false},
	"readings-ts-too-old.json":                 {CodeTooOld, false},
	"readings-payload-too-large.json":          {CodeTooLarge, false},

	"events-unknown-kind.json":      {CodeUnknownKind, true},
	"events-kind-missing.json":      {CodeUnknownKind, true},
	"events-missing-id.json":        {CodeBadID, true},
	"events-bad-id.json":            {CodeBadID, true},
	"events-id-too-long.json":       {CodeBadID, true},
	"events-bad-sensor-id.json":     {CodeBadID, true},
	"events-missing-ts.json":        {CodeMissing, true},
	"events-ts-float.json":          {CodeSyntax, true},
	"events-ts-in-future.json":      {CodeFuture, false},
	"events-ts-too-old.json":        {CodeTooOld, false},
	"events-detail-not-object.json": {CodeSyntax, true},
	"events-detail-array.json":      {CodeSyntax, true},
	"events-detail-too-large.json":  {CodeTooLarge, false},
	"events-value-implausible.json": {CodeOutOfRange, true},

	"accel-axes-differ.json":      {CodeSyntax, false},
	"accel-over-g-limit.json":     {CodeOutOfRange, true},
	"accel-missing-hz.json":       {CodeOutOfRange, true},
	"accel-hz-too-high.json":      {CodeOutOfRange, true},
	"accel-empty.json":            {CodeMissing, true},
	"accel-too-many-samples.json": {CodeTooMany, true},
	"accel-sample-as-string.json": {CodeSyntax, true},
	"accel-bad-sensor-id.json":    {CodeBadID, true},

	"status-unknown-state.json":     {CodeUnknownKind, true},
	"status-online-without-ts.json": {CodeMissing, true},
	"status-heartbeat-a-day.json":   {CodeOutOfRange, true},
	"status-wrong-version.json":     {CodeVersion, true},

	"heartbeat-missing-ts.json":      {CodeMissing, true},
	"heartbeat-positive-rssi.json":   {CodeOutOfRange, true},
	"heartbeat-negative-queued.json": {CodeOutOfRange, true},
	"heartbeat-uptime-overflow.json": {CodeOutOfRange, true},

	"cmd-ack-unknown-status.json": {CodeUnknownKind, true},
	"cmd-ack-bad-id.json":         {CodeBadID, true},
	"cmd-ack-missing-ts.json":     {CodeMissing, true},
	"cmd-ack-unknown-step.json":   {CodeUnknownKind, true},
	"cmd-ack-step-on-done.json":   {CodeOutOfRange, true},
	"cmd-ack-fw-on-failed.json":   {CodeOutOfRange, true},
	"cmd-ack-bad-fw.json":         {CodeBadID, true},
}

// invalidChannel returns the channel an invalid file is published on, from
// its name.
func invalidChannel(name string) Channel {
	if strings.HasPrefix(name, "cmd-ack-") {
		return ChanCmdAck
	}
	ch, _, _ := strings.Cut(name, "-")
	return Channel(ch)
}

type testFile struct {
	channel Channel
	name    string // file name without .json
	path    string
	payload []byte
}

// goldenFiles lists testdata/golden; the directory below golden/ is the channel.
func goldenFiles(t testing.TB) []testFile {
	t.Helper()
	var files []testFile
	root := filepath.Join("testdata", "golden")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		payload, err := os.ReadFile(path)
		files = append(files, testFile{
			channel: Channel(filepath.ToSlash(filepath.Dir(rel))),
			name:    strings.TrimSuffix(filepath.Base(rel), ".json"),
			path:    path,
			payload: payload,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	return files
}

func invalidFiles(t testing.TB) []testFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no invalid files: %v", err)
	}
	var files []testFile
	for _, path := range paths {
		payload, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		files = append(files, testFile{channel: invalidChannel(name), name: strings.TrimSuffix(name, ".json"), path: path, payload: payload})
	}
	return files
}

// encodeMessage re-encodes a decoded upstream message with the encoder of its
// channel.
func encodeMessage(m Message) []byte {
	switch m.Channel {
	case ChanReadings:
		return EncodeReadings(*m.Readings)
	case ChanEvents:
		return EncodeEvent(*m.Event)
	case ChanAccel:
		return EncodeAccel(*m.Accel)
	case ChanStatus:
		return EncodeStatus(*m.Status)
	case ChanHeartbeat:
		return EncodeHeartbeat(*m.Heartbeat)
	case ChanCmdAck:
		return EncodeCmdAck(*m.CmdAck)
	}
	panic("encodeMessage: channel " + string(m.Channel))
}

// sameJSON reports whether two payloads hold the same JSON value (object
// member order, spacing and number spelling aside).
func sameJSON(a, b []byte) (bool, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false, err
	}
	return reflect.DeepEqual(va, vb), nil
}

func TestGoldenDecodeAndReencode(t *testing.T) {
	seen := map[Channel]int{}
	for _, f := range goldenFiles(t) {
		t.Run(string(f.channel)+"/"+f.name, func(t *testing.T) {
			seen[f.channel]++
			var reencoded []byte
			var snapshot any
			switch f.channel {
			case ChanCmd:
				c, err := DecodeCommand(f.payload)
				if err != nil {
					t.Fatalf("DecodeCommand: %v", err)
				}
				reencoded = EncodeCommand(c)
				snapshot = struct {
					ID   CommandID
					At   time.Time
					Type CommandType
					Args json.RawMessage
				}{c.ID, c.At.UTC(), c.Type, c.Args}
			case ChanRejects:
				r, err := DecodeReject(f.payload)
				if err != nil {
					t.Fatalf("DecodeReject: %v", err)
				}
				reencoded = EncodeReject(r)
				r.At = r.At.UTC()
				snapshot = r
			default:
				m, err := Decode(Topic(testHub, f.channel), f.payload, testNow)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				reencoded = encodeMessage(m)
				snapshot = inUTC(m)
			}
			same, err := sameJSON(f.payload, reencoded)
			if err != nil {
				t.Fatal(err)
			}
			if !same {
				t.Errorf("re-encoded payload differs:\n golden: %s\nencoded: %s", bytes.TrimSpace(f.payload), reencoded)
			}
			checkSnapshot(t, filepath.Join("testdata", "decoded", filepath.FromSlash(string(f.channel)), f.name+".json"), snapshot)
		})
	}
	for _, ch := range []Channel{ChanReadings, ChanEvents, ChanAccel, ChanStatus, ChanHeartbeat, ChanCmdAck, ChanCmd, ChanRejects} {
		if seen[ch] == 0 {
			t.Errorf("no golden file for channel %s", ch)
		}
	}
}

// checkSnapshot compares what the decoder made of a golden file with the
// snapshot under testdata/decoded, or rewrites it with -update. The snapshot
// makes any change in how a valid payload is understood visible in review.
func checkSnapshot(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./devices -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decoded message differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
}

// inUTC returns m with every time in UTC, so that snapshots do not depend on
// the machine's time zone.
func inUTC(m Message) Message {
	switch {
	case m.Readings != nil:
		b := *m.Readings
		b.SentAt, b.Received = b.SentAt.UTC(), b.Received.UTC()
		b.Readings = slices.Clone(b.Readings)
		for i := range b.Readings {
			b.Readings[i].At = b.Readings[i].At.UTC()
		}
		m.Readings = &b
	case m.Event != nil:
		e := *m.Event
		e.At, e.Received = e.At.UTC(), e.Received.UTC()
		m.Event = &e
	case m.Accel != nil:
		c := *m.Accel
		c.At, c.Received = c.At.UTC(), c.Received.UTC()
		m.Accel = &c
	case m.Status != nil:
		s := *m.Status
		if !s.At.IsZero() {
			s.At = s.At.UTC()
		}
		s.Received = s.Received.UTC()
		m.Status = &s
	case m.Heartbeat != nil:
		h := *m.Heartbeat
		h.At, h.Received = h.At.UTC(), h.Received.UTC()
		m.Heartbeat = &h
	case m.CmdAck != nil:
		a := *m.CmdAck
		a.At, a.Received = a.At.UTC(), a.Received.UTC()
		m.CmdAck = &a
	}
	return m
}

func TestGoldenCoversEveryMetricAndEventKind(t *testing.T) {
	metrics := map[Metric]bool{}
	kinds := map[EventKind]bool{}
	for _, f := range goldenFiles(t) {
		if !f.channel.Upstream() {
			continue
		}
		m, err := Decode(Topic(testHub, f.channel), f.payload, testNow)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		if m.Readings != nil {
			for _, r := range m.Readings.Readings {
				metrics[r.Metric] = true
			}
		}
		if m.Event != nil {
			kinds[m.Event.Kind] = true
		}
	}
	for metric := range Metrics {
		if !metrics[metric] {
			t.Errorf("no golden reading of metric %s", metric)
		}
	}
	for kind := range EventKinds {
		if !kinds[kind] {
			t.Errorf("no golden event of kind %s", kind)
		}
	}
}

func TestInvalidFilesAreRefusedWithTheirCode(t *testing.T) {
	files := invalidFiles(t)
	listed := map[string]bool{}
	for _, f := range files {
		name := f.name + ".json"
		listed[name] = true
		t.Run(f.name, func(t *testing.T) {
			want, ok := invalidCases[name]
			if !ok {
				t.Fatalf("%s has no entry in invalidCases", name)
			}
			_, err := Decode(Topic(testHub, f.channel), f.payload, testNow)
			if err == nil {
				t.Fatalf("decoded; want %s", want.code)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			if got := CodeOf(err); got != want.code {
				t.Errorf("code %s, want %s (%v)", got, want.code, err)
			}
			if !errors.Is(err, &DecodeError{Code: want.code}) {
				t.Errorf("errors.Is does not match code %s", want.code)
			}
		})
	}
	for name := range invalidCases {
		if !listed[name] {
			t.Errorf("invalidCases lists %s, which is not in testdata/invalid", name)
		}
	}
}

func TestDecodeRefusesDownstreamAndForeignTopics(t *testing.T) {
	payload := []byte(`{"v":1,"id":"c-1","ts":1748822400000,"type":"check_in"}`)
	tests := []struct {
		topic string
		want  ErrorCode
	}{
		{Topic(testHub, ChanCmd), CodeNotPermitted},
		{Topic(testHub, ChanRejects), CodeNotPermitted},
		{"dolbom/v2/hub-0001/events", CodeTopic},
		{"dolbom/v1/HUB-0001/events", CodeTopic},
		{"dolbom/v1/hub-0001/alarms", CodeTopic},
	}
	for _, tt := range tests {
		_, err := Decode(tt.topic, payload, testNow)
		if got := CodeOf(err); got != tt.want {
			t.Errorf("Decode(%q): code %q, want %q (%v)", tt.topic, got, tt.want, err)
		}
	}
}

func TestDecodeTimestampLimitsAreInclusive(t *testing.T) {
	event := func(ts time.Time) []byte {
		return fmt.Appendf(nil, `{"v":1,"id":"e-1","ts":%d,"kind":"door_open"}`, ts.UnixMilli())
	}
	tests := []struct {
		name string
		ts   time.Time
		want ErrorCode
	}{
		{"exactly 10 min ahead", testNow.Add(DefaultLimits.MaxFuture), ""},
		{"1 ms past 10 min ahead", testNow.Add(DefaultLimits.MaxFuture + time.Millisecond), CodeFuture},
		{"exactly 7 days old", testNow.Add(-DefaultLimits.MaxPast), ""},
		{"1 ms older than 7 days", testNow.Add(-DefaultLimits.MaxPast - time.Millisecond), CodeTooOld},
	}
	for _, tt := range tests {
		_, err := Decode(Topic(testHub, ChanEvents), event(tt.ts), testNow)
		if got := CodeOf(err); got != tt.want {
			t.Errorf("%s: code %q, want %q (%v)", tt.name, got, tt.want, err)
		}
	}
}

func TestDecodeKeepsTheHubClockAndTheReceiveTime(t *testing.T) {
	payload := []byte(`{"v":1,"sent":1748822460000,"readings":[{"sensor":"s1","metric":"battery","ts":1748822400000,"value":50}]}`)
	m, err := Decode(Topic(testHub, ChanReadings), payload, testNow)
	if err != nil {
		t.Fatal(err)
	}
	hub, received, ok := m.HubClock()
	if !ok || hub.Sub(received) != time.Minute {
		t.Errorf("HubClock = %v, %v, %v; want the hub one minute ahead", hub, received, ok)
	}
	if m.Readings.Readings[0].Quality != -1 {
		t.Errorf("battery quality %v, want -1 (none)", m.Readings.Readings[0].Quality)
	}
}

// TestProtocolDocumentNamesEverything keeps docs/protocol.md in step with the
// code: every metric, event kind, error code, channel and limit appears in it.
func TestProtocolDocumentNamesEverything(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	var names []string
	for m := range Metrics {
		names = append(names, string(m))
	}
	for k := range EventKinds {
		names = append(names, string(k))
	}
	for _, c := range knownCodes {
		names = append(names, string(c))
	}
	for _, s := range []string{"readings", "events", "accel", "status", "heartbeat", "cmd/ack", "cmd", "rejects",
		string(AckAccepted), string(AckDone), string(AckFailed), string(AckUnsupported),
		string(CmdCheckIn), string(CmdSilence), string(CmdSetHeartbeat)} {
		names = append(names, s)
	}
	for loc := range Locations {
		names = append(names, string(loc))
	}
	for kind := range SensorKinds {
		names = append(names, string(kind))
	}
	for _, n := range names {
		if !strings.Contains(text, "`"+n+"`") {
			t.Errorf("docs/protocol.md does not mention `%s`", n)
		}
	}
	for m, spec := range Metrics {
		row := fmt.Sprintf("| `%s` | %s | %g to %g |", m, spec.Unit, spec.Min, spec.Max)
		if !strings.Contains(text, row) {
			t.Errorf("docs/protocol.md has no metric row starting %q", row)
		}
	}
	for _, limit := range []string{
		fmt.Sprint(DefaultLimits.MaxPayload), fmt.Sprint(DefaultLimits.MaxReadings), fmt.Sprint(DefaultLimits.MaxSamples),
		fmt.Sprint(DefaultLimits.MaxDetail), fmt.Sprint(DefaultLimits.MaxG),
	} {
		if !strings.Contains(text, limit) {
			t.Errorf("docs/protocol.md does not state the limit %s", limit)
		}
	}
}
