-- How far each consumer of the journal (the rule engine, the device-health
-- monitor) has applied the events table: every event with seq <= seq was
-- applied and its effects (state, incidents) saved. At start each consumer
-- replays what lies beyond (store/journal_replay.go). Per-home positions
-- live in the consumers' own saved state.
CREATE TABLE journal_positions (
    consumer   TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    updated_us BIGINT NOT NULL
);

-- A database from before the journal replay: what it holds was handled by
-- the version that wrote it, which had no replay; starting from its newest
-- event keeps the first start of this version from replaying the whole
-- history.
INSERT INTO journal_positions (consumer, seq, updated_us)
SELECT c, COALESCE((SELECT max(seq) FROM events), 0), 0
FROM (SELECT 'engine' AS c UNION ALL SELECT 'device_health') AS consumers;
