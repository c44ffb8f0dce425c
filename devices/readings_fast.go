package devices

import "strconv"

// fast decodes the usual form of a readings batch straight from its bytes:
// the members v, sent and readings, each reading's sensor, metric, ts,
// value and quality, strings of printable ASCII without escapes, numbers
// as JSON writes them. Anything else (an unknown or repeated member, null,
// an escape, a byte outside ASCII, a malformed number, trailing bytes)
// makes it return false, and the batch is decoded again through jsontext
// (UnmarshalJSONFrom), which decides whether it is valid and says why not.
// On what it accepts it agrees with json/v2 (FuzzReadingsDecoderMatchesReflection);
// it costs a fraction of the token-by-token decoder, which spends ~10 µs on
// the simulator's 17-reading batch.
func (w *wireReadingsIn) fast(b []byte) bool {
	s := scanner{b: b}
	ok := s.object(func(name []byte) (uint8, bool) {
		switch string(name) {
		case "v":
			n, ok := s.int()
			w.v, w.V = int(n), &w.v
			return 1, ok
		case "sent":
			n, ok := s.int()
			w.sent, w.Sent = n, &w.sent
			return 2, ok
		case "readings":
			return 4, w.fastReadings(&s)
		}
		return 0, false
	})
	s.space()
	return ok && s.i == len(s.b)
}

func (w *wireReadingsIn) fastReadings(s *scanner) bool {
	if !s.skip('[') {
		return false
	}
	w.Readings = w.Readings[:0]
	if s.skip(']') {
		if w.Readings == nil {
			w.Readings = []wireReadingIn{} // as json/v2: [] is not null
		}
		return true
	}
	for {
		w.Readings = append(w.Readings, wireReadingIn{})
		if !w.fastReading(s, &w.Readings[len(w.Readings)-1]) {
			return false
		}
		if s.skip(',') {
			continue
		}
		return s.skip(']')
	}
}

func (w *wireReadingsIn) fastReading(s *scanner, r *wireReadingIn) bool {
	return s.object(func(name []byte) (uint8, bool) {
		switch string(name) {
		case "sensor":
			v, ok := s.str()
			if ok {
				r.Sensor = w.intern(v)
			}
			return 1, ok
		case "metric":
			v, ok := s.str()
			m, known := metricNames[string(v)]
			r.Metric = string(m)
			return 2, ok && known // an unknown metric: the slow path names it
		case "ts":
			return 4, s.number(&r.TS)
		case "value":
			return 8, s.number(&r.Value)
		case "quality":
			return 16, s.number(&r.Quality)
		}
		return 0, false
	})
}

// object reads an object whose members member reads: it returns the
// member's bit (each name may appear once) and whether its value was read.
func (s *scanner) object(member func(name []byte) (bit uint8, ok bool)) bool {
	if !s.skip('{') {
		return false
	}
	if s.skip('}') {
		return true
	}
	var seen uint8
	for {
		name, ok := s.str()
		if !ok || !s.skip(':') {
			return false
		}
		bit, ok := member(name)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.skip(',') {
			continue
		}
		return s.skip('}')
	}
}

// scanner reads JSON bytes for fast.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skip consumes c after whitespace, reporting whether it was there.
func (s *scanner) skip(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (s *scanner) str() ([]byte, bool) {
	if !s.skip('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// literal reads a number as JSON's grammar has it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) literal() ([]byte, bool) {
	s.space()
	b, j := s.b, s.i
	digits := func() int {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case digits() == 0:
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			return nil, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	v := b[s.i:j]
	s.i = j
	return v, true
}

// number reads a number into o, as optNumber.UnmarshalJSONFrom would.
func (s *scanner) number(o *optNumber) bool {
	v, ok := s.literal()
	if !ok || len(v) > len(o.raw) {
		return false
	}
	o.n = uint8(copy(o.raw[:], v))
	o.set = true
	return true
}

// int reads an integer that fits an int64.
func (s *scanner) int() (int64, bool) {
	v, ok := s.literal()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafeString(v), 10, 64)
	return n, err == nil
}
