-- Telling a work order's technician (dispatch/workorder, docs/operations.md
-- "Work orders"): each order keeps its own attempts and next try, so an
-- order that cannot be texted (no technician for its region, a number
-- Twilio refuses) no longer stays at the head of the queue for ever; and a
-- claim, so that of the gateways sharing one database exactly one texts it.
ALTER TABLE work_orders ADD COLUMN notice_state TEXT NOT NULL DEFAULT 'pending'; -- pending, parked, sent, failed
ALTER TABLE work_orders ADD COLUMN notice_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN notice_undelivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE work_orders ADD COLUMN notice_due_us BIGINT NOT NULL DEFAULT 0;      -- next try (pending) or recheck (parked)
ALTER TABLE work_orders ADD COLUMN notice_error TEXT NOT NULL DEFAULT '';
ALTER TABLE work_orders ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE work_orders ADD COLUMN claim_until_us BIGINT NOT NULL DEFAULT 0;
UPDATE work_orders SET notice_state = 'sent', notice_attempts = 1 WHERE notified_us <> 0;
DROP INDEX work_orders_unnotified;
CREATE INDEX work_orders_due ON work_orders (notice_due_us, opened_us) WHERE status = 'open' AND notice_state IN ('pending', 'parked');
