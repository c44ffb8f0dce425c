-- Firmware over the air (ota, docs/operations.md "Rollouts"): published
-- images with their bytes, which the gateway serves to hubs, and rollouts
-- with one row per hub, so that a gateway restarted mid-rollout carries on
-- from the stored stage and results.
CREATE TABLE firmware_images (
    model        TEXT NOT NULL,
    version      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    signature    TEXT NOT NULL,
    data         BYTEA NOT NULL,
    published_us BIGINT NOT NULL,
    PRIMARY KEY (model, version)
);

CREATE TABLE rollouts (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model            TEXT NOT NULL,
    version          TEXT NOT NULL,
    rollback_of      BIGINT NOT NULL DEFAULT 0,
    plan             TEXT NOT NULL,
    stages           TEXT NOT NULL,
    stage            BIGINT NOT NULL,
    stage_started_us BIGINT NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL
);

CREATE TABLE rollout_targets (
    rollout_id BIGINT NOT NULL,
    hub_id     TEXT NOT NULL,
    stage      BIGINT NOT NULL,
    result     TEXT NOT NULL,
    step       TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    previous   TEXT NOT NULL DEFAULT '',
    updated_us BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, hub_id)
);
