package store

import (
	"cmp"
	"fmt"
	"slices"
)

// hourChunk is (hub, hour) keys per batched SELECT and upsert of the hourly
// blobs.
const hourChunk = 500

func compareHourKeys(a, b hourKey) int {
	if c := cmp.Compare(a.hub, b.hub); c != 0 {
		return c
	}
	return cmp.Compare(a.bucket, b.bucket)
}

// sortedOldKeys returns the keys of w.old in (hub, hour) order: every
// writer locks rows in the same order, so two gateways sharing a database
// cannot deadlock on them.
func (w *sampleBatch) sortedOldKeys() []hourKey {
	keys := make([]hourKey, 0, len(w.old))
	for k := range w.old {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareHourKeys)
	return keys
}

// mergedHour returns the blob to store for k: old (nil when the row is new)
// with the flush's aggregates of k merged in. A stored blob that does not
// decode (a bug, never expected) is replaced by the flush's aggregates
// rather than failing every flush from now on, which would stall all
// readings; the loss is noted in w.problems for the log.
func (w *sampleBatch) mergedHour(k hourKey, old []byte) []byte {
	b, err := mergeHourBlob(old, w.old[k])
	if err != nil {
		b, _ = mergeHourBlob(nil, w.old[k])
		w.problems = append(w.problems, fmt.Errorf("hourly rollup of hub %s at %s replaced: %w", k.hub, fromUS(k.bucket), err))
	}
	return b
}
