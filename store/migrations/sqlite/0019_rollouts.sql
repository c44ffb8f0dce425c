-- Firmware over the air (ota, docs/operations.md "Rollouts"): published
-- images with their bytes, which the gateway serves to hubs, and rollouts
-- with one row per hub, so that a gateway restarted mid-rollout carries on
-- from the stored stage and results.
CREATE TABLE firmware_images (
    model        TEXT NOT NULL,
    version      TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    signature    TEXT NOT NULL,
    data         BLOB NOT NULL,
    published_us INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);

CREATE TABLE rollouts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model            TEXT NOT NULL,
    version          TEXT NOT NULL,
    rollback_of      INTEGER NOT NULL DEFAULT 0,
    plan             TEXT NOT NULL,
    stages           TEXT NOT NULL,
    stage            INTEGER NOT NULL,
    stage_started_us INTEGER NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL
);

CREATE TABLE rollout_targets (
    rollout_id INTEGER NOT NULL,
    hub_id     TEXT NOT NULL,
    stage      INTEGER NOT NULL,
    result     TEXT NOT NULL,
    step       TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    previous   TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, hub_id)
);
