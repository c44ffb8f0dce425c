-- Dolbom schema, version 1 (SQLite). Times are Unix microseconds.

CREATE TABLE residents (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    birth_date       TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    language         TEXT NOT NULL DEFAULT 'ko',
    address          TEXT NOT NULL DEFAULT '{}',
    medical_notes    TEXT NOT NULL DEFAULT '',
    medications      TEXT NOT NULL DEFAULT '[]',
    allergies        TEXT NOT NULL DEFAULT '[]',
    key_holder       TEXT NOT NULL DEFAULT '',
    access_notes     TEXT NOT NULL DEFAULT '',
    access_sealed    BLOB NOT NULL,          -- AES-256-GCM: key safe and door codes
    guardians        TEXT NOT NULL DEFAULT '[]',
    social_worker_id TEXT NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 0,
    consent          TEXT NOT NULL DEFAULT '{}',
    disabled         INTEGER NOT NULL DEFAULT 0,
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL
);
CREATE INDEX residents_social_worker ON residents (social_worker_id, id);

CREATE TABLE hubs (
    id             TEXT PRIMARY KEY,
    resident_id    TEXT NOT NULL DEFAULT '',
    secret_hash    TEXT NOT NULL DEFAULT '',
    firmware       TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL DEFAULT '',
    installed_us   INTEGER NOT NULL,
    end_of_life_us INTEGER NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_us     INTEGER NOT NULL,
    updated_us     INTEGER NOT NULL
);
CREATE INDEX hubs_resident ON hubs (resident_id, id);

CREATE TABLE sensors (
    hub_id         TEXT NOT NULL,
    id             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    location       TEXT NOT NULL,
    installed_us   INTEGER NOT NULL,
    report_seconds INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hub_id, id)
);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    hub_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sensor_id   TEXT NOT NULL DEFAULT '',
    ts_us       INTEGER NOT NULL,            -- the hub's clock
    received_us INTEGER NOT NULL,            -- the gateway's clock
    value       REAL NOT NULL DEFAULT 0,
    has_value   INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,                        -- JSON object or NULL
    UNIQUE (hub_id, event_id)
);
CREATE INDEX events_hub_ts ON events (hub_id, ts_us);
CREATE INDEX events_received ON events (received_us);

CREATE TABLE readings (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    ts_us     INTEGER NOT NULL,
    value     REAL NOT NULL,
    quality   REAL NOT NULL
);
CREATE INDEX readings_hub_ts ON readings (hub_id, ts_us);
CREATE INDEX readings_ts ON readings (ts_us);

-- One row per chunk; samples are little-endian float32, all x then y then z.
CREATE TABLE accel (
    hub_id      TEXT NOT NULL,
    sensor_id   TEXT NOT NULL,
    ts_us       INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    rate_hz     INTEGER NOT NULL,
    samples     BLOB NOT NULL
);
CREATE INDEX accel_hub_ts ON accel (hub_id, ts_us);
CREATE INDEX accel_ts ON accel (ts_us);

CREATE TABLE rollup_1m (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    bucket_us INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    PRIMARY KEY (hub_id, sensor_id, metric, bucket_us)
);
CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket_us);

CREATE TABLE rollup_1h (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    bucket_us INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    PRIMARY KEY (hub_id, sensor_id, metric, bucket_us)
);
CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket_us);

-- A window of a hub's raw data kept as an incident's evidence: retention
-- skips readings and accel inside any window.
CREATE TABLE evidence (
    incident_id TEXT PRIMARY KEY,
    hub_id      TEXT NOT NULL,
    from_us     INTEGER NOT NULL,
    to_us       INTEGER NOT NULL,
    created_us  INTEGER NOT NULL
);
CREATE INDEX evidence_hub ON evidence (hub_id, from_us);

CREATE TABLE hub_health (
    hub_id     TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    updated_us INTEGER NOT NULL
);
