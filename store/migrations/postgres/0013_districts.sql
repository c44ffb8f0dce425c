-- Regions (devices/region, docs/operations.md): every resident belongs to a
-- 시군구, kept as its 5-digit code (법정동코드). Rows from before stay empty
-- here; the gateway derives their district from the address at start, where
-- it can.
ALTER TABLE residents ADD COLUMN district_code TEXT NOT NULL DEFAULT '';
CREATE INDEX residents_district ON residents (district_code);
