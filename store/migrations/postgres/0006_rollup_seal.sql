-- Hourly rollups are sealed from the raw batches once per hub and hour
-- (store/rollup_seal.go) instead of being merged by every flush: each blob
-- is written once, not 60 times an hour.

-- (hub, hour) rollups to recompute from the raw batches: late
-- (store-and-forward) rows of an hour that may be sealed already.
CREATE TABLE rollup_dirty (
    hub_id    TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,
    PRIMARY KEY (hub_id, bucket_us)
);

-- One row: hours before sealed_before_us have their blobs in
-- rollup_hub_1h; later hours are aggregated from reading_batches. Set by
-- the Go step of this migration (store/migrate_0006.go).
CREATE TABLE rollup_seal (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_before_us BIGINT NOT NULL
);

-- Blobs are now written once (and rarely replaced): no free space needed
-- for in-place updates on new pages.
ALTER TABLE rollup_hub_1h SET (fillfactor = 100);
