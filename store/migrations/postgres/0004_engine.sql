-- The rule engine's per-home state (inactivity clocks, pending cancel
-- windows, learned activity baselines, open episodes), saved so that a
-- restart neither forgets a pending emergency nor raises it twice.
CREATE TABLE home_state (
    hub_id     TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    updated_us BIGINT NOT NULL
);
