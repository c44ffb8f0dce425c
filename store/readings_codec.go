package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dolbom/dolbom/devices"
)

// Raw readings are stored as one row per received batch (reading_batches),
// the batch's readings packed into one blob: at national scale a row and two
// index entries per reading was ~7 B-tree writes per reading, and the single
// readings writer fell behind. The blob is self-contained:
//
//	byte     version (1)
//	uvarint  number of (sensor, metric) pairs, then each pair as
//	         uvarint length + sensor bytes, uvarint length + metric bytes
//	uvarint  number of readings
//	varint   base time, Unix microseconds (zig-zag)
//	then per reading:
//	uvarint  pair index
//	byte     tag: bits 0-2 value kind, bit 3 quality present
//	varint   time minus the previous reading's (the first: minus base), µs, zig-zag
//	value    kind 0: float64 bits, little-endian; kind 1-4: zig-zag varint m,
//	         value = m / 10^(kind-1) (exact: chosen only when it round-trips)
//	quality  float32 bits, little-endian, when present; absent means -1
//
// A typical reading (heart rate 72, temperature 21.5, quality -1) takes 5 to
// 7 bytes; any float64 value, NaN included, round-trips bit for bit.
//
// A row's data may be several such blobs back to back (each says how many
// readings it holds, so it ends where the next begins): the writer stores a
// hub's batches of one flush and hour as one row (sampleBatch.coalesce) by
// concatenating their blobs, without decoding them. It decodes as the rows
// it replaces did, one after the other.

const readingsBlobVersion = 1

// errBadReadingsBlob is wrapped by every decoding error.
var errBadReadingsBlob = errors.New("store: readings blob malformed")

const (
	valueRaw      = 0
	valueDecimal0 = 1 // value = m / 10^(kind-valueDecimal0)
	valueDecimalN = 4
	tagQuality    = 1 << 3
)

var pow10 = [...]float64{1, 10, 100, 1000}

// valueKind picks the most compact exact encoding of v.
func valueKind(v float64) (kind byte, m int64) {
	if v == 0 && math.Signbit(v) {
		return valueRaw, 0 // -0 would come back as +0
	}
	for k, p := range pow10 {
		r := math.Round(v * p)
		if math.Abs(r) < 1<<53 && r/p == v {
			return valueDecimal0 + byte(k), int64(r)
		}
	}
	return valueRaw, 0
}

type sensorMetric struct {
	sensor devices.SensorID
	metric devices.Metric
}

// append writes the pair as the blobs keep it: each name after its length.
func (p sensorMetric) append(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p.sensor)))
	dst = append(dst, p.sensor...)
	dst = binary.AppendUvarint(dst, uint64(len(p.metric)))
	return append(dst, p.metric...)
}

// maxReadingBytes bounds one reading's encoding: pair index (a uvarint of
// at most devices.DefaultLimits.MaxReadings, 2 bytes), tag, time delta
// (varint, 10), value (varint or float64 bits, 10) and quality (4).
const maxReadingBytes = 2 + 1 + 10 + 10 + 4

// appendReadingsBlob appends the encoding of rs (in their order) to dst.
// It runs for every batch a hub sends: dst grows once, to a bound of the
// blob's size, rather than by doubling from nothing (eight allocations
// and copies for the simulator's 17-reading batch), and a batch of up to
// 64 readings keeps its pair indexes on the stack.
func appendReadingsBlob(dst []byte, rs []devices.Reading) []byte {
	pairs := make([]sensorMetric, 0, 24)
	var small [64]int
	index := small[:0]
	if len(rs) > len(small) {
		index = make([]int, 0, len(rs))
	}
	var base int64
	size := 1 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen64 + len(rs)*maxReadingBytes
	for i, r := range rs {
		p := sensorMetric{r.Sensor, r.Metric}
		j := slices.Index(pairs, p)
		if j < 0 {
			j = len(pairs)
			pairs = append(pairs, p)
			size += 2*binary.MaxVarintLen64 + len(p.sensor) + len(p.metric)
		}
		index = append(index, j)
		if us := toUS(r.At); i == 0 || us < base {
			base = us
		}
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, readingsBlobVersion)
	dst = binary.AppendUvarint(dst, uint64(len(pairs)))
	for _, p := range pairs {
		dst = p.append(dst)
	}
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	dst = binary.AppendVarint(dst, base)
	prev := base
	for i, r := range rs {
		dst = binary.AppendUvarint(dst, uint64(index[i]))
		kind, m := valueKind(r.Value)
		tag := kind
		if r.Quality != -1 {
			tag |= tagQuality
		}
		dst = append(dst, tag)
		us := toUS(r.At)
		dst = binary.AppendVarint(dst, us-prev)
		prev = us
		if kind == valueRaw {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Value))
		} else {
			dst = binary.AppendVarint(dst, m)
		}
		if tag&tagQuality != 0 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(r.Quality))
		}
	}
	return dst
}

