-- Consoles: people's accounts, their sessions, the audit log of who saw or
-- did what, and the social workers' visit log (SQLite). Times are Unix
-- microseconds.

-- The id is the login name; residents.social_worker_id names it.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,             -- dispatcher, social_worker, admin
    password_hash TEXT NOT NULL,             -- argon2id, PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_us    INTEGER NOT NULL,
    updated_us    INTEGER NOT NULL
);

-- Only a hash of the cookie's token is kept: a copy of the database does
-- not let anyone sign in.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    remote       TEXT NOT NULL DEFAULT '',
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_us);

-- Append-only.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at_us       INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    action      TEXT NOT NULL,
    resident_id TEXT NOT NULL DEFAULT '',
    incident_id TEXT NOT NULL DEFAULT '',
    remote      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_resident ON audit_log (resident_id, seq);
CREATE INDEX audit_log_account ON audit_log (account_id, seq);

CREATE TABLE visits (
    id          TEXT PRIMARY KEY,
    resident_id TEXT NOT NULL,
    kind        TEXT NOT NULL,               -- visit, call
    at_us       INTEGER NOT NULL,            -- when it took place
    account_id  TEXT NOT NULL,
    notes       TEXT NOT NULL DEFAULT '',
    next_us     INTEGER NOT NULL DEFAULT 0,  -- the next contact scheduled, 0 for none
    created_us  INTEGER NOT NULL
);
CREATE INDEX visits_resident ON visits (resident_id, at_us);
