-- Dispatch: incidents, their timelines, the durable outbox (notifications,
-- hub commands and escalation timers) and the policies edited through the
-- API (PostgreSQL). Times are Unix microseconds.

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,        -- one incident per home, cause and episode
    hub_id      TEXT NOT NULL,
    resident_id TEXT NOT NULL DEFAULT '',
    cause       TEXT NOT NULL,
    priority    BIGINT NOT NULL,
    state       TEXT NOT NULL,
    opened_us   BIGINT NOT NULL,
    updated_us  BIGINT NOT NULL,
    change_seq  BIGINT NOT NULL,            -- the live feed's event id
    data        TEXT NOT NULL                -- the whole dispatch.Incident as JSON
);
CREATE INDEX incidents_priority ON incidents (priority, opened_us);
CREATE UNIQUE INDEX incidents_change_seq ON incidents (change_seq);
CREATE INDEX incidents_hub ON incidents (hub_id, opened_us);
CREATE INDEX incidents_state ON incidents (state, priority, opened_us);

-- The audit record: every step of every incident, append-only.
CREATE TABLE incident_timeline (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT NOT NULL,
    at_us       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    channel     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, seq);

CREATE TABLE dispatch_outbox (
    row_key          TEXT PRIMARY KEY,       -- incident/step/recipient/channel/attempt
    incident_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,          -- notify, command, timer
    channel          TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    due_us           BIGINT NOT NULL,       -- next attempt
    deadline_us      BIGINT NOT NULL,       -- give up retrying after
    tries            BIGINT NOT NULL DEFAULT 0,
    provider_ref     TEXT NOT NULL DEFAULT '',
    claim_id         TEXT NOT NULL DEFAULT '',
    claimed_until_us BIGINT NOT NULL DEFAULT 0,
    recovered        BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL,
    data             TEXT NOT NULL           -- step, attempt, recipient, message type, timer
);
CREATE INDEX dispatch_outbox_due ON dispatch_outbox (due_us) WHERE state = 'pending';
CREATE INDEX dispatch_outbox_lease ON dispatch_outbox (claimed_until_us) WHERE state = 'sending';
CREATE INDEX dispatch_outbox_incident ON dispatch_outbox (incident_id, created_us);
CREATE INDEX dispatch_outbox_ref ON dispatch_outbox (provider_ref) WHERE provider_ref <> '';

CREATE TABLE dispatch_policies (
    cause      TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    updated_us BIGINT NOT NULL
);

-- Change numbers of the live feed, shared by every gateway on the database.
CREATE SEQUENCE incident_change_seq;
