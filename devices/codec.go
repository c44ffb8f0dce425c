package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	// The Go team's encoding/json/v2 (in the standard library behind
	// GOEXPERIMENT=jsonv2 since Go 1.25): it decodes a readings batch in
	// about half the time of encoding/json with a third fewer allocations
	// (docs/performance.md), and it is strict where the protocol is:
	// case-sensitive names, no duplicate members, valid UTF-8. Switch the
	// import to encoding/json/v2 once it is no longer an experiment.
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits are the bounds the decoder enforces. The zero value is not useful;
// start from DefaultLimits.
type Limits struct {
	MaxPayload  int           // bytes of one MQTT payload
	MaxReadings int           // readings in one batch
	MaxSamples  int           // accelerometer samples per axis in one chunk
	MaxDetail   int           // bytes of an event's detail object
	MaxFuture   time.Duration // how far a hub's timestamp may run ahead of the gateway
	MaxPast     time.Duration // how old a store-and-forwarded message may be
	MaxG        float64       // largest plausible acceleration magnitude per axis, in g
}

// DefaultLimits are the protocol's published limits (docs/protocol.md).
var DefaultLimits = Limits{
	MaxPayload:  64 << 10,
	MaxReadings: 500,
	MaxSamples:  800, // 4 s at 200 Hz
	MaxDetail:   4 << 10,
	MaxFuture:   10 * time.Minute,
	MaxPast:     7 * 24 * time.Hour,
	MaxG:        32,
}

// Version is the protocol version this package speaks.
const Version = 1

// Decode decodes the payload of an upstream topic with DefaultLimits.
func Decode(topic string, payload []byte, now time.Time) (Message, error) {
	return DefaultLimits.Decode(topic, payload, now)
}

// Decode parses and validates a message a hub published on topic. now is the
// gateway's clock; it bounds the timestamps and becomes the Received time.
func (l Limits) Decode(topic string, payload []byte, now time.Time) (Message, error) {
	hub, ch, err := ParseTopic(topic)
	if err != nil {
		return Message{}, err
	}
	return l.DecodeFrom(hub, ch, payload, now)
}

// DecodeFrom is Decode for a message whose topic is known to be hub's own
// channel ch (ch is checked as ParseTopic checks it; hub is not). The
// decoded message carries hub's string itself, not a piece of the topic:
// the broker passes the connection's client id, the string its connect and
// disconnect reports carry too, so that the detectors' per-hub maps, keyed
// by such a string, match it by pointer without reading the key's bytes
// (cache misses per message at national scale; docs/performance.md,
// "Per-message costs").
func (l Limits) DecodeFrom(hub HubID, ch Channel, payload []byte, now time.Time) (Message, error) {
	return l.decodeFrom(hub, ch, payload, now, false)
}

