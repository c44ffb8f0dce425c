package devices

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
)

// refReadings is the reflective form wireReadingsIn replaced: json/v2's
// rules for it are the specification of the hand-written decoder.
type refReadings struct {
	V        *int           `json:"v"`
	Sent     *int64         `json:"sent"`
	Readings []refReadingIn `json:"readings"`
}

type refReadingIn struct {
	Sensor  string    `json:"sensor"`
	Metric  string    `json:"metric"`
	TS      optNumber `json:"ts"`
	Value   optNumber `json:"value"`
	Quality optNumber `json:"quality"`
}

// FuzzReadingsDecoderMatchesReflection: whatever json/v2 decodes into the
// reflective form, the hand-written decoder decodes to the same values, and
// it refuses what json/v2 refuses.
func FuzzReadingsDecoderMatchesReflection(f *testing.F) {
	for _, dir := range []string{"testdata/golden", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "readings*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	sim, err := os.ReadFile("testdata/sim-minute.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.TrimSpace(sim))
	for _, s := range []string{
		`null`, `[]`, `{}`, `{"v":1,"v":1}`, `{"readings":[{"sensor":"a","sensor":"b"}]}`, `{"V":1}`, `{"v":1.0}`, `{"v":"1"}`,
		`{"v":1,"sent":null,"readings":null}`, `{"readings":[null,{}]}`, `{"readings":{}}`, `{"readings":[1]}`,
		`{"readings":[{"sensor":"k\u0069tchen","metric":"temp\u0065rature","ts":1,"value":1e2,"quality":null}]}`,
		`{"readings":[{"sensor":1}]}`, `{"readings":[{"metric":["x"]}]}`, `{"x":{"y":[1,2,{"z":null}]},"v":1}`,
		`{"readings":[{"sensor":"\ud800"}]}`, "{\"readings\":[{\"sensor\":\"\xff\"}]}", `{"v":1} x`, `{"v":1`,
		`{"v":99999999999999999999}`, `{"sent":-0}`, `{"readings":[{"value":1e400}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ref refReadings
		refErr := jsonv2.Unmarshal(payload, &ref)
		var got wireReadingsIn
		gotErr := jsonv2.Unmarshal(payload, &got)
		if (refErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: json/v2 says %v, the decoder %v", payload, refErr, gotErr)
		}
		if refErr != nil {
			return
		}
		if !eqPtr(ref.V, got.V) || !eqPtr(ref.Sent, got.Sent) || len(ref.Readings) != len(got.Readings) {
			t.Fatalf("%q: header or count differ: ref v=%v sent=%v n=%d, got v=%v sent=%v n=%d", payload,
				ref.V, ref.Sent, len(ref.Readings), got.V, got.Sent, len(got.Readings))
		}
		for i, r := range ref.Readings {
			g := got.Readings[i]
			if r.Sensor != g.Sensor || r.Metric != g.Metric || r.TS != g.TS || r.Value != g.Value || r.Quality != g.Quality {
				t.Fatalf("%q: reading %d: ref %+v, got %+v", payload, i, r, g)
			}
		}
	})
}

func eqPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// Decoding the simulator's minute batch allocates the batch and its slice
// (and, the first time, the sensor ids): metric names are the protocol's
// constants and sensor ids come from the pooled decoder's cache. Through
// json/v2's reflection it was 10 allocations.
func TestDecodeSimMinuteAllocations(t *testing.T) {
	sim, err := os.ReadFile("testdata/sim-minute.json")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.TrimSpace(sim)
	topic := Topic(testHub, ChanReadings)
	if _, err := Decode(topic, payload, simMinuteReceived); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if _, err := Decode(topic, payload, simMinuteReceived); err != nil {
			t.Fatal(err)
		}
	})
	// The pool may drop its state at a GC: allow for that once in a while.
	if n > 2.5 {
		t.Errorf("%v allocations per decode of the 17-reading batch, want 2 (the batch and its readings)", n)
	}
}
