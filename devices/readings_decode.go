package devices

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// A readings batch is most of what hubs send (one per hub per minute), and
// decoding it through json/v2's reflection was the gateway's largest
// per-message cost of its own (docs/performance.md, "Per-message costs").
// wireReadingsIn therefore decodes itself from the token stream: the same
// rules as the reflective decoder it replaces (exact member names, unknown
// members skipped, null leaving a field unset, duplicate names and invalid
// UTF-8 refused by jsontext, numbers kept as optNumber literals), without
// reflection, and without allocating the strings hubs repeat: metric names
// are the protocol's own constants, sensor ids come from a small cache kept
// with the pooled decoder state.

// metricNames maps a metric's wire name to its constant, so that decoding a
// known metric allocates nothing.
var metricNames = func() map[string]Metric {
	m := make(map[string]Metric, len(Metrics))
	for k := range Metrics {
		m[string(k)] = k
	}
	return m
}()

// maxInterned bounds the sensor id cache of one pooled decoder: a hub
// naming its sensors freshly in every batch costs allocations, not memory.
const maxInterned = 256

// UnmarshalJSONFrom decodes a readings batch object (or null).
func (w *wireReadingsIn) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	return readObject(dec, "readings batch", func(name []byte) error {
		switch string(name) {
		case "v":
			v, ok, err := readOptInt(dec)
			if err != nil {
				return err
			}
			w.v, w.V = int(v), nil
			if ok {
				w.V = &w.v
			}
		case "sent":
			v, ok, err := readOptInt(dec)
			if err != nil {
				return err
			}
			w.sent, w.Sent = v, nil
			if ok {
				w.Sent = &w.sent
			}
		case "readings":
			return w.readReadings(dec)
		default:
			return dec.SkipValue()
		}
		return nil
	})
}

func (w *wireReadingsIn) readReadings(dec *jsontext.Decoder) error {
	w.Readings = w.Readings[:0]
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	default:
		return unexpected(dec, "readings array")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		w.Readings = append(w.Readings, wireReadingIn{})
		if err := w.readReading(dec, &w.Readings[len(w.Readings)-1]); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

func (w *wireReadingsIn) readReading(dec *jsontext.Decoder, r *wireReadingIn) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		return err
	}
	return readObject(dec, "reading", func(name []byte) error {
		switch string(name) {
		case "sensor":
			return readString(dec, &r.Sensor, w.intern)
		case "metric":
			return readString(dec, &r.Metric, func(b []byte) string {
				if m, ok := metricNames[string(b)]; ok {
					return string(m)
				}
				return string(b)
			})
		case "ts":
			return r.TS.UnmarshalJSONFrom(dec)
		case "value":
			return r.Value.UnmarshalJSONFrom(dec)
		case "quality":
			return r.Quality.UnmarshalJSONFrom(dec)
		default:
			return dec.SkipValue()
		}
	})
}

// readOptInt reads an integer or null (ok false).
func readOptInt(dec *jsontext.Decoder) (n int64, ok bool, err error) {
	var o optNumber
	if err := o.UnmarshalJSONFrom(dec); err != nil || !o.set {
		return 0, false, err
	}
	n, err = o.int()
	return n, err == nil, err
}

// intern returns b as a string, shared with earlier batches decoded with
// the same pooled state.
func (w *wireReadingsIn) intern(b []byte) string {
	if s, ok := w.sensors[string(b)]; ok {
		return s
	}
	if w.sensors == nil || len(w.sensors) >= maxInterned {
		w.sensors = make(map[string]string, 32)
	}
	s := string(b)
	w.sensors[s] = s
	return s
}

// readObject reads an object, calling member for each name with the
// decoder at the member's value, which member must consume.
func readObject(dec *jsontext.Decoder, what string, member func(name []byte) error) error {
	if dec.PeekKind() != '{' {
		return unexpected(dec, what+" object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		raw, err := dec.ReadValue() // the name: duplicates are refused here
		if err != nil {
			return err
		}
		name, err := unquote(raw)
		if err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readString sets *dst from a JSON string (null leaves it unset), made a
// string by conv.
func readString(dec *jsontext.Decoder, dst *string, conv func([]byte) string) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '"':
	default:
		return unexpected(dec, "string")
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	b, err := unquote(raw)
	if err != nil {
		return err
	}
	*dst = conv(b)
	return nil
}

// unquote returns a JSON string's content, a view into raw unless it has
// escapes.
func unquote(raw jsontext.Value) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, errors.New("not a JSON string")
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	return jsontext.AppendUnquote(nil, raw)
}

// unexpected consumes the next value (so that the error is about it) and
// says what was expected instead.
func unexpected(dec *jsontext.Decoder, want string) error {
	k := dec.PeekKind()
	if k == 0 {
		_, err := dec.ReadToken()
		if err == nil {
			err = errors.New("unexpected end of input")
		}
		return err
	}
	if err := dec.SkipValue(); err != nil {
		return err
	}
	return fmt.Errorf("cannot unmarshal JSON %s into a %s", k, want)
}
