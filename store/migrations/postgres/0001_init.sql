-- Dolbom schema, version 1 (PostgreSQL). Times are Unix microseconds, as in
-- the embedded back end, so that both share their query code.

CREATE TABLE residents (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    birth_date       TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    language         TEXT NOT NULL DEFAULT 'ko',
    address          JSONB NOT NULL DEFAULT '{}',
    medical_notes    TEXT NOT NULL DEFAULT '',
    medications      JSONB NOT NULL DEFAULT '[]',
    allergies        JSONB NOT NULL DEFAULT '[]',
    key_holder       TEXT NOT NULL DEFAULT '',
    access_notes     TEXT NOT NULL DEFAULT '',
    access_sealed    BYTEA NOT NULL,         -- AES-256-GCM: key safe and door codes
    guardians        JSONB NOT NULL DEFAULT '[]',
    social_worker_id TEXT NOT NULL DEFAULT '',
    priority         BOOLEAN NOT NULL DEFAULT false,
    consent          JSONB NOT NULL DEFAULT '{}',
    disabled         BOOLEAN NOT NULL DEFAULT false,
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL
);
CREATE INDEX residents_social_worker ON residents (social_worker_id, id);

CREATE TABLE hubs (
    id             TEXT PRIMARY KEY,
    resident_id    TEXT NOT NULL DEFAULT '',
    secret_hash    TEXT NOT NULL DEFAULT '',
    firmware       TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL DEFAULT '',
    installed_us   BIGINT NOT NULL,
    end_of_life_us BIGINT NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT false,
    created_us     BIGINT NOT NULL,
    updated_us     BIGINT NOT NULL
);
CREATE INDEX hubs_resident ON hubs (resident_id, id);

CREATE TABLE sensors (
    hub_id         TEXT NOT NULL,
    id             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    location       TEXT NOT NULL,
    installed_us   BIGINT NOT NULL,
    report_seconds INTEGER NOT NULL DEFAULT 0,
    disabled       BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (hub_id, id)
);

CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hub_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sensor_id   TEXT NOT NULL DEFAULT '',
    ts_us       BIGINT NOT NULL,             -- the hub's clock
    received_us BIGINT NOT NULL,             -- the gateway's clock
    value       DOUBLE PRECISION NOT NULL DEFAULT 0,
    has_value   BOOLEAN NOT NULL DEFAULT false,
    detail      JSONB,
    UNIQUE (hub_id, event_id)
);
CREATE INDEX events_hub_ts ON events (hub_id, ts_us);
CREATE INDEX events_received ON events (received_us);

CREATE TABLE readings (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    ts_us     BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    quality   REAL NOT NULL
);
CREATE INDEX readings_hub_ts ON readings (hub_id, ts_us);
-- Rows arrive roughly in time order: a BRIN index serves retention for a
-- fraction of a B-tree's write cost.
CREATE INDEX readings_ts ON readings USING brin (ts_us);

-- One row per chunk; samples are little-endian float32, all x then y then z.
CREATE TABLE accel (
    hub_id      TEXT NOT NULL,
    sensor_id   TEXT NOT NULL,
    ts_us       BIGINT NOT NULL,
    received_us BIGINT NOT NULL,
    rate_hz     INTEGER NOT NULL,
    samples     BYTEA NOT NULL
);
CREATE INDEX accel_hub_ts ON accel (hub_id, ts_us);
CREATE INDEX accel_ts ON accel USING brin (ts_us);

CREATE TABLE rollup_1m (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hub_id, sensor_id, metric, bucket_us)
);
CREATE INDEX rollup_1m_bucket ON rollup_1m USING brin (bucket_us);

CREATE TABLE rollup_1h (
    hub_id    TEXT NOT NULL,
    sensor_id TEXT NOT NULL,
    metric    TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hub_id, sensor_id, metric, bucket_us)
);
CREATE INDEX rollup_1h_bucket ON rollup_1h USING brin (bucket_us);

-- A window of a hub's raw data kept as an incident's evidence: retention
-- skips readings and accel inside any window.
CREATE TABLE evidence (
    incident_id TEXT PRIMARY KEY,
    hub_id      TEXT NOT NULL,
    from_us     BIGINT NOT NULL,
    to_us       BIGINT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX evidence_hub ON evidence (hub_id, from_us);

CREATE TABLE hub_health (
    hub_id     TEXT PRIMARY KEY,
    data       JSONB NOT NULL,
    updated_us BIGINT NOT NULL
);