// blobReader reads a blob's fields, remembering the first error.
type blobReader struct {
	b   []byte
	err error
}

func (r *blobReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errBadReadingsBlob, what)
	}
	r.b = nil
}

func (r *blobReader) uvarint(what string) uint64 { return readVarint(r, what, binary.Uvarint) }

func (r *blobReader) varint(what string) int64 { return readVarint(r, what, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](r *blobReader, what string, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *blobReader) bytes(n uint64, what string) []byte {
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *blobReader) byte1(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *blobReader) str(what string) string { return string(r.bytes(r.uvarint(what), what)) }

// readingsBlobHeader is what precedes a blob's readings.
type readingsBlobHeader struct {
	pairs []sensorMetric
	n     uint64
	base  int64
}

func readReadingsHeader(r *blobReader) readingsBlobHeader {
	var h readingsBlobHeader
	if v := r.byte1("version"); r.err == nil && v != readingsBlobVersion {
		r.fail(fmt.Sprintf("version %d", v))
	}
	np := r.uvarint("pair count")
	if np > uint64(len(r.b))/2 { // each pair takes at least two bytes
		r.fail("pair count")
		return h
	}
	h.pairs = make([]sensorMetric, 0, np)
	for range np {
		s := r.str("sensor")
		m := r.str("metric")
		h.pairs = append(h.pairs, sensorMetric{devices.SensorID(s), devices.Metric(m)})
	}
	h.n = r.uvarint("reading count")
	if h.n > uint64(len(r.b))/3 { // each reading takes at least three bytes
		r.fail("reading count")
	}
	h.base = r.varint("base time")
	return h
}

// decodeReadingsBlob appends to dst the readings of b whose (sensor, metric)
// keep accepts (every one when keep is nil), in the blob's order; b may be
// several blobs back to back (see above), decoded in turn.
func decodeReadingsBlob(b []byte, dst []devices.Reading, keep func(devices.SensorID, devices.Metric) bool) ([]devices.Reading, error) {
	r := &blobReader{b: b}
	for {
		var err error
		if dst, err = decodeOneReadingsBlob(r, dst, keep); err != nil || len(r.b) == 0 {
			return dst, err
		}
	}
}

// decodeOneReadingsBlob decodes the blob at the start of r's bytes and
// leaves r after it.
func decodeOneReadingsBlob(r *blobReader, dst []devices.Reading, keep func(devices.SensorID, devices.Metric) bool) ([]devices.Reading, error) {
	h := readReadingsHeader(r)
	if r.err != nil {
		return dst, r.err
	}
	wanted := make([]bool, len(h.pairs))
	for i, p := range h.pairs {
		wanted[i] = keep == nil || keep(p.sensor, p.metric)
	}
	prev := h.base
	for range h.n {
		pi := r.uvarint("pair index")
		tag := r.byte1("tag")
		prev += r.varint("time")
		var v float64
		switch kind := tag &^ tagQuality; {
		case r.err != nil:
		case kind == valueRaw:
			if raw := r.bytes(8, "value"); raw != nil {
				v = math.Float64frombits(binary.LittleEndian.Uint64(raw))
			}
		case kind >= valueDecimal0 && kind <= valueDecimalN:
			v = float64(r.varint("value")) / pow10[kind-valueDecimal0]
		default:
			r.fail(fmt.Sprintf("tag %#x", tag))
		}
		q := float32(-1)
		if tag&tagQuality != 0 {
			if raw := r.bytes(4, "quality"); raw != nil {
				q = math.Float32frombits(binary.LittleEndian.Uint32(raw))
			}
		}
		if r.err != nil {
			return dst, r.err
		}
		if pi >= uint64(len(h.pairs)) {
			return dst, fmt.Errorf("%w: pair index %d of %d", errBadReadingsBlob, pi, len(h.pairs))
		}
		if wanted[pi] {
			p := h.pairs[pi]
			dst = append(dst, devices.Reading{Sensor: p.sensor, Metric: p.metric, At: fromUS(prev), Value: v, Quality: q})
		}
	}
	return dst, nil
}

// Hourly rollups are one row per (hub, hour) holding every series of that
// hub in one blob (rollup_hub_1h), sorted by sensor then metric:
//
//	byte     version (1)
//	uvarint  number of series, then each series as
//	         uvarint length + sensor bytes, uvarint length + metric bytes,
//	         uvarint count, float64 sum, min, max (bits, little-endian)
//
// One upsert per hub and hour instead of one per series: a hub's ~17 series
// cost one B-tree write per flush.

const hourBlobVersion = 1

type hourSeries struct {
	sensorMetric
	rollupAgg
}

func appendHourBlob(dst []byte, series []hourSeries) []byte {
	slices.SortFunc(series, func(a, b hourSeries) int {
		if c := strings.Compare(string(a.sensor), string(b.sensor)); c != 0 {
			return c
		}
		return strings.Compare(string(a.metric), string(b.metric))
	})
	dst = append(dst, hourBlobVersion)
	dst = binary.AppendUvarint(dst, uint64(len(series)))
	for _, s := range series {
		dst = s.sensorMetric.append(dst)
		dst = binary.AppendUvarint(dst, uint64(s.count))
		for _, f := range [3]float64{s.sum, s.min, s.max} {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		}
	}
	return dst
}

// forEachHourSeries calls fn for each series of an hourly blob; sensor and
// metric alias b and are valid only during the call.
func forEachHourSeries(b []byte, fn func(sensor, metric []byte, a rollupAgg)) error {
	r := &blobReader{b: b}
	if v := r.byte1("version"); r.err == nil && v != hourBlobVersion {
		r.fail(fmt.Sprintf("hourly rollup version %d", v))
	}
	n := r.uvarint("series count")
	if r.err == nil && n > uint64(len(r.b))/27 { // each series takes at least 27 bytes
		r.fail("series count")
	}
	for range n {
		sensor := r.bytes(r.uvarint("sensor"), "sensor")
		metric := r.bytes(r.uvarint("metric"), "metric")
		count := r.uvarint("count")
		raw := r.bytes(24, "aggregates")
		if r.err != nil {
			return r.err
		}
		fn(sensor, metric, rollupAgg{count: int64(count),
			sum: math.Float64frombits(binary.LittleEndian.Uint64(raw)),
			min: math.Float64frombits(binary.LittleEndian.Uint64(raw[8:])),
			max: math.Float64frombits(binary.LittleEndian.Uint64(raw[16:]))})
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes in hourly rollup", errBadReadingsBlob, len(r.b))
	}
	return nil
}

// mergeAgg folds b into a.
func mergeAgg(a, b rollupAgg) rollupAgg {
	if a.count == 0 {
		return b
	}
	a.count += b.count
	a.sum += b.sum
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
	return a
}

// mergeHourBlob returns the blob of old (may be nil) with add merged in.
// Series are few (~17 a hub), so slices and linear search beat maps here.
func mergeHourBlob(old []byte, add []hourSeries) ([]byte, error) {
	merged := make([]hourSeries, 0, len(add)+4)
	var err error
	if old != nil {
		err = forEachHourSeries(old, func(sensor, metric []byte, a rollupAgg) {
			merged = append(merged, hourSeries{sensorMetric{devices.SensorID(sensor), devices.Metric(metric)}, a})
		})
	}
	known := len(merged)
	for _, s := range add {
		i := slices.IndexFunc(merged[:known], func(m hourSeries) bool { return m.sensorMetric == s.sensorMetric })
		if i < 0 {
			merged = append(merged, s)
		} else {
			merged[i].rollupAgg = mergeAgg(merged[i].rollupAgg, s.rollupAgg)
		}
	}
	return appendHourBlob(make([]byte, 0, 48*len(merged)), merged), err
}
