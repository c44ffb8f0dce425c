package firmwaresim

import (
	"math"
	"strconv"
	"sync"

	"github.com/dolbom/dolbom/devices"
)

// AppendReadings appends the readings payload of b to dst: byte for byte
// what devices.EncodeReadings writes (a test holds it to that), without its
// reflection, wire structs and fresh buffer per batch. In a one-process load
// run the simulator shares the gateway's garbage collector, and the minute
// batches are most of what hubs send. A batch the fast path cannot write
// exactly (a string that JSON would escape, a value that is not finite) is
// left to devices.EncodeReadings.
func AppendReadings(dst []byte, b devices.ReadingBatch) []byte {
	for _, r := range b.Readings {
		if !plainJSON(string(r.Sensor)) || !plainJSON(string(r.Metric)) || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) ||
			math.IsInf(float64(r.Quality), 1) {
			return append(dst, devices.EncodeReadings(b)...)
		}
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, devices.Version, 10)
	dst = append(dst, `,"sent":`...)
	dst = strconv.AppendInt(dst, b.SentAt.UnixMilli(), 10)
	dst = append(dst, `,"readings":[`...)
	for i, r := range b.Readings {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sensor":"`...)
		dst = append(dst, r.Sensor...)
		dst = append(dst, `","metric":"`...)
		dst = append(dst, r.Metric...)
		dst = append(dst, `","ts":`...)
		dst = strconv.AppendInt(dst, r.At.UnixMilli(), 10)
		dst = append(dst, `,"value":`...)
		dst = appendJSONFloat(dst, r.Value)
		if r.Quality >= 0 {
			// As devices.EncodeReadings rounds it: three decimals.
			dst = append(dst, `,"quality":`...)
			dst = appendJSONFloat(dst, math.Round(float64(r.Quality)*1000)/1000)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// plainJSON reports whether encoding/json writes s between quotes as it is:
// printable ASCII other than '"' and '\' (HTML characters are not escaped by
// the devices encoder).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONFloat formats a finite float64 as encoding/json does (ES6
// number formatting: exponent form only below 1e-6 or from 1e21, without
// a leading zero in the exponent).
func appendJSONFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// payloadBuf is a pooled payload of a QoS 1 message. The hub keeps the
// payload until the message's PUBACK (it is resent, with DUP, after a
// reconnect), so it goes back to the pool only then, or when the hub gives
// the message up (store and forward thinning).
type payloadBuf struct{ b []byte }

// maxPooledPayload keeps an occasional large payload from being held in the
// pool for ever.
const maxPooledPayload = 16 << 10

var payloadPool = sync.Pool{New: func() any { return &payloadBuf{b: make([]byte, 0, 2048)} }}

func getPayload() *payloadBuf { return payloadPool.Get().(*payloadBuf) }

func putPayload(p *payloadBuf, used []byte) {
	if cap(used) > maxPooledPayload {
		return
	}
	p.b = used[:0]
	payloadPool.Put(p)
}
