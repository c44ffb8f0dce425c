-- The hubs a broker node held (connected, or with a session kept), saved
-- every minute and when it stops, so that after a restart it lets them back
-- in past its load guard: they are the hubs it carried, not new load
-- (broker.HeldHubs). hubs is the set as sorted 64-bit hashes of the hub ids,
-- 8 bytes each: 2.4 MB at 300,000 hubs, in one row per node.
CREATE TABLE held_hubs (
    node     TEXT PRIMARY KEY,
    saved_us INTEGER NOT NULL,
    hubs     BLOB NOT NULL
);
