package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Hourly rollups are a materialized view of the raw batches, written once
// per hub and hour ("sealed") after the hour is over, instead of being
// merged by every flush (which at national scale rewrote each blob 60
// times an hour and was a quarter of the process's allocations).
//
//   - rollup_seal holds sealed_before: hours before it have their blobs in
//     rollup_hub_1h; queries aggregate later hours from reading_batches
//     (readings_query.go), with the same code, so a series reads the same
//     before and after its hour is sealed.
//   - Hour H is sealed once now >= H + 1h + SealGrace, chunk by chunk of
//     hubs, each blob computed from H's raw rows and upserted with replace
//     semantics; then sealed_before moves on by an hour. A crash mid-hour
//     seals the hour again from the start: replacing makes that harmless.
//   - A flush writes a rollup_dirty marker for each late row (its hour may
//     be sealed: sampleBatch.planLate). The sealer takes markers with
//     DELETE ... RETURNING and recomputes those blobs from the raw rows in
//     the same transaction. A flush that commits after the DELETE leaves
//     its marker for the next round (on PostgreSQL its insert waits for the
//     DELETE's transaction when the key is the same), so no late row is
//     missed, and no lock is taken on the flush path.
//   - Markers are recomputed after the hours are sealed, by the same
//     goroutine, so a recomputation is never overwritten by an older seal.
//     On PostgreSQL an advisory lock lets one gateway of several seal.
//   - Retention keeps the raw rows of unsealed hours and of marked hours
//     (RunRetention), so recomputing from them is complete.

// dirtyChunk is markers per recomputation transaction: small, because on
// SQLite the transaction holds the writer.
const dirtyChunk = 200

// blobUpsertRows is rows per upsert statement of the hourly blobs.
const blobUpsertRows = 250

