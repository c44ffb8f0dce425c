package devices

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The payload fuzzers take whole payloads: MQTT hands the gateway complete
// messages, and Decode is not an incremental parser, so feeding a payload in
// two halves (as nats-server does for its byte-stream parser) would test
// nothing here; partial frames are the MQTT packet parser's concern.

func FuzzParseTopic(f *testing.F) {
	for _, ch := range []Channel{ChanReadings, ChanEvents, ChanAccel, ChanStatus, ChanHeartbeat, ChanCmdAck, ChanCmd, ChanRejects} {
		f.Add(Topic(testHub, ch))
	}
	for _, s := range []string{"", "dolbom/v1/", "dolbom/v1/+/events", "dolbom/v1/#", "dolbom/v1/a/b/c", "dolbom/v1/hub-0001/cmd/ack/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		hub, ch, err := ParseTopic(topic)
		if err != nil {
			if CodeOf(err) != CodeTopic {
				t.Fatalf("ParseTopic(%q): %v is not a bad_topic DecodeError", topic, err)
			}
			return
		}
		if Topic(hub, ch) != topic {
			t.Fatalf("Topic(ParseTopic(%q)) = %q", topic, Topic(hub, ch))
		}
		if err := ValidateHubID(string(hub)); err != nil {
			t.Fatalf("ParseTopic(%q) accepted hub %q: %v", topic, hub, err)
		}
		if strings.ContainsAny(string(hub), "/+#") || ch.Upstream() == ch.Downstream() {
			t.Fatalf("ParseTopic(%q) = %q, %q", topic, hub, ch)
		}
	})
}

// FuzzDecode checks that Decode never panics, refuses only with a
// *DecodeError of a known code, and that whatever it accepts re-encodes into
// a payload it accepts again as the same message, whose encoding is then
// stable byte for byte.
func FuzzDecode(f *testing.F) {
	for _, file := range goldenFiles(f) {
		if file.channel.Upstream() {
			f.Add(Topic(testHub, file.channel), file.payload)
		}
	}
	for _, file := range invalidFiles(f) {
		f.Add(Topic(testHub, file.channel), file.payload)
	}
	f.Add("dolbom/v1/hub-0001/cmd", []byte(`{"v":1,"id":"c-1","ts":1,"type":"check_in"}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		m, err := Decode(topic, payload, testNow)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if m.Hub == "" || !m.Channel.Upstream() || countSet(m) != 1 {
			t.Fatalf("Decode accepted a malformed message: %+v", m)
		}
		encoded := encodeMessage(m)
		again, err := Decode(topic, encoded, testNow)
		if err != nil {
			t.Fatalf("re-encoded payload refused: %v\npayload: %s\nencoded: %s", err, payload, encoded)
		}
		if diff := messageDiff(m, again); diff != "" {
			t.Fatalf("re-decoded message differs: %s\npayload: %s\nencoded: %s", diff, payload, encoded)
		}
		if twice := encodeMessage(again); string(twice) != string(encoded) {
			t.Fatalf("encoding is not stable:\n first: %s\nsecond: %s", encoded, twice)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	for _, file := range goldenFiles(f) {
		if file.channel == ChanCmd {
			f.Add(file.payload)
		}
	}
	f.Add([]byte(`{"v":1,"id":"c-1","ts":1,"type":"check_in","args":null}`))
	f.Add([]byte(`{"v":1,"id":"c-1","ts":-1,"type":"silence","args":[1,2]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := DecodeCommand(payload)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		encoded := EncodeCommand(c)
		again, err := DecodeCommand(encoded)
		if err != nil {
			t.Fatalf("re-encoded command refused: %v\npayload: %s\nencoded: %s", err, payload, encoded)
		}
		if again.ID != c.ID || !again.At.Equal(c.At) || again.Type != c.Type || !sameRaw(again.Args, c.Args) {
			t.Fatalf("round trip changed the command: %+v -> %+v", c, again)
		}
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if !slices.Contains(knownCodes, de.Code) {
		t.Fatalf("error %v has unknown code %q", err, de.Code)
	}
}

func countSet(m Message) int {
	n := 0
	for _, set := range []bool{m.Readings != nil, m.Event != nil, m.Accel != nil, m.Status != nil, m.Heartbeat != nil, m.CmdAck != nil} {
		if set {
			n++
		}
	}
	return n
}

// messageDiff compares two decoded messages as the protocol defines them
// equal: detail objects by JSON value, signal quality to the 0.001 the
// encoder writes.
func messageDiff(a, b Message) string {
	a, b = normalized(a), normalized(b)
	if reflect.DeepEqual(a, b) {
		return ""
	}
	return fmt.Sprintf("\n first: %s\nsecond: %s", dump(a), dump(b))
}

func normalized(m Message) Message {
	if m.Readings != nil {
		batch := *m.Readings
		batch.Readings = slices.Clone(batch.Readings)
		for i := range batch.Readings {
			if q := batch.Readings[i].Quality; q >= 0 {
				batch.Readings[i].Quality = float32(math.Round(float64(q)*1000) / 1000)
			}
		}
		m.Readings = &batch
	}
	if m.Event != nil && m.Event.Detail != nil {
		e := *m.Event
		var v any
		if err := json.Unmarshal(e.Detail, &v); err == nil {
			e.Detail, _ = json.Marshal(v)
		}
		m.Event = &e
	}
	if m.Event != nil && m.Event.ClockError != "" {
		// An emergency with a bad or missing clock is taken at receive
		// time and flagged; encoded again it carries that time, so the
		// flag does not survive the round trip by design.
		e := *m.Event
		e.ClockError = ""
		m.Event = &e
	}
	return m
}

func dump(m Message) string {
	b, _ := json.Marshal(inUTC(m))
	return string(b)
}

func sameRaw(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	same, err := sameJSON(a, b)
	return err == nil && same
}
