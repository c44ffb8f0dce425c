package devices

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON Schemas in docs/protocol/v1 are what vendors validate their
// firmware against; these tests keep them and the reference decoder in
// agreement. The schemas may be stricter than the decoder (they describe what
// a hub must send), never more lenient on a file the decoder refuses for a
// reason a schema can express.

var schemaFiles = map[Channel]string{
	ChanReadings:  "readings.schema.json",
	ChanEvents:    "event.schema.json",
	ChanAccel:     "accel.schema.json",
	ChanStatus:    "status.schema.json",
	ChanHeartbeat: "heartbeat.schema.json",
	ChanCmdAck:    "cmd-ack.schema.json",
	ChanCmd:       "command.schema.json",
	ChanRejects:   "reject.schema.json",
}

func compileSchemas(t testing.TB) map[Channel]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	schemas := map[Channel]*jsonschema.Schema{}
	for ch, file := range schemaFiles {
		s, err := c.Compile(filepath.Join("..", "docs", "protocol", "v1", file))
		if err != nil {
			t.Fatalf("compile %s: %v", file, err)
		}
		schemas[ch] = s
	}
	return schemas
}

// validate reports whether payload is JSON that the channel's schema accepts.
func validate(s *jsonschema.Schema, payload []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func TestSchemasDeclareDraft2020(t *testing.T) {
	for _, file := range schemaFiles {
		raw, err := os.ReadFile(filepath.Join("..", "docs", "protocol", "v1", file))
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Schema string `json:"$schema"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema %q, err %v", file, head.Schema, err)
		}
	}
}

func TestGoldenFilesMatchTheirSchema(t *testing.T) {
	schemas := compileSchemas(t)
	for _, f := range goldenFiles(t) {
		if err := validate(schemas[f.channel], f.payload); err != nil {
			t.Errorf("%s: %v", f.path, err)
		}
	}
}

func TestInvalidFilesAgainstTheSchema(t *testing.T) {
	schemas := compileSchemas(t)
	for _, f := range invalidFiles(t) {
		want, ok := invalidCases[f.name+".json"]
		if !ok {
			continue // TestInvalidFilesAreRefusedWithTheirCode reports it
		}
		err := validate(schemas[f.channel], f.payload)
		switch {
		case want.schema && err == nil:
			t.Errorf("%s: the schema accepts it; the decoder refuses it with %s", f.path, want.code)
		case !want.schema && err != nil:
			t.Errorf("%s: marked as beyond a schema, yet the schema refuses it: %v", f.path, err)
		}
	}
}

// TestSchemaAgreesWithMetrics builds a reading of every metric at and beyond
// its published range, with and without quality, and requires the readings
// schema and the decoder to give the same verdict.
func TestSchemaAgreesWithMetrics(t *testing.T) {
	schema := compileSchemas(t)[ChanReadings]
	type probe struct {
		value   float64
		quality string // JSON of the quality member, "" for none
	}
	ts := testNow.UnixMilli()
	for metric, spec := range Metrics {
		probes := []probe{{spec.Min, ""}, {spec.Max, ""}, {spec.Min - 1, ""}, {spec.Max + 1, ""},
			{spec.Min, `,"quality":0.5`}, {spec.Max, `,"quality":1`}, {spec.Min - 0.001, `,"quality":0.5`}}
		if spec.Binary {
			probes = append(probes, probe{0.5, `,"quality":0.5`})
		}
		for _, p := range probes {
			payload := fmt.Appendf(nil, `{"v":1,"sent":%d,"readings":[{"sensor":"s1","metric":%q,"ts":%d,"value":%g%s}]}`,
				ts, metric, ts, p.value, p.quality)
			_, decodeErr := Decode(Topic(testHub, ChanReadings), payload, testNow)
			schemaErr := validate(schema, payload)
			if (decodeErr == nil) != (schemaErr == nil) {
				t.Errorf("%s: decoder says %v, schema says %v", payload, decodeErr, schemaErr)
			}
		}
	}
	unknown := fmt.Appendf(nil, `{"v":1,"sent":%d,"readings":[{"sensor":"s1","metric":"radon","ts":%d,"value":1}]}`, ts, ts)
	if validate(schema, unknown) == nil {
		t.Error("the schema accepts an unknown metric")
	}
}

func TestSchemaAgreesWithEventKinds(t *testing.T) {
	schema := compileSchemas(t)[ChanEvents]
	for kind := range EventKinds {
		payload := fmt.Appendf(nil, `{"v":1,"id":"e-1","ts":%d,"kind":%q}`, testNow.UnixMilli(), kind)
		if _, err := Decode(Topic(testHub, ChanEvents), payload, testNow); err != nil {
			t.Errorf("decoder refuses kind %s: %v", kind, err)
		}
		if err := validate(schema, payload); err != nil {
			t.Errorf("schema refuses kind %s: %v", kind, err)
		}
	}
}

// TestRejectSchemaListsEveryCode keeps the reject schema's list of codes (an
// open list: hubs must accept codes they do not know) equal to the code's.
func TestRejectSchemaListsEveryCode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "protocol", "v1", schemaFiles[ChanRejects]))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			Code struct {
				Examples []ErrorCode `json:"examples"`
			} `json:"code"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(s.Properties.Code.Examples))
	want := slices.Sorted(slices.Values(knownCodes))
	if !slices.Equal(got, want) {
		t.Errorf("reject schema codes %v, want %v", got, want)
	}
}
