package detectors

// chunked holds a shard's per-home (or per-hub) records in fixed chunks
// instead of one slice grown by append (issue 14). A grown slice keeps up
// to a quarter of its capacity unused at large sizes (measured: the engine's
// 976-byte homes cost 1,157 B each at 20,000 homes) and copies every record
// while it grows, holding old and new arrays at once (tens of MB per shard
// at 300,000 homes); chunks leave at most one partly filled chunk per shard
// and never move a record, so a *home stays valid.
type chunked[T any] struct {
	chunks [][]T
	n      int32
}

// chunkBits sizes a chunk: 256 records (~250 KB of engine homes, ~50 KB of
// monitored hubs), small beside a shard at national scale, and one shift
// and one mask per look-up.
const chunkBits = 8

// at returns record i (0 <= i < len).
func (c *chunked[T]) at(i int32) *T {
	return &c.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

func (c *chunked[T]) len() int32 { return c.n }

// add appends v and returns its index.
func (c *chunked[T]) add(v T) int32 {
	if c.n&(1<<chunkBits-1) == 0 {
		c.chunks = append(c.chunks, make([]T, 0, 1<<chunkBits))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
	return c.n - 1
}
