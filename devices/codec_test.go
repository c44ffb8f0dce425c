package devices

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCommandRoundTrip(t *testing.T) {
	at := time.UnixMilli(1748822399123)
	tests := []Command{
		{ID: "c-1", At: at, Type: CmdCheckIn},
		{ID: "c-2", At: at, Type: CmdSilence},
		{ID: "c-3", At: at, Type: CmdSetHeartbeat, Args: json.RawMessage(`{"seconds":300}`)},
		{ID: "01JX4Q7ZKM3V8R2T5N6P", At: at, Type: CmdCheckIn, Args: json.RawMessage(`{"lang":"ko"}`)},
	}
	for _, c := range tests {
		got, err := DecodeCommand(EncodeCommand(c))
		if err != nil {
			t.Errorf("%s: %v", c.ID, err)
			continue
		}
		if got.ID != c.ID || !got.At.Equal(c.At) || got.Type != c.Type || string(got.Args) != string(c.Args) {
			t.Errorf("round trip of %+v gave %+v", c, got)
		}
	}
}

func TestDecodeCommandRefuses(t *testing.T) {
	tests := []struct {
		payload string
		want    ErrorCode
	}{
		{`{"v":1,"id":"c-1","ts":1,"type":"reboot"}`, CodeUnknownKind},
		{`{"v":2,"id":"c-1","ts":1,"type":"check_in"}`, CodeVersion},
		{`{"id":"c-1","ts":1,"type":"check_in"}`, CodeVersion},
		{`{"v":1,"id":"c 1","ts":1,"type":"check_in"}`, CodeBadID},
		{`{"v":1,"ts":1,"type":"check_in"}`, CodeBadID},
		{`{"v":1,"id":"c-1","ts":"now","type":"check_in"}`, CodeSyntax},
		{`not json`, CodeSyntax},
	}
	for _, tt := range tests {
		_, err := DecodeCommand([]byte(tt.payload))
		if got := CodeOf(err); got != tt.want {
			t.Errorf("DecodeCommand(%s): code %q, want %q (%v)", tt.payload, got, tt.want, err)
		}
	}
}

func TestCommandAckRoundTrip(t *testing.T) {
	at := time.UnixMilli(1748822399500)
	for _, st := range []AckStatus{AckAccepted, AckDone, AckFailed, AckUnsupported} {
		a := CommandAck{Hub: testHub, ID: "c-7f3a91", Status: st, At: at, Received: testNow}
		if st == AckFailed {
			a.Detail = "speaker fault"
		}
		m, err := Decode(Topic(testHub, ChanCmdAck), EncodeCmdAck(a), testNow)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if !reflect.DeepEqual(*m.CmdAck, a) {
			t.Errorf("round trip of %+v gave %+v", a, *m.CmdAck)
		}
	}
}

func TestRejectRoundTrip(t *testing.T) {
	tests := []Reject{
		{At: testNow, Topic: "dolbom/v1/hub-0001/readings", Code: CodeOutOfRange, Error: "readings[2]: heart_rate 900 bpm outside 0-300"},
		{At: testNow, Topic: "dolbom/v1/hub-0001/events", EventID: "e-000192", Code: CodeRateLimited, Error: "send again later"},
		// The longest topic a hub can publish on must come back whole: the
		// hub needs its channel to know which message was refused.
		{At: testNow, Topic: Topic(HubID("kr-11680-"+strings.Repeat("0", MaxIDLen-9)), ChanHeartbeat),
			Code: CodeSyntax, Error: "bad json"},
	}
	for _, r := range tests {
		got, err := DecodeReject(EncodeReject(r))
		if err != nil {
			t.Fatal(err)
		}
		if !got.At.Equal(r.At) || got.Topic != r.Topic || got.EventID != r.EventID || got.Code != r.Code || got.Error != r.Error {
			t.Errorf("round trip of %+v gave %+v", r, got)
		}
	}
}

