-- Inputs whose handling panicked (devices.Poison): kept for an engineer,
-- never handled again. The newest poisonKept rows are kept (store/poison.go).
CREATE TABLE poison (
    id INTEGER PRIMARY KEY,
    hub_id    TEXT NOT NULL,
    stage     TEXT NOT NULL,
    channel   TEXT NOT NULL DEFAULT '',
    event_id  TEXT NOT NULL DEFAULT '',
    seq       BIGINT NOT NULL DEFAULT 0,
    input     BLOB,
    panic     TEXT NOT NULL,
    stack     TEXT NOT NULL DEFAULT '',
    at_us     BIGINT NOT NULL
);
CREATE INDEX poison_at ON poison (at_us);
