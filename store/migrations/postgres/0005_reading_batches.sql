-- Readings at national scale (300,000 homes, ~85,000 readings/s): one row
-- per received batch instead of one per reading, and one hourly rollup row
-- per hub instead of one per series; minute rollups are computed from the
-- raw batches. The old tables' rows are converted by the Go step of this
-- migration (store/migrate_0005.go), which then drops them.

-- One row per received batch and hour (readings_codec.go for data). Every
-- row's readings lie within one hour, which bounds the queries' scans.
CREATE TABLE reading_batches (
    hub_id      TEXT NOT NULL,
    from_us     BIGINT NOT NULL,     -- earliest reading
    to_us       BIGINT NOT NULL,     -- latest reading
    n           INTEGER NOT NULL,    -- readings in data
    received_us BIGINT NOT NULL,
    data        BYTEA NOT NULL
);
CREATE INDEX reading_batches_hub_from ON reading_batches (hub_id, from_us);
-- Rows arrive roughly in time order: a BRIN index serves retention for a
-- fraction of a B-tree's write cost.
CREATE INDEX reading_batches_to ON reading_batches USING brin (to_us);

-- One row per hub and hour: every series' count, sum, min and max in one
-- blob (readings_codec.go). Each flush rewrites the blobs it touches; free
-- space on the page lets PostgreSQL update them in place (HOT, no index
-- write).
CREATE TABLE rollup_hub_1h (
    hub_id    TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (hub_id, bucket_us)
) WITH (fillfactor = 70);
CREATE INDEX rollup_hub_1h_bucket ON rollup_hub_1h USING brin (bucket_us);

DROP TABLE rollup_1m;
