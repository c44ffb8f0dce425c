-- Readings at national scale (300,000 homes, ~85,000 readings/s): one row
-- per received batch instead of one per reading, and one hourly rollup row
-- per hub instead of one per series; minute rollups are computed from the
-- raw batches. The old tables' rows are converted by the Go step of this
-- migration (store/migrate_0005.go), which then drops them.

-- One row per received batch and hour (readings_codec.go for data). Every
-- row's readings lie within one hour, which bounds the queries' scans.
CREATE TABLE reading_batches (
    hub_id      TEXT NOT NULL,
    from_us     INTEGER NOT NULL,    -- earliest reading
    to_us       INTEGER NOT NULL,    -- latest reading
    n           INTEGER NOT NULL,    -- readings in data
    received_us INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX reading_batches_hub_from ON reading_batches (hub_id, from_us);
-- Retention deletes a batch once its newest reading is past RawRetention.
CREATE INDEX reading_batches_to ON reading_batches (to_us);

-- One row per hub and hour: every series' count, sum, min and max in one
-- blob (readings_codec.go).
CREATE TABLE rollup_hub_1h (
    hub_id    TEXT NOT NULL,
    bucket_us INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (hub_id, bucket_us)
);
CREATE INDEX rollup_hub_1h_bucket ON rollup_hub_1h (bucket_us);

DROP TABLE rollup_1m;
