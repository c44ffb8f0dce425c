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
