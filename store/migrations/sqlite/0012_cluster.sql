-- Several gateways on one database (issue 16, docs/cluster.md "Design:
-- ownership, leases and fencing"). Every time in these tables is on the
-- database's clock (clock_timestamp()), never a gateway's: leases are
-- compared by the one clock that every node shares. The single node on the
-- embedded store never writes them; this SQLite schema has the same tables
-- so that the two schemas stay parallel.

-- A gateway's membership: one row per (node, incarnation). A node joins as
-- a new incarnation each time it starts or loses its lease; a member whose
-- lease expired more than a grace ago is marked dead by a live one, and its
-- homes are adopted. solo marks a PostgreSQL gateway started without
-- --cluster, so that a cluster and a solo gateway refuse each other.
CREATE TABLE cluster_members (
    node        TEXT NOT NULL,
    incarnation INTEGER NOT NULL,
    addr        TEXT NOT NULL DEFAULT '',
    started_us  INTEGER NOT NULL,
    renewed_us  INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL,
    dead        INTEGER NOT NULL DEFAULT 0,
    solo        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node, incarnation)
);

-- Who owns each hub's home, and its epoch: bumped whenever the owner
-- changes, kept when the same incarnation claims it again. Every per-home
-- write carries the epoch it was made under and is refused when it is not
-- the current one (fencing). floor_seq is the journal position below which
-- the hub's events were handled before it had an owner row, so that a
-- replay at takeover never raises old events again.
CREATE TABLE hub_owners (
    hub_id           TEXT PRIMARY KEY,
    node             TEXT NOT NULL,
    incarnation      INTEGER NOT NULL,
    epoch            INTEGER NOT NULL,
    floor_seq        INTEGER NOT NULL,
    claimed_us       INTEGER NOT NULL,
    prev_node        TEXT NOT NULL DEFAULT '',
    prev_incarnation INTEGER NOT NULL DEFAULT 0,
    adopted          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hub_owners_member ON hub_owners (node, incarnation);
-- The previous owner finds the hubs that moved away from it since a time.
CREATE INDEX hub_owners_moved ON hub_owners (prev_node, prev_incarnation, claimed_us);

-- Settings every gateway of the database must share (secret key, tokens,
-- CAP sender, public URL), as digests that do not reveal secrets: the
-- first node writes them, every later one compares at start.
CREATE TABLE cluster_settings (
    name   TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    set_by TEXT NOT NULL DEFAULT '',
    set_us INTEGER NOT NULL
);

-- Registry changes that every node must act on (a hub revoked or
-- disabled, a resident edited, sensors changed): the table is the truth,
-- a NOTIFY on dolbom_registry only wakes the readers up.
CREATE TABLE registry_changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    hub_id TEXT NOT NULL DEFAULT '',
    kind   TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    at_us  INTEGER NOT NULL
);

-- The next free voice-call slot of a Twilio account, shared by every node
-- (the account allows one call per second, not one per gateway).
CREATE TABLE voice_rate (
    account TEXT PRIMARY KEY,
    next_us INTEGER NOT NULL
);

-- The epoch each saved state was written under: a save never replaces one
-- of a newer epoch (state never goes backwards).
ALTER TABLE home_state ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hub_health ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
-- The hub of a command row, so that only the hub's owner claims it.
ALTER TABLE dispatch_outbox ADD COLUMN hub_id TEXT NOT NULL DEFAULT '';
-- No events_hub_seq index here (PostgreSQL has one for the replay at
-- takeover): the embedded store never runs a cluster, and the index would
-- only cost every event insert of the single node a write.