// TestStoredStringsAreCutOnACharacterBoundary covers firmware, model and ack
// detail strings longer than the gateway keeps: the cut must leave valid
// UTF-8 (PostgreSQL refuses anything else) and re-encoding must not change it.
func TestStoredStringsAreCutOnACharacterBoundary(t *testing.T) {
	long := "돌봄 허브 펌웨어 2.4.10 (빌드빌드 2025)" // 3-byte runes straddle byte 40
	payload, _ := json.Marshal(map[string]any{"v": 1, "state": "online", "ts": testNow.UnixMilli(), "fw": long, "model": long})
	m, err := Decode(Topic(testHub, ChanStatus), payload, testNow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(Topic(testHub, ChanStatus), EncodeStatus(*m.Status), testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{m.Status.Firmware, m.Status.Model} {
		if !utf8.ValidString(s) {
			t.Errorf("kept %q: not valid UTF-8", s)
		}
		if len(s) > 40 {
			t.Errorf("kept %d bytes, limit 40", len(s))
		}
	}
	if again.Status.Firmware != m.Status.Firmware {
		t.Errorf("re-encoding changed the firmware from %q to %q", m.Status.Firmware, again.Status.Firmware)
	}
}

// TestEncodeEventKeepsDetailWithinItsLimit: a detail the decoder accepted
// must still fit its limit once re-encoded (no HTML escaping that would
// multiply '<', '>' and '&' by six).
func TestEncodeEventKeepsDetailWithinItsLimit(t *testing.T) {
	detail := `{"trace": "` + strings.Repeat("<&>", 1300) + `"}`
	payload := []byte(`{"v":1,"id":"e-1","ts":1748822400000,"kind":"sensor_fault","detail":` + detail + `}`)
	m, err := Decode(Topic(testHub, ChanEvents), payload, testNow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(Topic(testHub, ChanEvents), EncodeEvent(*m.Event), testNow)
	if err != nil {
		t.Fatalf("re-encoded event refused: %v", err)
	}
	if same, err := sameJSON(again.Event.Detail, m.Event.Detail); err != nil || !same {
		t.Errorf("detail changed: %s", again.Event.Detail)
	}
}

// An emergency is never refused over the hub's clock: it is taken at the
// receive time, marked, and the hub is warned; any other event is refused.
func TestEmergencyEventWithBadClockIsAccepted(t *testing.T) {
	now := time.UnixMilli(1748822400000)
	cases := []struct {
		name    string
		ts      string
		kind    string
		wantErr ErrorCode // for the non-emergency variant
	}{
		{"clock reset to 1970", `"ts":1000,`, "sos", CodeTooOld},
		{"clock a day ahead", `"ts":1748908800000,`, "fall", CodeFuture},
		{"no timestamp", ``, "smoke_alarm", CodeMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := []byte(`{"v":1,"id":"e-1",` + c.ts + `"kind":"` + c.kind + `","sensor":"s1"}`)
			m, err := Decode("dolbom/v1/hub-1/events", payload, now)
			if err != nil {
				t.Fatalf("emergency %s refused: %v", c.kind, err)
			}
			if !m.Event.At.Equal(now) || m.Event.ClockError != c.wantErr {
				t.Errorf("At = %v, ClockError = %q; want receive time and %q", m.Event.At, m.Event.ClockError, c.wantErr)
			}
			motion := []byte(`{"v":1,"id":"e-1",` + c.ts + `"kind":"motion","sensor":"s1"}`)
			if _, err := Decode("dolbom/v1/hub-1/events", motion, now); CodeOf(err) != c.wantErr {
				t.Errorf("motion event with the same clock: error %v, want %q", err, c.wantErr)
			}
		})
	}
	m, err := Decode("dolbom/v1/hub-1/events", []byte(`{"v":1,"id":"e-2","ts":1748822399000,"kind":"sos"}`), now)
	if err != nil || m.Event.ClockError != "" {
		t.Fatalf("good clock: %v, ClockError %q", err, m.Event.ClockError)
	}
}

// What the decoder accepts must be storable on both back ends: PostgreSQL
// refuses invalid UTF-8, NUL in text, and the \u0000 escape in jsonb.
func TestDecodedTextIsStorable(t *testing.T) {
	now := time.UnixMilli(1748822400000)
	for _, detail := range []string{`{"x":"\u0000"}`, "{\"x\":\"\xff\xfe\"}"} {
		payload := []byte(`{"v":1,"id":"e-1","ts":1748822400000,"kind":"sos","detail":` + detail + `}`)
		if _, err := Decode("dolbom/v1/hub-1/events", payload, now); CodeOf(err) != CodeSyntax {
			t.Errorf("detail %q: error %v, want %s", detail, err, CodeSyntax)
		}
	}
	m, err := Decode("dolbom/v1/hub-1/status", []byte(`{"v":1,"ts":1748822400000,"state":"online","fw":"1.2\u0000.3\n","model":"허브\u0007"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status.Firmware != "1.2.3" || m.Status.Model != "허브" {
		t.Errorf("fw %q, model %q: control characters kept", m.Status.Firmware, m.Status.Model)
	}
}

// The decoder reads JSON strictly, as the schema does: a member given twice
// is refused (which value would a reviewer of the stored payload believe?),
// and names are case-sensitive ("Kind" is not "kind").
func TestStrictJSON(t *testing.T) {
	now := time.UnixMilli(1748822400000)
	dup := []byte(`{"v":1,"id":"e-1","ts":1748822399000,"kind":"motion","kind":"sos","sensor":"s1"}`)
	if _, err := Decode("dolbom/v1/hub-1/events", dup, now); CodeOf(err) != CodeSyntax {
		t.Errorf("duplicate member: error %v, want %q", err, CodeSyntax)
	}
	upper := []byte(`{"v":1,"id":"e-1","ts":1748822399000,"Kind":"sos","sensor":"s1"}`)
	if _, err := Decode("dolbom/v1/hub-1/events", upper, now); CodeOf(err) != CodeUnknownKind {
		t.Errorf(`"Kind" for "kind": error %v, want %q`, err, CodeUnknownKind)
	}
}
