-- Maintenance work orders (dispatch/workorder, docs/operations.md "Work
-- orders"): one open order per hub and fault, enforced by the partial
-- unique index; a closed order stays as the resident's history.
CREATE TABLE work_orders (
    id            TEXT PRIMARY KEY,
    hub_id        TEXT NOT NULL,
    resident_id   TEXT NOT NULL DEFAULT '',
    fault         TEXT NOT NULL,
    region        TEXT NOT NULL DEFAULT '',   -- the resident's district at opening
    technician_id TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,              -- open, closed
    detections    INTEGER NOT NULL,
    last_incident TEXT NOT NULL DEFAULT '',
    opened_us     BIGINT NOT NULL,
    last_us       BIGINT NOT NULL,
    notified_us   BIGINT NOT NULL DEFAULT 0,  -- 0: the technician is not told yet
    notice_sid    TEXT NOT NULL DEFAULT '',
    closed_us     BIGINT NOT NULL DEFAULT 0,
    closed_by     TEXT NOT NULL DEFAULT '',
    replaced      TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX work_orders_open ON work_orders (hub_id, fault) WHERE status = 'open';
CREATE INDEX work_orders_resident ON work_orders (resident_id, opened_us);
CREATE INDEX work_orders_unnotified ON work_orders (opened_us) WHERE notified_us = 0 AND status = 'open';

-- Technicians: maintenance responders of a region (a 시도 or 시군구 code).
CREATE TABLE technicians (
    id     TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    phone  TEXT NOT NULL,
    region TEXT NOT NULL,
    lang   TEXT NOT NULL DEFAULT 'ko'
);