// runSealer seals due hours and recomputes marked ones at start (catching
// up after downtime) and every SealInterval until ctx ends.
func (s *database) runSealer(ctx context.Context) {
	if s.cfg.SealInterval < 0 {
		return
	}
	tick := time.NewTicker(s.cfg.SealInterval)
	defer tick.Stop()
	for {
		if err := s.sealRollups(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("sealing hourly rollups failed; will retry")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// SealDue seals every hour due as of Config.Now, then recomputes the
// marked ones, in the caller's goroutine. It is for a store on a simulated
// clock (Config.Now) with the sealer loop off (SealInterval < 0): that
// loop ticks on the wall clock, and a soak moving an hour of simulated
// time every few wall seconds left it half a simulated day behind, so
// retention, which keeps every raw row of an unsealed hour, kept them
// all and rescanned them at each pass. It returns nil at once when a
// sealer pass is running.
func (s *Store) SealDue(ctx context.Context) error { return s.sealRollups(ctx) }

// sealRollups seals every due hour, then recomputes the marked ones.
func (s *database) sealRollups(ctx context.Context) error {
	if !s.sealMu.TryLock() {
		return nil
	}
	defer s.sealMu.Unlock()
	unlock, ok, err := s.rd.tryLock(ctx, sealLockKey)
	if err != nil {
		return fmt.Errorf("store: seal lock: %w", err)
	}
	if !ok {
		return nil // another gateway seals
	}
	defer unlock()
	for {
		sb, err := sealedBefore(ctx, s.rd)
		if err != nil {
			return err
		}
		if s.cfg.Now().Before(fromUS(sb + usPerHour).Add(s.cfg.SealGrace)) {
			break
		}
		start := time.Now()
		hubs, err := s.sealHour(ctx, sb)
		if err != nil {
			return fmt.Errorf("store: seal hour %s: %w", fromUS(sb), err)
		}
		if _, err := s.rd.exec(ctx, `UPDATE rollup_seal SET sealed_before_us = $1 WHERE id = 1 AND sealed_before_us = $2`,
			sb+usPerHour, sb); err != nil {
			return fmt.Errorf("store: seal hour %s: %w", fromUS(sb), err)
		}
		s.metrics.rollupSeal.WithLabelValues("hours").Inc()
		s.metrics.rollupSeal.WithLabelValues("hub_hours").Add(float64(hubs))
		s.log.Info().Time("hour", fromUS(sb)).Int("hubs", hubs).Dur("took", time.Since(start)).Msg("hourly rollups sealed")
	}
	return s.recomputeDirty(ctx)
}

// sealedBefore reads rollup_seal: hours before it are sealed.
func sealedBefore(ctx context.Context, q querier) (int64, error) {
	var sb int64
	if err := q.queryRow(ctx, `SELECT sealed_before_us FROM rollup_seal WHERE id = 1`).Scan(&sb); err != nil {
		return 0, fmt.Errorf("store: read sealed hour: %w", err)
	}
	return sb, nil
}

// blobsBeforeSQL is blobsBefore as an SQL expression: the readers and
// RunRetention must agree on it, or retention could delete raw rows a
// reader aggregates.
const blobsBeforeSQL = `(SELECT COALESCE((SELECT MIN(bucket_us) FROM rollup_dirty WHERE bucket_us < s.sealed_before_us), s.sealed_before_us)
	FROM rollup_seal s WHERE s.id = 1)`

// blobsBefore is where the hourly queries switch from the sealed blobs to
// the raw batches: sealed_before, or the earliest hour with a late-data
// marker not yet recomputed if that is earlier, so that a late reading
// counts in the hourly figures as soon as its flush commits, not only once
// the sealer has recomputed its hour (RunRetention keeps the raw rows from
// here on).
func blobsBefore(ctx context.Context, q querier) (int64, error) {
	var b int64
	if err := q.queryRow(ctx, `SELECT `+blobsBeforeSQL).Scan(&b); err != nil {
		return 0, fmt.Errorf("store: read sealed hour: %w", err)
	}
	return b, nil
}

// sealHour writes the blobs of hour (Unix µs of its start) of every hub
// with raw rows in it, SealChunk hubs per transaction with SealPause
// between, and returns how many hubs had rows.
func (s *database) sealHour(ctx context.Context, hour int64) (int, error) {
	// An hour without rows (downtime being caught up) is skipped with one
	// probe of the to_us index (BRIN on PostgreSQL): a row's to_us lies in
	// its hour.
	var found int
	err := s.rd.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM reading_batches
		WHERE to_us >= $1 AND to_us < $2 LIMIT 1) AS x`, hour, hour+usPerHour).Scan(&found)
	if err != nil {
		return 0, fmt.Errorf("probe hour: %w", err)
	}
	if found == 0 {
		return 0, nil
	}
	total := 0
	after := ""
	for chunk := 1; ; chunk++ {
		hubs, err := s.nextHubs(ctx, after, s.cfg.SealChunk)
		if err != nil {
			return total, err
		}
		if len(hubs) == 0 {
			return total, nil
		}
		blobs, err := hourBlobsFromRaw(ctx, s.rd, s.rd, hubs, hour, s.undecodableRow(hour))
		if err != nil {
			return total, err
		}
		if err := s.rd.inTx(ctx, func(q querier) error { return upsertHourBlobs(ctx, q, s.rd, blobs) }); err != nil {
			return total, fmt.Errorf("write hourly rollups: %w", err)
		}
		total += len(blobs)
		if s.sealInterrupt != nil {
			if err := s.sealInterrupt(chunk); err != nil {
				return total, err
			}
		}
		if len(hubs) < s.cfg.SealChunk {
			return total, nil
		}
		after = hubs[len(hubs)-1]
		// Pause even when the chunk had no rows of this hour: listing and
		// probing 1,000 hubs is work too, and 300 chunks of it back to back
		// is a burst.
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(s.cfg.SealPause):
		}
	}
}

// nextHubs returns up to n hub ids after after, in index order, of hubs
// with any raw rows: a loose index scan of reading_batches (hub_id,
// from_us), one index probe per hub, rather than a scan of the registry,
// so that rows of a hub no longer (or not yet) registered are sealed too.
func (s *database) nextHubs(ctx context.Context, after string, n int) ([]string, error) {
	rows, err := s.rd.query(ctx, `WITH RECURSIVE h(id, n) AS (
			SELECT (SELECT hub_id FROM reading_batches WHERE hub_id > $1 ORDER BY hub_id LIMIT 1), 1
			UNION ALL
			SELECT (SELECT hub_id FROM reading_batches WHERE hub_id > h.id ORDER BY hub_id LIMIT 1), h.n + 1
			FROM h WHERE h.id IS NOT NULL AND h.n < $2)
		SELECT id FROM h WHERE id IS NOT NULL`, after, n)
	if err != nil {
		return nil, fmt.Errorf("list hubs: %w", err)
	}
	defer rows.Close()
	hubs := make([]string, 0, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list hubs: %w", err)
		}
		hubs = append(hubs, id)
	}
	return hubs, rows.Err()
}

// batchOrder orders one hub's batch rows to the last tie: a store-and-
// forward resend stores the same from_us twice, and the hourly figures must
// fold readings in the same order whether they come from the raw rows or
// from a sealed blob.
const batchOrder = "from_us, received_us, to_us, n, data"

// takeMarkersSQL deletes and returns up to n rollup_dirty markers; rid is
// the back end's row identifier (ctid, rowid).
func takeMarkersSQL(rid string, n int) string {
	return fmt.Sprintf(`DELETE FROM rollup_dirty WHERE %[1]s IN
		(SELECT %[1]s FROM rollup_dirty LIMIT %[2]d) RETURNING hub_id, bucket_us`, rid, n)
}

// undecodableRow reports a raw row of hour that hourBlobsFromRaw skipped.
func (s *database) undecodableRow(hour int64) func(hub string, err error) {
	return func(hub string, err error) {
		s.metrics.rollupSeal.WithLabelValues("undecodable").Inc()
		s.log.Error().Err(err).Str("hub_id", hub).Time("hour", fromUS(hour)).Msg("reading batch does not decode; left out of its hourly rollup")
	}
}

type hourBlob struct {
	key  hourKey
	data []byte
}

// hourBlobsFromRaw aggregates the raw rows of hubs in hour into one blob
// per hub that has any, in hub order.
// bad, when not nil, is told of each row that does not decode (it is
// skipped).
func hourBlobsFromRaw(ctx context.Context, q querier, be backend, hubs []string, hour int64, bad func(hub string, err error)) ([]hourBlob, error) {
	args := make([]any, len(hubs))
	for i, h := range hubs {
		args[i] = h
	}
	// A row lies within one hour, so its from_us says which. The bounds
	// are literals so that the hub list can take the placeholders.
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT hub_id, data FROM reading_batches
		WHERE from_us >= %d AND from_us < %d AND hub_id IN %s ORDER BY hub_id, `+batchOrder,
		hour, hour+usPerHour, be.values(1, len(hubs))), args...)
	if err != nil {
		return nil, fmt.Errorf("read reading batches: %w", err)
	}
	defer rows.Close()
	var out []hourBlob
	var rs []devices.Reading
	current := ""
	emit := func() {
		if len(rs) > 0 {
			sortByTime(rs)
			out = append(out, hourBlob{hourKey{devices.HubID(current), hour}, appendHourBlob(nil, foldSeries(nil, rs))})
		}
		rs = rs[:0]
	}
	for rows.Next() {
		var hub string
		var data []byte
		if err := rows.Scan(&hub, &data); err != nil {
			return nil, fmt.Errorf("read reading batches: %w", err)
		}
		if hub != current {
			emit()
			current = hub
		}
		n := len(rs)
		if rs, err = decodeReadingsBlob(data, rs, nil); err != nil {
			// One bad row must not stop sealing (and with it retention,
			// which keeps unsealed hours) for ever: it is left out of the
			// rollup, counted and named.
			rs = rs[:n]
			if bad != nil {
				bad(hub, err)
			}
			continue
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reading batches: %w", err)
	}
	emit()
	return out, nil
}

// upsertHourBlobs writes blobs with replace semantics: they are computed
// from the raw rows, so writing one again is harmless. Keys go in (hub,
// hour) order, the order every writer of the blobs locks them in.
func upsertHourBlobs(ctx context.Context, q querier, be backend, blobs []hourBlob) error {
	slices.SortFunc(blobs, func(a, b hourBlob) int { return compareHourKeys(a.key, b.key) })
	for start := 0; start < len(blobs); start += blobUpsertRows {
		chunk := blobs[start:min(start+blobUpsertRows, len(blobs))]
		args := make([]any, 0, 3*len(chunk))
		for _, b := range chunk {
			args = append(args, string(b.key.hub), b.key.bucket, b.data)
		}
		if _, err := q.exec(ctx, `INSERT INTO rollup_hub_1h (hub_id, bucket_us, data) VALUES `+be.values(len(chunk), 3)+`
			ON CONFLICT (hub_id, bucket_us) DO UPDATE SET data = excluded.data`, args...); err != nil {
			return err
		}
	}
	return nil
}

// recomputeDirty takes the markers dirtyChunk at a time and recomputes
// their blobs from the raw rows, in the transaction that deleted them.
func (s *database) recomputeDirty(ctx context.Context) error {
	rid := s.rd.rowID()
	for {
		var keys []hourKey
		err := s.rd.inTx(ctx, func(q querier) error {
			keys = keys[:0]
			rows, err := q.query(ctx, takeMarkersSQL(rid, dirtyChunk))
			if err != nil {
				return err
			}
			for rows.Next() {
				k, err := scanHourKey(rows, nil)
				if err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, k)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if s.afterDirtyDelete != nil {
				s.afterDirtyDelete()
			}
			// One read per hour among the markers, of that hour's hubs.
			slices.SortFunc(keys, func(a, b hourKey) int {
				if c := cmp.Compare(a.bucket, b.bucket); c != 0 {
					return c
				}
				return compareHourKeys(a, b)
			})
			var blobs []hourBlob
			for start := 0; start < len(keys); {
				end := start
				var hubs []string
				for end < len(keys) && keys[end].bucket == keys[start].bucket {
					hubs = append(hubs, string(keys[end].hub))
					end++
				}
				more, err := hourBlobsFromRaw(ctx, q, s.rd, hubs, keys[start].bucket, s.undecodableRow(keys[start].bucket))
				if err != nil {
					return err
				}
				blobs = append(blobs, more...)
				start = end
			}
			return upsertHourBlobs(ctx, q, s.rd, blobs)
		})
		if err != nil {
			return fmt.Errorf("store: recompute late hourly rollups: %w", err)
		}
		s.metrics.rollupSeal.WithLabelValues("markers_recomputed").Add(float64(len(keys)))
		if len(keys) > 0 {
			s.log.Info().Int("hub_hours", len(keys)).Msg("hourly rollups recomputed for late readings")
		}
		if len(keys) < dirtyChunk {
			return nil
		}
	}
}

// sortByTime orders readings by time, keeping the stored order of
// readings at the same time: the order every aggregation folds them in, so
// that sums come out the same from the blobs and from the raw rows.
func sortByTime(rs []devices.Reading) {
	slices.SortStableFunc(rs, func(a, b devices.Reading) int { return a.At.Compare(b.At) })
}

// foldSeries folds rs, in their order, into per-(sensor, metric)
// aggregates. Series are few (~17 a hub): a slice and linear search.
func foldSeries(series []hourSeries, rs []devices.Reading) []hourSeries {
	for _, r := range rs {
		sm := sensorMetric{r.Sensor, r.Metric}
		if i := slices.IndexFunc(series, func(s hourSeries) bool { return s.sensorMetric == sm }); i >= 0 {
			series[i].rollupAgg = mergeAgg(series[i].rollupAgg, oneAgg(r.Value))
		} else {
			series = append(series, hourSeries{sm, oneAgg(r.Value)})
		}
	}
	return series
}

func oneAgg(v float64) rollupAgg { return rollupAgg{count: 1, sum: v, min: v, max: v} }