// decodeFrom is DecodeFrom, with a readings batch from the pool when shared
// (DecodeShared).
func (l Limits) decodeFrom(hub HubID, ch Channel, payload []byte, now time.Time, shared bool) (Message, error) {
	if !ch.Upstream() && !ch.Downstream() {
		return Message{}, &DecodeError{Code: CodeTopic, Msg: "unknown channel " + quote(string(ch))}
	}
	if !ch.Upstream() {
		return Message{}, errf(CodeNotPermitted, "hubs do not publish on "+string(ch))
	}
	if len(payload) > l.MaxPayload {
		return Message{}, errf(CodeTooLarge, fmt.Sprintf("payload %d bytes, limit %d", len(payload), l.MaxPayload))
	}
	var err error
	m := Message{Hub: hub, Channel: ch}
	switch ch {
	case ChanReadings:
		m.Readings, err = l.decodeReadings(hub, payload, now, shared)
	case ChanEvents:
		m.Event, err = l.decodeEvent(hub, payload, now)
	case ChanAccel:
		m.Accel, err = l.decodeAccel(hub, payload, now)
	case ChanStatus:
		m.Status, err = l.decodeStatus(hub, payload, now)
	case ChanHeartbeat:
		m.Heartbeat, err = l.decodeHeartbeat(hub, payload, now)
	case ChanCmdAck:
		m.CmdAck, err = l.decodeCmdAck(hub, payload, now)
	}
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

// Wire forms. Pointers tell an absent field from a zero one; unknown fields
// are ignored so that vendors can add their own without breaking v1.

type wireHeader struct {
	V *int `json:"v"`
}

type wireReadings struct {
	wireHeader
	Sent     *int64        `json:"sent"`
	Readings []wireReading `json:"readings"`
}

type wireReading struct {
	Sensor  string   `json:"sensor"`
	Metric  string   `json:"metric"`
	TS      *int64   `json:"ts"`
	Value   *float64 `json:"value"`
	Quality *float64 `json:"quality,omitempty"`
}

type wireEvent struct {
	wireHeader
	ID     string          `json:"id"`
	TS     *int64          `json:"ts"`
	Kind   string          `json:"kind"`
	Sensor string          `json:"sensor,omitempty"`
	Value  *float64        `json:"value,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

type wireAccel struct {
	wireHeader
	Sensor string    `json:"sensor"`
	TS     *int64    `json:"ts"`
	Hz     int       `json:"hz"`
	X      []float32 `json:"x"`
	Y      []float32 `json:"y"`
	Z      []float32 `json:"z"`
}

type wireStatus struct {
	wireHeader
	TS         *int64 `json:"ts,omitempty"`
	State      string `json:"state"`
	Firmware   string `json:"fw,omitempty"`
	Model      string `json:"model,omitempty"`
	HeartbeatS int    `json:"heartbeat_s,omitempty"`
}

type wireHeartbeat struct {
	wireHeader
	TS      *int64 `json:"ts"`
	UptimeS int64  `json:"uptime_s,omitempty"`
	RSSI    int    `json:"rssi,omitempty"`
	Queued  int    `json:"queued,omitempty"`
}

type wireCmdAck struct {
	wireHeader
	ID     string `json:"id"`
	TS     *int64 `json:"ts"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Step   string `json:"step,omitempty"`
	FW     string `json:"fw,omitempty"`
}

type wireCommand struct {
	V    int             `json:"v"`
	ID   string          `json:"id"`
	TS   int64           `json:"ts"`
	Type string          `json:"type"`
	Args json.RawMessage `json:"args,omitempty"`
}

type wireReject struct {
	V     int    `json:"v"`
	TS    int64  `json:"ts"`
	Topic string `json:"topic"`
	ID    string `json:"id,omitempty"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// unmarshal decodes a hub's payload (json/v2 semantics, see the import).
func unmarshal(payload []byte, v any) error {
	if err := jsonv2.Unmarshal(payload, v); err != nil {
		return errf(CodeSyntax, truncate(err.Error()))
	}
	return nil
}

// versioned is a wire form that carries the protocol header: every message
// a hub sends.
type versioned interface{ header() wireHeader }

func (h wireHeader) header() wireHeader { return h }

// unmarshalV1 is every hub message decoder's first step: the payload into
// w, then its protocol version.
func unmarshalV1(payload []byte, w versioned) error {
	if err := unmarshal(payload, w); err != nil {
		return err
	}
	return checkVersion(w.header())
}

// checkToken refuses an identifier field that is not a token (ValidToken),
// naming the field.
func checkToken(field, v string) error {
	if !ValidToken(v) {
		return errf(CodeBadID, `"`+field+`" must be 1-64 characters of [A-Za-z0-9._:-], got `+quote(v))
	}
	return nil
}

func checkVersion(h wireHeader) error {
	if h.V == nil {
		return errf(CodeMissing, `"v" (protocol version) is required`)
	}
	if *h.V != Version {
		return errf(CodeVersion, fmt.Sprintf(`"v" is %d; this gateway speaks %d`, *h.V, Version))
	}
	return nil
}

// timestamp converts a hub timestamp (Unix milliseconds) and bounds it.
func (l Limits) timestamp(field string, ts *int64, now time.Time) (time.Time, error) {
	if ts == nil {
		return time.Time{}, errf(CodeMissing, quote(field)+" (Unix milliseconds) is required")
	}
	t := time.UnixMilli(*ts)
	if t.After(now.Add(l.MaxFuture)) {
		return time.Time{}, errf(CodeFuture, fmt.Sprintf("%s %d is %s ahead of the gateway clock (limit %s)",
			field, *ts, t.Sub(now).Round(time.Second), l.MaxFuture))
	}
	if t.Before(now.Add(-l.MaxPast)) {
		return time.Time{}, errf(CodeTooOld, fmt.Sprintf("%s %d is %s old (limit %s)",
			field, *ts, now.Sub(t).Round(time.Second), l.MaxPast))
	}
	return t, nil
}

// wireReadingsIn is the decoder's form of a readings batch: numbers that
// may be absent are optNumbers rather than pointers, so that decoding a
// reading allocates nothing but its strings. It decodes itself
// (readings_decode.go).
type wireReadingsIn struct {
	wireHeader
	Sent     *int64
	Readings []wireReadingIn
	sensors  map[string]string // sensor ids seen, kept across pooled uses
	v        int               // where V points, rather than a heap int
	sent     int64             // where Sent points
}

type wireReadingIn struct {
	Sensor  string
	Metric  string
	TS      optNumber
	Value   optNumber
	Quality optNumber
}

// optNumber is a JSON number that may be absent or null (set false).
// It keeps the literal and is converted by int or float, which accept what
// decoding into *int64 or *float64 accepts.
type optNumber struct {
	raw [32]byte
	n   uint8
	set bool
}

// UnmarshalJSONFrom takes a number or null; anything else is refused as
// decoding into a number refuses it.
func (o *optNumber) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n':
		*o = optNumber{}
		return nil
	case '0':
		if len(v) > len(o.raw) {
			// Longer than any number a hub means: parse it the slow way.
			return o.long(v)
		}
		o.n = uint8(copy(o.raw[:], v))
		o.set = true
		return nil
	}
	return fmt.Errorf("cannot unmarshal JSON %s into a number", v.Kind())
}

// long keeps a number literal longer than raw when it is a plain float.
func (o *optNumber) long(v jsontext.Value) error {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return fmt.Errorf("cannot unmarshal JSON number %s: %w", truncate(string(v)), err)
	}
	b := strconv.AppendFloat(o.raw[:0], f, 'g', -1, 64)
	o.n = uint8(len(b))
	o.set = true
	return nil
}

func (o *optNumber) bytes() []byte { return o.raw[:o.n] }

// int returns the number as an int64, refusing a fraction, an exponent
// and an overflow, as decoding into int64 does.
func (o *optNumber) int() (int64, error) {
	n, err := strconv.ParseInt(unsafeString(o.bytes()), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, errf(CodeSyntax, "JSON number "+string(o.bytes())+" out of range")
	case err != nil:
		return 0, errf(CodeSyntax, "cannot unmarshal JSON number "+string(o.bytes())+" into an integer")
	}
	return n, nil
}

// float returns the number as a float64, refusing one beyond its range.
func (o *optNumber) float() (float64, error) {
	f, err := strconv.ParseFloat(unsafeString(o.bytes()), 64)
	if err != nil {
		return 0, errf(CodeSyntax, "JSON number "+string(o.bytes())+" out of range")
	}
	return f, nil
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// readingsPool recycles the decoder's readings slice: a batch is decoded
// into it, then copied into the ReadingBatch handed on.
var readingsPool = sync.Pool{New: func() any { return new(wireReadingsIn) }}

func (l Limits) decodeReadings(hub HubID, payload []byte, now time.Time, shared bool) (*ReadingBatch, error) {
	w := readingsPool.Get().(*wireReadingsIn)
	defer func() {
		if cap(w.Readings) <= l.MaxReadings {
			*w = wireReadingsIn{Readings: w.Readings[:0], sensors: w.sensors}
			readingsPool.Put(w)
		}
	}()
	if err := unmarshalV1(payload, w); err != nil {
		return nil, err
	}
	sent, err := l.timestamp("sent", w.Sent, now)
	if err != nil {
		return nil, err
	}
	if len(w.Readings) == 0 {
		return nil, errf(CodeMissing, `"readings" must hold at least one reading`)
	}
	if len(w.Readings) > l.MaxReadings {
		return nil, errf(CodeTooMany, fmt.Sprintf("%d readings in one batch, limit %d", len(w.Readings), l.MaxReadings))
	}
	b := newBatch(len(w.Readings), shared)
	b.Hub, b.SentAt, b.Received = hub, sent, now
	for i := range w.Readings {
		if err := l.reading(&w.Readings[i], &b.Readings[i], now); err != nil {
			b.Release() // nobody else has seen it
			return nil, errf(CodeOf(err), "readings["+strconv.Itoa(i)+"]: "+err.(*DecodeError).Msg)
		}
		// A hub names a sensor in several readings in a row: share the
		// string rather than keep a copy per reading.
		if i > 0 && b.Readings[i].Sensor == b.Readings[i-1].Sensor {
			b.Readings[i].Sensor = b.Readings[i-1].Sensor
		}
	}
	return b, nil
}

func (l Limits) reading(w *wireReadingIn, r *Reading, now time.Time) error {
	if err := checkToken("sensor", w.Sensor); err != nil {
		return err
	}
	m := Metric(w.Metric)
	spec, ok := Metrics[m]
	if !ok {
		return errf(CodeUnknownKind, "unknown metric "+quote(w.Metric))
	}
	var ts *int64
	if w.TS.set {
		t, err := w.TS.int()
		if err != nil {
			return err
		}
		ts = &t
	}
	at, err := l.timestamp("ts", ts, now)
	if err != nil {
		return err
	}
	if !w.Value.set {
		return errf(CodeMissing, `"value" is required`)
	}
	v, err := w.Value.float()
	if err != nil {
		return err
	}
	if v < spec.Min || v > spec.Max || (spec.Binary && v != 0 && v != 1) {
		return errf(CodeOutOfRange, fmt.Sprintf("%s %g %s outside %g-%g", m, v, spec.Unit, spec.Min, spec.Max))
	}
	q := float32(-1)
	if spec.NeedsQuality {
		if !w.Quality.set {
			return errf(CodeMissing, fmt.Sprintf(`%s needs "quality" (0-1)`, m))
		}
		wq, err := w.Quality.float()
		if err != nil {
			return err
		}
		if wq < 0 || wq > 1 {
			return errf(CodeOutOfRange, fmt.Sprintf("quality %g outside 0-1", wq))
		}
		q = float32(wq)
	}
	*r = Reading{Sensor: SensorID(w.Sensor), Metric: m, At: at, Value: v, Quality: q}
	return nil
}

func (l Limits) decodeEvent(hub HubID, payload []byte, now time.Time) (*Event, error) {
	var w wireEvent
	if err := unmarshalV1(payload, &w); err != nil {
		return nil, err
	}
	if err := checkToken("id", w.ID); err != nil {
		return nil, err
	}
	k := EventKind(w.Kind)
	if k.Class() == "" {
		return nil, errf(CodeUnknownKind, "unknown event kind "+quote(w.Kind))
	}
	if w.Sensor != "" {
		if err := checkToken("sensor", w.Sensor); err != nil {
			return nil, err
		}
	}
	at, err := l.timestamp("ts", w.TS, now)
	clockErr := ErrorCode("")
	if err != nil {
		if !k.IsEmergency() {
			return nil, err
		}
		// Never refuse an emergency over a clock: a hub whose clock was
		// reset (1970) or runs ahead still has a resident pressing SOS. It
		// is taken at the gateway's receive time and the hub is warned.
		at, clockErr = now, CodeOf(err)
	}
	e := &Event{Hub: hub, ID: EventID(w.ID), Kind: k, Sensor: SensorID(w.Sensor), At: at, Received: now, ClockError: clockErr}
	if w.Value != nil {
		if math.Abs(*w.Value) > 1e6 {
			return nil, errf(CodeOutOfRange, fmt.Sprintf("value %g is not plausible", *w.Value))
		}
		e.Value, e.HasValue = *w.Value, true
	}
	if len(w.Detail) > 0 && !bytes.Equal(w.Detail, []byte("null")) {
		if len(w.Detail) > l.MaxDetail {
			return nil, errf(CodeTooLarge, fmt.Sprintf(`"detail" is %d bytes, limit %d`, len(w.Detail), l.MaxDetail))
		}
		if w.Detail[0] != '{' {
			return nil, errf(CodeSyntax, `"detail" must be a JSON object`)
		}
		// Kept verbatim as evidence, so it must be storable everywhere:
		// PostgreSQL's jsonb refuses invalid UTF-8 and the \u0000 escape.
		if !utf8.Valid(w.Detail) || bytes.Contains(w.Detail, []byte(`\u0000`)) {
			return nil, errf(CodeSyntax, `"detail" must be valid UTF-8 without \u0000`)
		}
		e.Detail = bytes.Clone(w.Detail)
	}
	return e, nil
}

func (l Limits) decodeAccel(hub HubID, payload []byte, now time.Time) (*AccelChunk, error) {
	var w wireAccel
	if err := unmarshalV1(payload, &w); err != nil {
		return nil, err
	}
	if err := checkToken("sensor", w.Sensor); err != nil {
		return nil, err
	}
	at, err := l.timestamp("ts", w.TS, now)
	if err != nil {
		return nil, err
	}
	if w.Hz < 1 || w.Hz > 400 {
		return nil, errf(CodeOutOfRange, fmt.Sprintf(`"hz" %d outside 1-400`, w.Hz))
	}
	n := len(w.X)
	if n == 0 {
		return nil, errf(CodeMissing, `"x", "y" and "z" must hold samples`)
	}
	if len(w.Y) != n || len(w.Z) != n {
		return nil, errf(CodeSyntax, fmt.Sprintf(`"x", "y", "z" lengths differ: %d, %d, %d`, n, len(w.Y), len(w.Z)))
	}
	if n > l.MaxSamples {
		return nil, errf(CodeTooMany, fmt.Sprintf("%d samples per axis, limit %d", n, l.MaxSamples))
	}
	for _, axis := range [3][]float32{w.X, w.Y, w.Z} {
		for i, v := range axis {
			if math.Abs(float64(v)) > l.MaxG {
				return nil, errf(CodeOutOfRange, fmt.Sprintf("sample %d is %g g, limit ±%g g", i, v, l.MaxG))
			}
		}
	}
	return &AccelChunk{Hub: hub, Sensor: SensorID(w.Sensor), At: at, Received: now, RateHz: w.Hz, X: w.X, Y: w.Y, Z: w.Z}, nil
}

func (l Limits) decodeStatus(hub HubID, payload []byte, now time.Time) (*Status, error) {
	var w wireStatus
	if err := unmarshalV1(payload, &w); err != nil {
		return nil, err
	}
	s := &Status{Hub: hub, State: HubState(w.State), Received: now, Firmware: cleanText(w.Firmware), Model: cleanText(w.Model)}
	switch s.State {
	case HubOnline:
		at, err := l.timestamp("ts", w.TS, now)
		if err != nil {
			return nil, err
		}
		s.At = at
	case HubOffline:
		// A last will is composed at connect time: its ts, if any, is old.
	default:
		return nil, errf(CodeUnknownKind, `"state" must be "online" or "offline", got `+quote(w.State))
	}
	if w.HeartbeatS < 0 || w.HeartbeatS > 3600 {
		return nil, errf(CodeOutOfRange, fmt.Sprintf(`"heartbeat_s" %d outside 0-3600`, w.HeartbeatS))
	}
	s.HeartbeatInterval = time.Duration(w.HeartbeatS) * time.Second
	return s, nil
}

func (l Limits) decodeHeartbeat(hub HubID, payload []byte, now time.Time) (*Heartbeat, error) {
	var w wireHeartbeat
	if err := unmarshalV1(payload, &w); err != nil {
		return nil, err
	}
	at, err := l.timestamp("ts", w.TS, now)
	if err != nil {
		return nil, err
	}
	// uptime_s is bounded to what a 32-bit seconds counter holds; beyond
	// ~292 years it would overflow the time.Duration it is kept in.
	if w.UptimeS < 0 || w.UptimeS > math.MaxUint32 || w.Queued < 0 || w.RSSI > 0 || w.RSSI < -200 {
		return nil, errf(CodeOutOfRange, "uptime_s must be in 0..4294967295, queued >= 0, rssi in -200..0 dBm")
	}
	return &Heartbeat{Hub: hub, At: at, Received: now, Uptime: time.Duration(w.UptimeS) * time.Second, RSSI: w.RSSI, Queued: w.Queued}, nil
}

func (l Limits) decodeCmdAck(hub HubID, payload []byte, now time.Time) (*CommandAck, error) {
	var w wireCmdAck
	if err := unmarshalV1(payload, &w); err != nil {
		return nil, err
	}
	if err := checkToken("id", w.ID); err != nil {
		return nil, err
	}
	at, err := l.timestamp("ts", w.TS, now)
	if err != nil {
		return nil, err
	}
	st := AckStatus(w.Status)
	switch st {
	case AckAccepted, AckDone, AckFailed, AckUnsupported:
	default:
		return nil, errf(CodeUnknownKind, "unknown ack status "+quote(w.Status))
	}
	// A step belongs to an accepted ack and the running version to a done
	// one (section 11.3): elsewhere they would be read as progress or
	// success that did not happen.
	switch FirmwareStep(w.Step) {
	case "":
	case StepDownloading, StepVerified, StepInstalling, StepRebooting:
		if st != AckAccepted {
			return nil, errf(CodeOutOfRange, `"step" belongs only to an "accepted" ack, got status `+quote(w.Status))
		}
	default:
		return nil, errf(CodeUnknownKind, "unknown firmware step "+quote(w.Step))
	}
	if w.FW != "" {
		if st != AckDone {
			return nil, errf(CodeOutOfRange, `"fw" belongs only to a "done" ack, got status `+quote(w.Status))
		}
		if !ValidVersion(w.FW) {
			return nil, errf(CodeBadID, `"fw" must be 1-40 characters of [A-Za-z0-9._:-], got `+quote(w.FW))
		}
	}
	return &CommandAck{Hub: hub, ID: CommandID(w.ID), Status: st, Detail: cleanText(w.Detail), Step: FirmwareStep(w.Step), Firmware: w.FW, At: at, Received: now}, nil
}

// Encoders: the hub side of the protocol (firmware-sim, tests) and the
// gateway's downstream messages. They write what Decode accepts.

func ms(t time.Time) *int64 { v := t.UnixMilli(); return &v }

func v1() wireHeader { v := Version; return wireHeader{V: &v} }

// EncodeReadings writes a readings payload.
func EncodeReadings(b ReadingBatch) []byte {
	w := wireReadings{wireHeader: v1(), Sent: ms(b.SentAt), Readings: make([]wireReading, len(b.Readings))}
	// The wire struct holds pointers (to tell 0 from absent); they point
	// into one array per field instead of a heap value per reading.
	n := len(b.Readings)
	tss, vals, qs := make([]int64, n), make([]float64, n), make([]float64, n)
	for i, r := range b.Readings {
		tss[i], vals[i] = r.At.UnixMilli(), r.Value
		wr := wireReading{Sensor: string(r.Sensor), Metric: string(r.Metric), TS: &tss[i], Value: &vals[i]}
		if r.Quality >= 0 {
			qs[i] = math.Round(float64(r.Quality)*1000) / 1000
			wr.Quality = &qs[i]
		}
		w.Readings[i] = wr
	}
	return mustMarshal(w)
}

// EncodeEvent writes an event payload.
func EncodeEvent(e Event) []byte {
	w := wireEvent{wireHeader: v1(), ID: string(e.ID), TS: ms(e.At), Kind: string(e.Kind), Sensor: string(e.Sensor), Detail: e.Detail}
	if e.HasValue {
		v := e.Value
		w.Value = &v
	}
	return mustMarshal(w)
}

// EncodeAccel writes an accelerometer chunk payload.
func EncodeAccel(c AccelChunk) []byte {
	return mustMarshal(wireAccel{wireHeader: v1(), Sensor: string(c.Sensor), TS: ms(c.At), Hz: c.RateHz, X: c.X, Y: c.Y, Z: c.Z})
}

// EncodeStatus writes a status payload; a zero At is left out (last will).
func EncodeStatus(s Status) []byte {
	w := wireStatus{wireHeader: v1(), State: string(s.State), Firmware: s.Firmware, Model: s.Model,
		HeartbeatS: int(s.HeartbeatInterval / time.Second)}
	if !s.At.IsZero() {
		w.TS = ms(s.At)
	}
	return mustMarshal(w)
}

// EncodeHeartbeat writes a heartbeat payload.
func EncodeHeartbeat(h Heartbeat) []byte {
	return mustMarshal(wireHeartbeat{wireHeader: v1(), TS: ms(h.At), UptimeS: int64(h.Uptime / time.Second), RSSI: h.RSSI, Queued: h.Queued})
}

// EncodeCmdAck writes a command acknowledgement payload.
func EncodeCmdAck(a CommandAck) []byte {
	return mustMarshal(wireCmdAck{wireHeader: v1(), ID: string(a.ID), TS: ms(a.At), Status: string(a.Status), Detail: a.Detail, Step: string(a.Step), FW: a.Firmware})
}

// EncodeCommand writes a command payload for a hub's cmd topic.
func EncodeCommand(c Command) []byte {
	return mustMarshal(wireCommand{V: Version, ID: string(c.ID), TS: c.At.UnixMilli(), Type: string(c.Type), Args: c.Args})
}

// DecodeCommand parses a command payload (the hub side).
func DecodeCommand(payload []byte) (Command, error) {
	var w wireCommand
	if err := unmarshal(payload, &w); err != nil {
		return Command{}, err
	}
	if w.V != Version {
		return Command{}, errf(CodeVersion, fmt.Sprintf(`"v" is %d; expected %d`, w.V, Version))
	}
	if !ValidToken(w.ID) {
		return Command{}, errf(CodeBadID, "bad command id "+quote(w.ID))
	}
	switch CommandType(w.Type) {
	case CmdCheckIn, CmdSilence, CmdSetHeartbeat, CmdFirmwareUpdate:
	default:
		return Command{}, errf(CodeUnknownKind, "unknown command type "+quote(w.Type))
	}
	return Command{ID: CommandID(w.ID), At: time.UnixMilli(w.TS), Type: CommandType(w.Type), Args: w.Args}, nil
}

// EncodeReject writes a reject payload for a hub's rejects topic.
func EncodeReject(r Reject) []byte {
	return mustMarshal(wireReject{V: Version, TS: r.At.UnixMilli(), Topic: truncateTo(r.Topic, maxRejectTopic), ID: string(r.EventID), Code: string(r.Code), Error: r.Error})
}

// maxRejectTopic keeps every valid topic (at most 84 bytes) whole in a
// reject: the hub needs the channel to know which message was refused.
const maxRejectTopic = 128

// DecodeReject parses a reject payload (the hub side).
func DecodeReject(payload []byte) (Reject, error) {
	var w wireReject
	if err := unmarshal(payload, &w); err != nil {
		return Reject{}, err
	}
	return Reject{At: time.UnixMilli(w.TS), Topic: w.Topic, EventID: EventID(w.ID), Code: ErrorCode(w.Code), Error: w.Error}, nil
}

// PeekEventID returns the "id" of an event payload that failed validation, so
// that the reject can name it; "" when it cannot be read.
func PeekEventID(payload []byte) EventID {
	var w struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &w) != nil || !ValidToken(w.ID) {
		return ""
	}
	return EventID(w.ID)
}

func mustMarshal(v any) []byte {
	// No HTML escaping: json.Marshal would turn each '<', '>' or '&' of an
	// event's detail into six bytes, and a detail near MaxDetail would then
	// no longer decode.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only NaN or Inf can get here; encoders are fed validated values.
		panic("devices: encode: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
